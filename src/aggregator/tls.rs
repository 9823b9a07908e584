//! Client TLS toward extension API servers.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// `insecureSkipTLSVerify` (and the availability probe, which upstream also runs unverified).
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub fn client_config(
    ca: Option<&[u8]>,
    insecure: bool,
    identity: Option<&(Vec<u8>, Vec<u8>)>,
    what: &str,
) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.unwrap_or_default()) {
            let c = c.map_err(|e| anyhow::anyhow!("{what}: bad caBundle: {e}"))?;
            roots
                .add(c)
                .map_err(|e| anyhow::anyhow!("{what}: bad caBundle certificate: {e}"))?;
        }
        builder.with_root_certificates(roots)
    };
    let mut cfg = match identity {
        Some((cert, key)) => {
            let chain = rustls_pemfile::certs(&mut cert.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("--proxy-client-cert-file: {e}"))?;
            let key = rustls_pemfile::private_key(&mut key.as_slice())
                .map_err(|e| anyhow::anyhow!("--proxy-client-key-file: {e}"))?
                .ok_or_else(|| anyhow::anyhow!("--proxy-client-key-file: no private key found"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| anyhow::anyhow!("--proxy-client-cert-file/--proxy-client-key-file: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    // HTTP/1.1 only: upgrades (exec through an aggregated API, watch streams) need it.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
