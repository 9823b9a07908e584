//! Outbound connections: to kubelets (HTTPS with the `--kubelet-client-*` identity) and to
//! pods/service endpoints (plain HTTP, or HTTPS without verification, as upstream's proxy
//! transport). One HTTP/1.1 connection per request, with upgrades for exec/attach/portforward.

use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use rustls::pki_types::ServerName;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where a proxied request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Location {
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Build the client TLS config toward kubelets (or, with no files, the anonymous
/// no-verify config used toward pods and services). HTTP/1.1 only: upgrades need it.
pub fn tls_config(cert: Option<&Path>, key: Option<&Path>, ca: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    use crate::outbound::tls::{client_config, Trust};
    let ca_pem = ca.map(read_pem).transpose()?;
    let trust = match &ca_pem {
        Some(pem) => Trust::Roots(pem),
        None => Trust::SkipVerify,
    };
    let identity = match (cert, key) {
        (Some(c), Some(k)) => Some((read_pem(c)?, read_pem(k)?)),
        (None, None) => None,
        _ => anyhow::bail!("--kubelet-client-certificate and --kubelet-client-key must be given together"),
    };
    let mut cfg = client_config(trust, identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())))
        .map_err(|e| anyhow::anyhow!("kubelet client TLS: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A connected byte stream (TCP or TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn unavailable(msg: String) -> ApiError {
    // Upstream's proxy answers dial failures with 503 ServiceUnavailable... via a Status 500
    // from the error responder: "error trying to reach service: <err>".
    ApiError::new(
        503,
        "ServiceUnavailable",
        format!("error trying to reach service: {msg}"),
    )
}

/// Open a connection to `loc` (TLS when its scheme is https) within `timeout`.
pub async fn connect(loc: &Location, tls: &Arc<rustls::ClientConfig>, timeout: Duration) -> ApiResult<Box<dyn Io>> {
    let addr = loc.authority();
    let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| unavailable(format!("dial tcp {addr}: i/o timeout")))?
        .map_err(|e| unavailable(format!("dial tcp {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    if loc.scheme != "https" {
        return Ok(Box::new(tcp));
    }
    let name = ServerName::try_from(loc.host.clone()).map_err(|e| unavailable(format!("{e}")))?;
    let tls = tokio_rustls::TlsConnector::from(tls.clone());
    let stream = tokio::time::timeout(timeout, tls.connect(name, tcp))
        .await
        .map_err(|_| unavailable(format!("TLS handshake with {addr}: timeout")))?
        .map_err(|e| unavailable(format!("tls: {e}")))?;
    Ok(Box::new(stream))
}

/// Send one request over a fresh connection; the connection task supports upgrades.
pub async fn send<B>(io: Box<dyn Io>, req: http::Request<B>) -> ApiResult<http::Response<hyper::body::Incoming>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    crate::outbound::send_http1(io, req, "proxied connection")
        .await
        .map_err(unavailable)
}

/// The node's address for kubelet connections: the first address of the first preferred type
/// (a Hostname preference also takes the `kubernetes.io/hostname` label), as upstream's
/// `GetPreferredNodeAddress`.
pub fn node_address(node: &Value, preferred: &[String]) -> ApiResult<String> {
    let addrs: Vec<(&str, &str)> = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((x.get("type")?.as_str()?, x.get("address")?.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    for t in preferred {
        if let Some((_, a)) = addrs.iter().find(|(ty, _)| ty == t) {
            return Ok(a.to_string());
        }
        if t == "Hostname" {
            if let Some(h) = node.opt_str_at("/metadata/labels/kubernetes.io~1hostname") {
                return Ok(h.to_string());
            }
        }
    }
    let known: Vec<String> = addrs.iter().map(|(t, a)| format!("{{{t} {a}}}")).collect();
    Err(ApiError::new(
        404,
        "NotFound",
        format!("no preferred addresses found; known addresses: [{}]", known.join(" ")),
    ))
}

/// The kubelet's port: `status.daemonEndpoints.kubeletEndpoint.Port`, else `default`
/// (`--kubelet-port`, 10250), as upstream's `GetConnectionInfo`.
pub fn kubelet_port(node: &Value, default: u16) -> u16 {
    node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0 && *p <= 65535)
        .map(|p| p as u16)
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_the_preferred_address_like_upstream() {
        let node = json!({"metadata": {"labels": {}}, "status": {"addresses": [
            {"type": "ExternalIP", "address": "1.2.3.4"},
            {"type": "InternalIP", "address": "10.0.0.1"}
        ], "daemonEndpoints": {"kubeletEndpoint": {"Port": 12345}}}});
        let order: Vec<String> = ["Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(node_address(&node, &order).ok().as_deref(), Some("10.0.0.1"));
        assert_eq!(kubelet_port(&node, 10250), 12345);
        let labelled = json!({"metadata": {"labels": {"kubernetes.io/hostname": "n1"}}, "status": {}});
        assert_eq!(node_address(&labelled, &order).ok().as_deref(), Some("n1"));
        assert_eq!(kubelet_port(&labelled, 10250), 10250);
        assert_eq!(
            kubelet_port(&labelled, 11250),
            11250,
            "--kubelet-port when the node reports none"
        );
        let e = node_address(&node, &["Hostname".to_string()]).err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("no preferred addresses found; known addresses: [{ExternalIP 1.2.3.4} {InternalIP 10.0.0.1}]")
        );
    }
}
