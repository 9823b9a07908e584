//! The API server as the door into the cluster: subresources that reach kubelets, pods and
//! services (`log`, `exec`, `attach`, `portforward`, `nodes|pods|services/proxy`) and the
//! scheduler/eviction writes that bypass the normal update path (`binding`, `eviction`).
//!
//! Upgraded connections (WebSocket, SPDY/3.1) are piped byte for byte to the kubelet, which
//! answers the same upgrade (upstream's UpgradeAwareHandler); frames are never parsed here.

pub mod binding;
pub mod ephemeral;
pub mod eviction;
pub mod forward;
pub mod kubelet;
pub mod logs;
pub mod rewrite;

use crate::config::ServeOptions;
use crate::error::{ApiError, ApiResult};
use crate::server::handler::RawRequest;
use crate::server::request::RequestInfo;
use crate::server::App;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::reply::Response;

/// Settings of the proxy paths, read once at start.
pub struct ProxyConfig {
    /// `--kubelet-preferred-address-types`.
    pub address_types: Vec<String>,
    /// `--kubelet-timeout`: dial and TLS handshake bound.
    pub timeout: Duration,
    /// `/api/v1/proxy/...` (removed upstream in 1.10) served again when true.
    pub legacy_paths: bool,
    /// Allow loopback/link-local targets for pods/services/nodes proxy (upstream refuses them).
    pub allow_loopback: bool,
    /// Toward kubelets: `--kubelet-client-certificate/key`, verified by `--kubelet-certificate-authority`.
    pub kubelet_tls: Arc<rustls::ClientConfig>,
    /// The same identity without verifying the kubelet (`insecureSkipTLSVerifyBackend=true` on logs).
    pub kubelet_insecure_tls: Arc<rustls::ClientConfig>,
    /// Toward pods and services: no client identity, no verification (as upstream).
    pub plain_tls: Arc<rustls::ClientConfig>,
}

impl ProxyConfig {
    pub fn from_options(opts: &ServeOptions) -> anyhow::Result<ProxyConfig> {
        let cert = opts.get_path("kubelet.client-certificate");
        let key = opts.get_path("kubelet.client-key");
        let ca = opts.get_path("kubelet.certificate-authority");
        let mut types = opts.get_list("kubelet.preferred-address-types");
        if types.is_empty() {
            types = DEFAULT_ADDRESS_TYPES.iter().map(|s| s.to_string()).collect();
        }
        let timeout = opts.get_duration("kubelet.timeout");
        Ok(ProxyConfig {
            address_types: types,
            timeout: if timeout.is_zero() {
                Duration::from_secs(5)
            } else {
                timeout
            },
            legacy_paths: opts.get_bool("proxy.legacy-paths"),
            allow_loopback: opts.get_bool("proxy.allow-loopback-targets"),
            kubelet_tls: Arc::new(kubelet::tls_config(cert.as_deref(), key.as_deref(), ca.as_deref())?),
            kubelet_insecure_tls: Arc::new(kubelet::tls_config(cert.as_deref(), key.as_deref(), None)?),
            plain_tls: Arc::new(kubelet::tls_config(None, None, None)?),
        })
    }
}

/// Upstream's default `--kubelet-preferred-address-types`.
pub const DEFAULT_ADDRESS_TYPES: &[&str] = &["Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"];

/// The client connection's pending upgrade, taken from hyper before warp sees the request.
#[derive(Clone, Default)]
pub struct Stash(Arc<Mutex<Option<hyper::upgrade::OnUpgrade>>>);

impl Stash {
    pub fn take(&self) -> Option<hyper::upgrade::OnUpgrade> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Hook for the connection loop: keep the upgrade future of `Connection: Upgrade` requests.
pub fn stash_upgrade<B>(req: &mut http::Request<B>) {
    let wants = req
        .headers()
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    if wants {
        let on = hyper::upgrade::on(&mut *req);
        req.extensions_mut().insert(Stash(Arc::new(Mutex::new(Some(on)))));
    }
}

/// What the dispatcher should do with a request.
pub enum Outcome {
    Done(ApiResult<Response>),
    /// Not ours: the body goes back to the generic path.
    Pass(ApiResult<Bytes>),
}

/// Subresources answered here, by (resource, subresource).
pub async fn serve(app: &Arc<App>, req: &RawRequest, info: &RequestInfo, body: ApiResult<Bytes>) -> Outcome {
    let Some(cfg) = app.proxy.as_ref() else {
        return Outcome::Pass(body);
    };
    let group_ok = info.group.is_empty() && info.version == "v1";
    let name = info.name.as_deref().unwrap_or("");
    let ns = info.namespace.as_deref();
    if info.verb == "proxy" {
        // `/api/v1/proxy/...` (verb `proxy` in upstream's RequestInfo): removed upstream.
        if !cfg.legacy_paths || !group_ok {
            return Outcome::Done(Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )));
        }
        return Outcome::Done(forward::legacy(app, cfg, req, body).await);
    }
    if let Some(e) = crate::admission::connect::admit_connect_request(app, req, info).await {
        return Outcome::Done(Err(e)); // CONNECT admission (pods/exec|attach|portforward|proxy…)
    }
    let r = match (info.resource.as_str(), info.subresource.as_deref()) {
        ("pods", Some("binding")) | ("bindings", None) if group_ok && info.verb == "create" => {
            binding::create(app, req, info, body).await
        }
        ("pods", Some("eviction")) if group_ok && info.verb == "create" => eviction::create(app, req, info, body).await,
        ("pods", Some("ephemeralcontainers"))
            if group_ok && matches!(info.verb.as_str(), "get" | "update" | "patch") =>
        {
            ephemeral::serve(app, req, info, body).await
        }
        ("pods", Some("log")) if group_ok => logs::serve(app, cfg, info, &req.query).await,
        ("pods", Some("exec" | "attach" | "portforward")) if group_ok => {
            forward::kubelet_stream(app, cfg, req, info, ns.unwrap_or(""), name).await
        }
        ("pods" | "services" | "nodes", Some("proxy")) if group_ok => forward::proxy(app, cfg, req, info, body).await,
        _ => return Outcome::Pass(body),
    };
    Outcome::Done(r)
}

/// Whether the request is proxied (pods/services/nodes proxy, the legacy proxy paths, an
/// APIService's backend), so its body is streamed to the target rather than read up front.
pub fn streams_body(app: &App, info: &RequestInfo) -> bool {
    if !info.is_resource {
        return false;
    }
    if info.group.is_empty() && info.version == "v1" {
        let Some(cfg) = app.proxy.as_ref() else {
            return false;
        };
        return (matches!(info.resource.as_str(), "pods" | "services" | "nodes")
            && info.subresource.as_deref() == Some("proxy"))
            || (info.verb == "proxy" && cfg.legacy_paths);
    }
    app.aggregator
        .as_ref()
        .is_some_and(|a| a.remote(&info.group, &info.version).is_some())
}

/// The router's body as a [`BodyStream`](crate::server::handler::BodyStream).
pub fn body_stream<S, B>(body: S) -> crate::server::handler::BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: bytes::Buf,
{
    use futures_util::StreamExt;
    Box::pin(body.map(|r| match r {
        Ok(mut b) => Ok(b.copy_to_bytes(b.remaining())),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }))
}

/// A Kubernetes error for a body that could not be read.
pub(crate) fn need_body(body: ApiResult<Bytes>) -> ApiResult<Bytes> {
    body.map_err(|e| ApiError::bad_request(e.message))
}
