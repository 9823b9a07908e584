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
