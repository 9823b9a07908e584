//! `--tls-sni-cert-key`: the serving certificate chosen by the client's SNI name, as Go's
//! crypto/tls `NameToCertificate` lookup does for kube-apiserver: the exact (lower-cased) name
//! first, then the name with its first label replaced by `*`; anything else, or no SNI at all,
//! gets the default serving certificate.

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub struct SniResolver {
    pub default: Arc<CertifiedKey>,
    pub by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl SniResolver {
    /// The certificate for an SNI name (None: use the default).
    pub fn lookup(&self, server_name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = server_name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(c) = self.by_name.get(&name) {
            return Some(c);
        }
        let (_, rest) = name.split_once('.')?;
        self.by_name.get(&format!("*.{rest}"))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello.server_name().and_then(|n| self.lookup(n));
        Some(chosen.unwrap_or(&self.default).clone())
    }
}

/// Names a certificate answers for when none are given (upstream `getCertificateNames`): the
/// subject CN when it is a DNS name or wildcard (never an IP), then the DNS SANs.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let cn = cert
        .subject()
        .iter_common_name()
        .last()
        .and_then(|c| c.as_str().ok())
        .unwrap_or_default();
    if cn.parse::<std::net::IpAddr>().is_err() && (cn == "*" || is_dns_subdomain(cn.trim_start_matches("*."))) {
        names.push(cn.to_string());
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_string());
            }
        }
    }
    names
}

/// RFC 1123 subdomain, as apimachinery's IsDNS1123Subdomain checks it.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Name → certificate map: earlier `--tls-sni-cert-key` values win over later ones, and explicit
/// names win over names taken from a certificate (upstream `BuildNamedCertificates`).
pub fn name_map(certs: &[(Vec<String>, Arc<CertifiedKey>)]) -> HashMap<String, Arc<CertifiedKey>> {
    let mut implicit = HashMap::new();
    let mut explicit = HashMap::new();
    for (names, key) in certs.iter().rev() {
        if names.is_empty() {
            let leaf = key.cert.first().map(|c| c.as_ref()).unwrap_or_default();
            for n in certificate_names(leaf) {
                implicit.insert(n.to_ascii_lowercase(), key.clone());
            }
        } else {
            for n in names {
                explicit.insert(n.to_ascii_lowercase(), key.clone());
            }
        }
    }
    implicit.extend(explicit);
    implicit
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;

    /// A CertifiedKey carrying a self-signed certificate for `names` (CN = first name).
    fn key(names: &[&str]) -> Arc<CertifiedKey> {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("none"));
        let kp = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&kp).expect("cert");
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(kp.serialize_der().into());
        let signer = rustls::crypto::ring::sign::any_supported_type(&der).expect("signer");
        Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.der().to_vec())],
            signer,
        ))
    }

    fn cn_of(k: &Arc<CertifiedKey>) -> Vec<String> {
        certificate_names(k.cert[0].as_ref())
    }

    #[test]
    fn exact_then_single_label_wildcard_then_default() {
        let default = key(&["default.test"]);
        let exact = key(&["api.example.com"]);
        let wild = key(&["*.example.com"]);
        let r = SniResolver {
            default,
            by_name: name_map(&[(vec![], exact.clone()), (vec![], wild.clone())]),
        };
        assert!(Arc::ptr_eq(r.lookup("api.example.com").expect("exact"), &exact));
        assert!(Arc::ptr_eq(r.lookup("API.Example.com.").expect("case"), &exact));
        assert!(Arc::ptr_eq(r.lookup("www.example.com").expect("wildcard"), &wild));
        // Go's lookup replaces only the first label.
        assert!(r.lookup("a.b.example.com").is_none());
        assert!(r.lookup("example.com").is_none());
        assert!(r.lookup("other.test").is_none());
    }

    #[test]
    fn explicit_names_override_and_earlier_wins() {
        let a = key(&["a.test", "shared.test"]);
        let b = key(&["b.test", "shared.test"]);
        let c = key(&["c.test"]);
        let m = name_map(&[
            (vec![], a.clone()),
            (vec![], b.clone()),
            (vec!["a.test".into()], c.clone()),
        ]);
        assert!(Arc::ptr_eq(&m["shared.test"], &a), "earlier certificate wins");
        assert!(Arc::ptr_eq(&m["a.test"], &c), "explicit name wins");
        assert!(Arc::ptr_eq(&m["b.test"], &b));
        assert!(
            !m.contains_key("c.test"),
            "explicit names replace the certificate's own"
        );
    }

    #[test]
    fn names_from_cn_and_sans_skip_ips() {
        assert_eq!(cn_of(&key(&["x.test", "y.test"])), vec!["x.test", "x.test", "y.test"]);
        assert_eq!(cn_of(&key(&["*.w.test"])), vec!["*.w.test", "*.w.test"]);
        assert_eq!(cn_of(&key(&["10.0.0.1"])), Vec::<String>::new());
    }
}
