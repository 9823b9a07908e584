//! rustls server configuration (ring provider) and client-certificate identity extraction.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// All certificates of a PEM file, in order.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("no certificate found in {}", path.display()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .with_context(|| format!("reading private key from {}", path.display()))?
        .ok_or_else(|| anyhow!("no private key found in {}", path.display()))
}

/// rustls `ServerConfig` for the secure port: the serving chain and key from PEM files, TLS 1.2+,
/// ALPN `h2` then `http/1.1`. Client certificates are requested but optional; when `client_ca` is
/// given, presented certificates must chain to one of its CAs (and carry clientAuth). Without a
/// client CA, client certificates are not requested.
pub fn server_tls_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = load_certs(cert)?;
    let private_key = load_private_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("selecting TLS protocol versions")?;
    let builder = match client_ca {
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for ca in load_certs(ca_path)? {
                roots
                    .add(ca)
                    .with_context(|| format!("adding client CA from {}", ca_path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .with_context(|| format!("building client certificate verifier for {}", ca_path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, private_key).with_context(|| {
        format!(
            "serving certificate {} does not match private key {}",
            cert.display(),
            key.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// User name (subject CN) and groups (subject O values, in order) from a DER client certificate,
/// as the kube-apiserver x509 authenticator maps them (`CommonNameUserConversion`). Like Go's
/// `pkix.Name`, the last CN wins. Returns `None` if the certificate does not parse or has an
/// empty common name.
pub fn identity_from_der(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .filter_map(|attr| attr.as_str().ok())
        .last()?
        .to_string();
    if user.is_empty() {
        return None;
    }
    let groups = subject
        .iter_organization()
        .filter_map(|attr| attr.as_str().ok())
        .map(str::to_string)
        .collect();
    Some((user, groups))
}
