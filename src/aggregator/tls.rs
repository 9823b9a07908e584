//! Client TLS toward extension API servers.

use crate::outbound::tls::{client_config as build, Trust};

/// Verified with `ca` unless `insecure`, presenting the proxy client identity when configured.
/// HTTP/1.1 only: upgrades (exec through an aggregated API, watch streams) need it.
pub fn client_config(
    ca: Option<&[u8]>,
    insecure: bool,
    identity: Option<&(Vec<u8>, Vec<u8>)>,
    what: &str,
) -> anyhow::Result<rustls::ClientConfig> {
    let trust = if insecure {
        Trust::SkipVerify
    } else {
        Trust::Roots(ca.unwrap_or_default())
    };
    let identity = identity.map(|(c, k)| (c.as_slice(), k.as_slice()));
    let mut cfg = build(trust, identity).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
