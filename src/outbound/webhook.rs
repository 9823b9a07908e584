//! Webhook targets (`clientConfig.url` or `clientConfig.service`) and one JSON POST over HTTPS
//! with the `caBundle` as the only root, as upstream's webhook client does.

use crate::registry::store::Registry;
use crate::util::json::JsonExt;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Where to POST: the URL (for messages), the TLS server name, the address to dial, the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub server_name: String,
    pub addr: String,
    pub path: String,
}

fn host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `https://host[:port][/path]`.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("webhook URL {url:?} must be https"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once(']').unwrap_or((v6, ""));
            (h.to_string(), p.trim_start_matches(':').parse().unwrap_or(443))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| format!("bad port in {url:?}"))?),
            None => (authority.to_string(), 443),
        },
    };
    Ok(Target {
        url: url.to_string(),
        addr: host_port(&host, port),
        server_name: host,
        path: path.to_string(),
    })
}

/// A Service reference (`namespace`, `name`, `port` default 443, `path`) → its first ready
/// endpoint, from EndpointSlices, then the Endpoints object.
pub async fn resolve_service(reg: &Registry, svc: &Value) -> Result<Target, String> {
    let (ns, name) = (svc.str_at("/namespace"), svc.str_at("/name"));
    let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
    let path = svc.get("path").and_then(Value::as_str).unwrap_or("/").to_string();
    let server_name = format!("{name}.{ns}.svc");
    let url = format!("https://{server_name}:{port}{path}");
    let row = |group: &str, plural: &str| {
        crate::api::builtin_row(group, plural).ok_or_else(|| format!("no {plural} resource"))
    };
    let service = reg
        .get(row("", "services")?, Some(ns), name, None)
        .await
        .map_err(|_| format!("service \"{name}\" not found"))?;
    let port_name = service
        .value()
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .and_then(|ps| ps.iter().find(|p| p.get("port").and_then(Value::as_i64) == Some(port)))
        .map(|p| p.str_at("/name").to_string())
        .ok_or_else(|| format!("no service port {port} found for service \"{name}\""))?;
    let target = |ip: &str, p: i64| Target {
        url: url.clone(),
        server_name: server_name.clone(),
        addr: host_port(ip, p),
        path: path.clone(),
    };
    let slices = reg
        .list(
            row("discovery.k8s.io", "endpointslices")?,
            Some(ns),
            &Default::default(),
        )
        .await
        .map_err(|e| e.message)?;
    let slices: Vec<Value> = slices.items.iter().map(|o| o.value()).collect();
    if let Some((ip, p)) = super::endpoints::from_slices(slices.iter(), name, &port_name)
        .into_iter()
        .next()
    {
        return Ok(target(&ip, p.into()));
    }
    if let Ok(ep) = reg.get(row("", "endpoints")?, Some(ns), name, None).await {
        if let Some((_, ip, p)) = super::endpoints::from_endpoints(&ep.value(), &port_name)
            .into_iter()
            .next()
        {
            return Ok(target(&ip, p.into()));
        }
    }
    Err(format!("service \"{name}\" has no ready endpoints"))
}

/// The target of a webhook `clientConfig`.
pub async fn target(reg: &Registry, client_config: &Value) -> Result<Target, String> {
    match (
        client_config.get("url").and_then(Value::as_str),
        client_config.get("service"),
    ) {
        (Some(u), _) => parse_url(u),
        (None, Some(s)) => resolve_service(reg, s).await,
        (None, None) => Err("webhook has no url or service".into()),
    }
}

/// TLS trusting only the base64 `caBundle`.
pub fn tls_for_ca_bundle(ca_bundle: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(ca_bundle.trim())
        .map_err(|e| format!("invalid caBundle: {e}"))?;
    super::tls::client_config(super::tls::Trust::Roots(&pem), None)
        .map(Arc::new)
        .map_err(|e| format!("invalid caBundle: {e}"))
}

/// POST `body` (JSON) to `t` with `?timeout=`: the response status and body. Dial and TLS
/// errors read like Go's (`dial tcp <addr>: …`); the caller bounds the time.
pub async fn post_json(t: &Target, ca_bundle: &str, body: Vec<u8>, timeout: Duration) -> Result<(u16, Bytes), String> {
    let tls = tls_for_ca_bundle(ca_bundle)?;
    let path = format!("{}?timeout={}s", t.path, timeout.as_secs());
    let (status, _, bytes) = post(&t.addr, Some((&t.server_name, tls)), &path, &[], Bytes::from(body)).await?;
    Ok((status, bytes))
}

/// The largest response body read from a webhook.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// One HTTP/1.1 JSON POST to `addr` (over TLS verified as `server_name` when `tls` is given):
/// the status, headers and body. Errors read like Go's; the caller bounds the time.
pub async fn post(
    addr: &str,
    tls: Option<(&str, Arc<rustls::ClientConfig>)>,
    path: &str,
    headers: &[(http::HeaderName, String)],
    body: Bytes,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let host = tls
        .as_ref()
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| addr.to_string());
    let req = {
        let mut b = http::Request::post(path)
            .header(http::header::HOST, host.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json");
        for (k, v) in headers {
            b = b.header(k, v.as_str());
        }
        b.body(Full::new(body)).map_err(|e| e.to_string())?
    };
    exchange(addr, tls, req).await
}

/// Connect to `addr` (over TLS verified as `server_name` when `tls` is given) and make one
/// HTTP/1.1 exchange: the status, headers and body (at most [`MAX_RESPONSE_BYTES`]).
async fn exchange(
    addr: &str,
    tls: Option<(&str, Arc<rustls::ClientConfig>)>,
    req: http::Request<Full<Bytes>>,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| super::dial_error(addr, &e))?;
    match tls {
        Some((server_name, cfg)) => {
            let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
            let stream = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            send(hyper_util::rt::TokioIo::new(stream), req).await
        }
        None => send(hyper_util::rt::TokioIo::new(tcp), req).await,
    }
}

async fn send<I>(io: I, req: http::Request<Full<Bytes>>) -> Result<(u16, http::HeaderMap, Bytes), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, headers, bytes))
}

/// GET an `https://` URL trusting `tls` (OIDC discovery and JWKS): the status and body,
/// bounded by `timeout`; errors read like Go's (`Get "<url>": <cause>`).
pub async fn get(url: &str, tls: Arc<rustls::ClientConfig>, timeout: Duration) -> Result<(u16, Bytes), String> {
    get_with(url, tls, timeout, &[("accept", "application/json")]).await
}

/// A GET with these request headers (e.g. a bearer token) instead of `Accept: application/json`.
pub async fn get_with(
    url: &str,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    headers: &[(&str, &str)],
) -> Result<(u16, Bytes), String> {
    let t = parse_url(url)?;
    let fetch = async {
        let mut req = http::Request::get(t.path.as_str()).header(http::header::HOST, t.server_name.as_str());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
        let (status, _, body) = exchange(&t.addr, Some((&t.server_name, tls)), req).await?;
        Ok::<_, String>((status, body))
    };
    match tokio::time::timeout(timeout, fetch).await {
        Ok(r) => r.map_err(|e| format!("Get {url:?}: {e}")),
        Err(_) => Err(format!("Get {url:?}: context deadline exceeded")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls() {
        let t = parse_url("https://127.0.0.1:8443/mutate").expect("valid");
        assert_eq!(
            (t.addr.as_str(), t.path.as_str(), t.server_name.as_str()),
            ("127.0.0.1:8443", "/mutate", "127.0.0.1")
        );
        let t = parse_url("https://[::1]/x").expect("valid");
        assert_eq!((t.addr.as_str(), t.server_name.as_str()), ("[::1]:443", "::1"));
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("https://h:notaport/").is_err());
    }

    #[tokio::test]
    async fn service_references_resolve_to_an_endpoint() {
        use crate::storage::cache::{CacheOptions, CacheSet};
        use crate::storage::Storage;
        let dir = tempfile::tempdir().expect("tempdir");
        let storage: Arc<dyn Storage> =
            crate::storage::sqlite::SqliteStorage::open(&dir.path().join("db.sqlite")).expect("sqlite");
        let row = |p: &str| crate::api::builtin_row("", p).expect("row");
        let slices = crate::api::builtin_row("discovery.k8s.io", "endpointslices").expect("row");
        let segs = [row("services").storage, row("endpoints").storage, slices.storage];
        let caches = CacheSet::start(storage.clone(), "/registry/", &segs, CacheOptions::default())
            .await
            .expect("caches");
        let reg = crate::registry::store::Registry::new(storage, caches);
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "conv"},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 9443}]}});
        reg.create(row("services"), Some("t"), svc, false)
            .await
            .expect("service");
        let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "conv"},
            "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"name": "https", "port": 9443}]}]});
        reg.create(row("endpoints"), Some("t"), ep, false)
            .await
            .expect("endpoints");
        let t = resolve_service(&reg, &json!({"namespace": "t", "name": "conv", "path": "/c"}))
            .await
            .expect("resolved");
        assert_eq!(
            (t.addr.as_str(), t.server_name.as_str(), t.path.as_str()),
            ("10.1.2.3:9443", "conv.t.svc", "/c")
        );
        let missing = resolve_service(&reg, &json!({"namespace": "t", "name": "nope"})).await;
        assert_eq!(missing.err().as_deref(), Some("service \"nope\" not found"));
        let wrong_port = resolve_service(&reg, &json!({"namespace": "t", "name": "conv", "port": 8443})).await;
        assert_eq!(
            wrong_port.err().as_deref(),
            Some("no service port 8443 found for service \"conv\"")
        );
    }
}
