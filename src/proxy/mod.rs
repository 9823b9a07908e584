//! The API server as the door into the cluster: the subresources that reach kubelets, pods and
//! services — `Served::Connect` rows (`log`, `exec`, `attach`, `portforward`) and
//! `Served::Proxy` rows (`nodes|pods|services/proxy`).
//!
//! Upgraded connections are piped byte for byte to the target, which answers the same upgrade
//! (upstream's UpgradeAwareHandler) — except the WebSocket forms a kubelet does not serve:
//! `v5.channel.k8s.io` exec/attach, translated to SPDY/3.1 (`translate`), and port-forward's
//! `SPDY/3.1+portforward.k8s.io` tunnel, unwrapped onto a SPDY upgrade (`tunnel`).

pub mod forward;
pub mod kubelet;
pub mod logs;
pub mod rewrite;
pub mod spdy;
pub mod translate;
pub mod tunnel;
pub mod websocket;

use crate::config::ServeOptions;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::request::Request;
use std::sync::Arc;
use std::time::Duration;
use warp::reply::Response;

/// Settings of the proxy paths, read once at start.
pub struct ProxyConfig {
    /// `--kubelet-preferred-address-types`.
    pub address_types: Vec<String>,
    /// `--kubelet-port`: the kubelet's port when a Node's status reports none.
    pub kubelet_port: u16,
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
    /// Counts of translated exec/attach and tunnelled port-forward requests (`/metrics`).
    pub streams: Arc<crate::metrics::StreamCounters>,
}

impl ProxyConfig {
    pub fn from_options(
        opts: &ServeOptions,
        streams: Arc<crate::metrics::StreamCounters>,
    ) -> anyhow::Result<ProxyConfig> {
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
            kubelet_port: opts
                .get("kubelet.port")
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .unwrap_or(10250),
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
            streams,
        })
    }
}

/// Upstream's default `--kubelet-preferred-address-types`.
pub const DEFAULT_ADDRESS_TYPES: &[&str] = &["Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"];

/// The CONNECT admission every connect and proxy request passes (upstream admits the
/// `*Options` object built from the query).
pub struct Admit<'a> {
    pub chain: &'a crate::admission::AdmissionChain,
    pub authorizer: &'a Arc<crate::auth::authz::Authorizer>,
}

/// `Served::Connect`: `pods/log`, and `pods/exec|attach|portforward` streamed to the kubelet.
pub async fn connect(cfg: &ProxyConfig, reg: &Registry, admit: Admit<'_>, req: &Request) -> ApiResult<Response> {
    if let Some(e) = crate::admission::connect::admit_connect_request(admit.chain, reg, admit.authorizer, req).await {
        return Err(e);
    }
    match req.info.subresource.as_deref() {
        Some("log") => logs::serve(reg, cfg, req).await,
        _ => forward::kubelet_stream(reg, cfg, req).await,
    }
}

/// `Served::Proxy`: `nodes|pods|services/proxy`, the body streamed to the target.
pub async fn proxy(cfg: &ProxyConfig, reg: &Registry, admit: Admit<'_>, req: &Request) -> ApiResult<Response> {
    if let Some(e) = crate::admission::connect::admit_connect_request(admit.chain, reg, admit.authorizer, req).await {
        return Err(e);
    }
    forward::proxy(reg, cfg, req).await
}

/// `/api/v1/proxy/...` (verb `proxy` in upstream's RequestInfo): removed upstream in 1.10,
/// served again with `--proxy-legacy-paths`.
pub async fn legacy(cfg: &ProxyConfig, reg: &Registry, req: &Request) -> ApiResult<Response> {
    if !(cfg.legacy_paths && req.info.group.is_empty() && req.info.version == "v1") {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    forward::legacy(reg, cfg, req).await
}
