//! Health probes of other control-plane components, as upstream's HTTP prober
//! (`pkg/probe/http`): an HTTPS GET that does not verify the server's certificate; a 2xx answer
//! is success with its body (at most 10 KiB), a 3xx a warning, anything else a failure naming
//! the status; a transport error is a failure carrying Go's text (`Get "<url>": dial tcp …`).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::sync::Arc;
use std::time::Duration;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success(String),
    Warning(String),
    Failure(String),
}

/// Upstream's `maxRespBodyLength`.
const MAX_BODY: usize = 10 << 10;

/// GET `https://<host>:<port><path>` within `timeout`.
pub async fn https_get(host: &str, port: u16, path: &str, timeout: Duration) -> Outcome {
    let url = format!("https://{host}:{port}{path}");
    match tokio::time::timeout(timeout, get(host, port, path)).await {
        Ok(Ok((status, body))) => classify(status, body),
        Ok(Err(e)) => Outcome::Failure(format!("Get {}: {e}", crate::util::go_quote(&url))),
        Err(_) => Outcome::Failure(format!(
            "Get {}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            crate::util::go_quote(&url)
        )),
    }
}

fn classify(status: u16, body: Bytes) -> Outcome {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_BODY)]).into_owned();
    match status {
        200..=299 => Outcome::Success(text),
        300..=399 => Outcome::Warning(format!("Probe terminated redirects, Response body: {text}")),
        _ => Outcome::Failure(format!("HTTP probe failed with statuscode: {status}")),
    }
}

async fn get(host: &str, port: u16, path: &str) -> Result<(u16, Bytes), String> {
    let addr = format!("{host}:{port}");
    let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => e.to_string(),
        };
        format!("dial tcp {addr}: connect: {why}")
    })?;
    let tls = super::tls::client_config(super::tls::Trust::SkipVerify, None)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("remote error: tls: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, &addr)
        .header(http::header::USER_AGENT, "kube-probe/1.33")
        .header(http::header::ACCEPT, "*/*")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    // Read at most the limit (a probe target is no reason to buffer without bound).
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while out.len() < MAX_BODY {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    out.extend_from_slice(d);
                }
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    Ok((status, Bytes::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_fails_with_gos_text() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        assert_eq!(
            https_get("127.0.0.1", port, "/healthz", Duration::from_secs(5)).await,
            Outcome::Failure(format!(
                "Get \"https://127.0.0.1:{port}/healthz\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }

    #[test]
    fn statuses_classify_as_upstream() {
        assert_eq!(classify(200, Bytes::from("ok")), Outcome::Success("ok".into()));
        assert_eq!(
            classify(500, Bytes::from("boom")),
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
        assert_eq!(
            classify(302, Bytes::from("x")),
            Outcome::Warning("Probe terminated redirects, Response body: x".into())
        );
    }
}
