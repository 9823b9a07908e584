//! rustls client configurations (ring provider only).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// How the server's certificate is checked.
pub enum Trust<'a> {
    /// Against these PEM roots (an empty slice trusts nothing).
    Roots(&'a [u8]),
    /// Not at all: kubelets without `--kubelet-certificate-authority`, pod/service proxy
    /// targets, `insecureSkipTLSVerify` APIServices — where upstream skips verification too.
    SkipVerify,
}

/// A client configuration with `trust` and, when given, a client certificate `(cert PEM, key
/// PEM)`. Errors name the part that is wrong; callers add which flag or object it came from.
pub fn client_config(trust: Trust<'_>, identity: Option<(&[u8], &[u8])>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match trust {
        Trust::Roots(mut pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut pem) {
                let c = c.map_err(|e| format!("bad CA certificate: {e}"))?;
                roots.add(c).map_err(|e| format!("bad CA certificate: {e}"))?;
            }
            builder.with_root_certificates(roots)
        }
        Trust::SkipVerify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider))),
    };
    match identity {
        Some((mut cert, mut key)) => {
            let chain = rustls_pemfile::certs(&mut cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("client certificate: {e}"))?;
            let key = rustls_pemfile::private_key(&mut key)
                .map_err(|e| format!("client key: {e}"))?
                .ok_or_else(|| "client key: no private key found".to_string())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Accepts any server certificate, still checking the handshake signatures.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_name_the_part() {
        let junk = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        assert!(client_config(Trust::Roots(junk), None)
            .unwrap_err()
            .starts_with("bad CA certificate: "));
        assert_eq!(
            client_config(Trust::SkipVerify, Some((b"", b""))).unwrap_err(),
            "client key: no private key found"
        );
        assert!(client_config(Trust::Roots(b""), None).is_ok());
    }
}
