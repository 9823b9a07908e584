//! Calls the API server makes to other servers: admission and conversion webhooks, kubelets,
//! extension API servers, the audit, token-authentication and authorization webhooks, health
//! probes of the control plane. One TLS client builder and one webhook client, so every caller
//! verifies certificates, resolves Services and reports errors the same way.

pub mod endpoints;
pub mod kubeconfig;
pub mod probe;
pub mod tls;
pub mod webhook;

/// A Go-like rendering of a dial error (`dial tcp 10.0.0.1:443: connect: connection refused`).
pub fn dial_error(addr: &str, e: &std::io::Error) -> String {
    let what = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => format!("connect: {}", crate::util::go_io_error(e)),
    };
    format!("dial tcp {addr}: {what}")
}

/// Sends `req` over `io` as HTTP/1.1 (upgrades allowed: the connection runs on its own task
/// until it ends, logged at debug as `<what> ended with error`) and answers the response head;
/// the error is the hyper error's text.
pub async fn send_http1<T, B>(
    io: T,
    req: http::Request<B>,
    what: &'static str,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "{what} ended with error");
        }
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}
