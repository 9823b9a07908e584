//! Proxying a request for a service-backed APIService to its extension API server
//! (upstream's `proxyHandler`): resolve the backend, open TLS with the proxy client
//! certificate, pass the authenticated user in `X-Remote-*` headers, stream the answer back.

use super::{Aggregator, ApiService, ServiceRef};
use crate::error::ApiError;
use crate::outbound::send_http1;
use crate::registry::Registry;
use crate::request::Request;
use crate::util::json::JsonExt;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use warp::reply::Response;
use warp::Reply;

/// Dial and TLS handshake bound (upstream's proxy dialer uses 30s; the probe 5s).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Hop-by-hop headers, the client's credentials and any user headers it tried to send
/// (upstream's authentication filter drops Authorization, the round tripper replaces X-Remote-*).
fn dropped_request_header(name: &str, upgrade: bool) -> bool {
    matches!(
        name,
        "authorization"
            | "proxy-authorization"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "host"
            | "content-length"
    ) || name.starts_with("impersonate-")
        || name.starts_with("x-remote-")
        || (!upgrade && (name == "connection" || name == "upgrade"))
}

/// Upstream's `http.Error`: a plain-text body with a newline.
pub fn plain_error(code: u16, text: &str) -> Response {
    let mut r =
        crate::codec::encode::bytes_response(code, "text/plain; charset=utf-8", Bytes::from(format!("{text}\n")));
    r.headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// client-go's `headerKeyEscape`: bytes that are not legal in a header name (and `%`) become `%XX`.
pub fn header_key_escape(key: &str) -> String {
    let legal = |b: u8| b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b);
    key.bytes()
        .map(|b| {
            if legal(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `X-Remote-*` headers for a user (client-go's `SetAuthProxyHeaders`; the uid header
/// is behind the alpha RemoteRequestHeaderUID gate upstream, off in 1.33).
pub fn set_user_headers(h: &mut HeaderMap, user: &str, groups: &[String], extra: &[(String, Vec<String>)]) {
    if let Ok(v) = HeaderValue::from_str(user) {
        h.insert("X-Remote-User", v);
    }
    for g in groups {
        if let Ok(v) = HeaderValue::from_str(g) {
            h.append("X-Remote-Group", v);
        }
    }
    for (k, vs) in extra {
        let Ok(name) = http::HeaderName::from_bytes(format!("X-Remote-Extra-{}", header_key_escape(k)).as_bytes())
        else {
            continue;
        };
        for v in vs {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(name.clone(), v);
            }
        }
    }
}

async fn get(reg: &Registry, plural: &str, ns: &str, name: &str) -> Result<Value, ApiError> {
    let def = crate::api::builtin_row("", plural).ok_or_else(|| ApiError::internal(format!("no {plural} resource")))?;
    Ok(reg.get(def, Some(ns), name, Some(0)).await?.value())
}

/// The service's port entry whose `port` is the APIService's port.
fn service_port(svc: &Value, port: u16) -> Option<&Value> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)?
        .iter()
        .find(|p| p.get("port").and_then(Value::as_u64) == Some(port as u64))
}

/// Ready `(ip, port)` pairs of the service port named `port_name`: EndpointSlices
/// (`kubernetes.io/service-name`), else the Endpoints object.
pub async fn ready_endpoints(reg: &Registry, ns: &str, name: &str, port_name: &str) -> Vec<(String, u16)> {
    use crate::outbound::endpoints::{from_endpoints, from_slices};
    let mut out = Vec::new();
    if let Some(def) = crate::api::builtin_row("discovery.k8s.io", "endpointslices") {
        let prefix = reg.key_prefix(def, Some(ns));
        let snap = reg.caches.cache(def.storage).snapshot(&prefix);
        let slices: Vec<Value> = snap.items.iter().map(|o| o.value()).collect();
        out = from_slices(slices.iter(), name, port_name);
    }
    if out.is_empty() {
        if let Ok(eps) = get(reg, "endpoints", ns, name).await {
            out = from_endpoints(&eps, port_name)
                .into_iter()
                .map(|(_, ip, p)| (ip, p))
                .collect();
        }
    }
    out
}

/// Where the backend is: the ClusterIP and service port (upstream's `ResolveCluster`), or with
/// `--enable-aggregator-routing` a random ready endpoint (`ResolveEndpoint`).
pub async fn resolve(reg: &Registry, routing: bool, r: &ServiceRef) -> Result<(String, u16), String> {
    let svc = get(reg, "services", &r.namespace, &r.name)
        .await
        .map_err(|e| e.message)?;
    let ty = match svc.str_at("/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let no_port = || format!("no service port {} found for service \"{}\"", r.port, r.name);
    if routing {
        if !matches!(ty, "ClusterIP" | "NodePort" | "LoadBalancer") {
            return Err(format!("unsupported service type \"{ty}\""));
        }
        let port = service_port(&svc, r.port).ok_or_else(no_port)?;
        let port_name = port.str_of("name");
        let eps = ready_endpoints(reg, &r.namespace, &r.name, port_name).await;
        if eps.is_empty() {
            return Err(format!("no endpoints available for service \"{}\"", r.name));
        }
        let i = rand::random::<u32>() as usize % eps.len();
        return Ok(eps[i].clone());
    }
    match ty {
        "ExternalName" => Ok((svc.str_at("/spec/externalName").to_string(), r.port)),
        "ClusterIP" | "NodePort" | "LoadBalancer" => {
            let ip = svc.str_at("/spec/clusterIP");
            if ip == "None" {
                return Err("cannot route to service with ClusterIP \"None\"".into());
            }
            service_port(&svc, r.port).ok_or_else(no_port)?;
            Ok((ip.to_string(), r.port))
        }
        t => Err(format!("unsupported service type \"{t}\"")),
    }
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Open TCP + TLS to `host:port`, verifying the server as `<service>.<namespace>.svc`.
pub async fn connect(
    host: &str,
    port: u16,
    server_name: &str,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Box<dyn crate::proxy::kubelet::Io>, String> {
    let addr = join_host_port(host, port);
    let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("dial tcp {addr}: i/o timeout"))?
        .map_err(|e| crate::outbound::dial_error(&addr, &e))?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
    let stream = tokio::time::timeout(timeout, tokio_rustls::TlsConnector::from(tls).connect(name, tcp))
        .await
        .map_err(|_| "net/http: TLS handshake timeout".to_string())?
        .map_err(|e| format!("tls: {e}"))?;
    Ok(Box::new(stream))
}

/// Proxy `req` to the backend of `svc` and answer with its response.
pub async fn serve(reg: &Registry, agg: &Aggregator, req: &Request, svc: &ApiService) -> Response {
    let Some(sref) = svc.service.as_ref() else {
        return plain_error(404, "");
    };
    if !svc.available {
        return plain_error(503, "service unavailable");
    }
    let Some(user) = req.user.as_ref() else {
        return plain_error(500, "missing user");
    };
    let tls = match agg.client_config(svc.ca_bundle.as_deref(), svc.insecure, &svc.name) {
        Ok(c) => Arc::new(c),
        Err(e) => return plain_error(500, &e.to_string()),
    };
    let (host, port) = match resolve(reg, agg.routing, sref).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(apiservice = %svc.name, error = %e, "cannot resolve the aggregated API's service");
            return plain_error(503, "service unavailable");
        }
    };
    let upgrade = crate::proxy::forward::is_upgrade(&req.headers);
    let pq = req.uri();
    // The client's body streams through unbuffered.
    let body = match crate::proxy::forward::outbound_body(req).await {
        Ok(b) => b,
        Err(e) => return plain_error(400, &format!("error reading request body: {e}")),
    };
    let mut headers = HeaderMap::new();
    crate::proxy::forward::keep_content_length(&body, &req.headers, &mut headers);
    let mut out = match http::Request::builder().method(req.method.clone()).uri(pq).body(body) {
        Ok(r) => r,
        Err(e) => return plain_error(400, &e.to_string()),
    };
    let h = out.headers_mut();
    *h = headers;
    for (k, v) in req.headers.iter() {
        if !dropped_request_header(k.as_str(), upgrade) {
            h.append(k.clone(), v.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&join_host_port(&host, port)) {
        h.insert(http::header::HOST, v);
    }
    if let Some(Ok(v)) = req.remote.map(|r| HeaderValue::from_str(&r.ip().to_string())) {
        h.append("x-forwarded-for", v);
    }
    // Keys of our own (connection facts such as the front-proxy CN) never leave the server.
    let extra: Vec<(String, Vec<String>)> = user
        .extra
        .iter()
        .filter(|(k, _)| !k.starts_with("capstan.internal/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    set_user_headers(h, &user.name, &user.groups, &extra);
    let server_name = format!("{}.{}.svc", sref.name, sref.namespace);
    let io = match connect(&host, port, &server_name, tls, DIAL_TIMEOUT).await {
        Ok(io) => io,
        Err(e) => return plain_error(503, &e),
    };
    let mut resp = match send_http1(io, out, "aggregated API connection").await {
        Ok(r) => r,
        Err(e) => return plain_error(503, &e),
    };
    if upgrade && resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        let Some(client) = req.upgrade.as_ref().and_then(|s| s.take()) else {
            return plain_error(500, "connection cannot be upgraded");
        };
        let mut r = warp::reply::with_status(warp::reply(), http::StatusCode::SWITCHING_PROTOCOLS).into_response();
        *r.headers_mut() = resp.headers().clone();
        let backend = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (Ok(c), Ok(b)) = (client.await, backend.await) else {
                return;
            };
            let (mut c, mut b) = (TokioIo::new(c), TokioIo::new(b));
            let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
        });
        return r;
    }
    let status = resp.status();
    if agg.reject_redirects && status.is_redirection() && resp.headers().contains_key(http::header::LOCATION) {
        // Upstream's UpgradeAwareHandler with RejectForwardingRedirects.
        return plain_error(
            502,
            "the backend attempted to redirect this request, which is not permitted",
        );
    }
    let headers = resp.headers().clone();
    let mut r = crate::proxy::forward::stream_body(resp.into_body()).into_response();
    *r.status_mut() = status;
    let rh = r.headers_mut();
    rh.clear();
    for (k, v) in headers.iter() {
        if !crate::proxy::forward::DROP_RESPONSE.contains(&k.as_str()) {
            rh.append(k.clone(), v.clone());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_headers_like_client_go() {
        let mut h = HeaderMap::new();
        set_user_headers(
            &mut h,
            "alice",
            &["system:masters".into(), "dev".into()],
            &[("scopes.example.com/a b".into(), vec!["x".into(), "y".into()])],
        );
        assert_eq!(h.get("x-remote-user").and_then(|v| v.to_str().ok()), Some("alice"));
        let groups: Vec<&str> = h
            .get_all("x-remote-group")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(groups, ["system:masters", "dev"]);
        let extra: Vec<&str> = h
            .get_all("x-remote-extra-scopes.example.com%2Fa%20b")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(extra, ["x", "y"]);
        assert!(dropped_request_header("authorization", false));
        assert!(dropped_request_header("x-remote-user", false));
        assert!(!dropped_request_header("upgrade", true));
        assert_eq!(join_host_port("::1", 443), "[::1]:443");
    }
}
