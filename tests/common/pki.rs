//! The PKI fixture: certificate authorities and the certificates they sign (rcgen, ECDSA P-256),
//! as PEM strings or files, and TLS acceptors for the stand-in servers (webhooks, kubelet,
//! extension API servers). No openssl needed.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a leaf certificate is for (its extended key usage).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Usage {
    Server,
    Client,
}

/// A certificate and its private key.
pub struct Cert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Cert {
    fn new(cert: rcgen::Certificate, key: &KeyPair) -> Cert {
        Cert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A self-signed certificate for `cn` with DNS (or IP) names `sans`.
    pub fn self_signed(cn: &str, sans: &[&str]) -> Cert {
        let key = KeyPair::generate().expect("key");
        let mut p = params(sans);
        p.distinguished_name = dn(cn);
        Cert::new(p.self_signed(&key).expect("self-sign"), &key)
    }

    /// Write `<stem>.crt` and `<stem>.key` into `dir`; returns (cert, key) paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        (
            write(dir, &format!("{stem}.crt"), &self.cert_pem),
            write(dir, &format!("{stem}.key"), &self.key_pem),
        )
    }

    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key_der.clone()).expect("private key")
    }
}

/// A certificate authority.
pub struct Ca {
    /// The CA certificate (trust it as a caBundle or CA file).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA with common name `cn`.
    pub fn new(cn: &str) -> Ca {
        let key = KeyPair::generate().expect("ca key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name = dn(cn);
        let cert = p.self_signed(&key).expect("self-sign ca");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// An existing CA from its certificate and key (PEM), e.g. a test server's generated one.
    pub fn load(cert_pem: &str, key_pem: &str) -> Ca {
        let key = KeyPair::from_pem(key_pem).expect("ca key pem");
        Ca {
            pem: cert_pem.to_string(),
            issuer: Issuer::from_ca_cert_pem(cert_pem, key).expect("ca certificate pem"),
        }
    }

    /// A client certificate for user `cn` in `groups` (the Organization values).
    pub fn client_cert_in(&self, cn: &str, groups: &[&str]) -> Cert {
        let key = KeyPair::generate().expect("key");
        let mut p = params(&[]);
        p.distinguished_name = dn(cn);
        for g in groups {
            p.distinguished_name.push(DnType::OrganizationName, *g);
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        Cert::new(p.signed_by(&key, &self.issuer).expect("sign"), &key)
    }

    /// A certificate signed by this CA. `cn`: its common name (none: rcgen's default subject);
    /// `sans`: DNS names or IP addresses.
    pub fn issue(&self, cn: Option<&str>, sans: &[&str], usage: Usage) -> Cert {
        let key = KeyPair::generate().expect("key");
        let mut p = params(sans);
        if let Some(cn) = cn {
            p.distinguished_name = dn(cn);
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        Cert::new(p.signed_by(&key, &self.issuer).expect("sign"), &key)
    }

    /// A serving certificate for `sans` (DNS names or IP addresses).
    pub fn server_cert(&self, sans: &[&str]) -> Cert {
        self.issue(None, sans, Usage::Server)
    }

    /// A client certificate for the user `cn`.
    pub fn client_cert(&self, cn: &str) -> Cert {
        self.issue(Some(cn), &[], Usage::Client)
    }

    /// Write the CA certificate to `dir/name`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        write(dir, name, &self.pem)
    }
}

fn params(sans: &[&str]) -> CertificateParams {
    CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("certificate params")
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).expect("write pem");
    p
}

/// A TLS acceptor serving `cert`. With `client_ca` (PEM), a client certificate from that CA is
/// required. `alpn`: the protocols offered (empty: none).
pub fn tls_acceptor(cert: &Cert, client_ca: Option<&str>, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("tls versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut ca.as_bytes()) {
                roots.add(c.expect("ca pem")).expect("add root");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(vec![cert.der.clone()], cert.private_key())
        .expect("server config");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// A PEM certificate signing request for `cn` (with a fresh key).
pub fn csr(cn: &str) -> String {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("csr params");
    p.distinguished_name = dn(cn);
    p.serialize_request(&key).and_then(|r| r.pem()).expect("serialize csr")
}
