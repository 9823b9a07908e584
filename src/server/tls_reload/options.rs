//! `--tls-min-version`, `--tls-cipher-suites` and `--tls-sni-cert-key`, parsed once at startup
//! into what the rustls configuration is rebuilt from on every reload.

use rustls::crypto::ring::cipher_suite as ring;
use rustls::crypto::CryptoProvider;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use std::path::PathBuf;

/// Go's cipher-suite names (crypto/tls `CipherSuites()` + `InsecureCipherSuites()`, plus the two
/// CHACHA20 aliases component-base accepts) and the ring suite serving each, if rustls has one.
/// rustls implements only ECDHE + AEAD suites, so CBC, RC4, 3DES and RSA-key-exchange names are
/// known but unavailable.
const SUITES: &[(&str, Option<&SupportedCipherSuite>)] = &[
    ("TLS_AES_128_GCM_SHA256", Some(&ring::TLS13_AES_128_GCM_SHA256)),
    ("TLS_AES_256_GCM_SHA384", Some(&ring::TLS13_AES_256_GCM_SHA384)),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Some(&ring::TLS13_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Some(&ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Some(&ring::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Some(&ring::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Some(&ring::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(&ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        Some(&ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(&ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        Some(&ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_RC4_128_SHA", None),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", None),
];

/// The names this server can honour, for error messages.
pub fn supported_suite_names() -> Vec<&'static str> {
    SUITES.iter().filter(|(_, s)| s.is_some()).map(|(n, _)| *n).collect()
}

/// Map `--tls-cipher-suites` names to ring suites (deduplicated, in rustls' preference order).
pub fn cipher_suites(names: &[String]) -> anyhow::Result<Vec<SupportedCipherSuite>> {
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    for name in names {
        let suite = match SUITES.iter().find(|(n, _)| n == name) {
            Some((_, Some(s))) => **s,
            Some((_, None)) => anyhow::bail!(
                "invalid argument for --tls-cipher-suites: cipher suite {name} is not available in this server (rustls offers only ECDHE suites with AEAD ciphers); supported values: {}",
                supported_suite_names().join(", ")
            ),
            None => anyhow::bail!(
                "invalid argument for --tls-cipher-suites: cipher suite {name} not supported or doesn't exist; supported values: {}",
                supported_suite_names().join(", ")
            ),
        };
        if !chosen.iter().any(|c| c.suite() == suite.suite()) {
            chosen.push(suite);
        }
    }
    Ok(chosen)
}

/// One `--tls-sni-cert-key` value: `cert,key[:name1,name2]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SniCertKey {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Explicit names; empty means "the certificate's CN and DNS SANs".
    pub names: Vec<String>,
}

/// Parse like component-base's `NamedCertKey.Set`.
pub fn parse_sni(value: &str) -> anyhow::Result<SniCertKey> {
    let bad = |why: &str| anyhow::anyhow!("invalid argument {value:?} for \"--tls-sni-cert-key\" flag: {why}");
    let (pair, names) = match value.split_once(':') {
        Some((pair, names)) => {
            let names = names.trim();
            if names.is_empty() {
                return Err(bad("empty names list is not allowed"));
            }
            (pair.trim(), names.split(',').map(|n| n.trim().to_string()).collect())
        }
        None => (value.trim(), Vec::new()),
    };
    let parts: Vec<&str> = pair.split(',').collect();
    let [cert, key] = parts.as_slice() else {
        return Err(bad("expected comma separated certificate and key file paths"));
    };
    Ok(SniCertKey {
        cert: PathBuf::from(cert.trim()),
        key: PathBuf::from(key.trim()),
        names,
    })
}

/// The serving options that shape the TLS configuration.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// TLS 1.2 suites to offer; None keeps all of them. TLS 1.3 suites are always on (as in Go).
    pub tls12_suites: Option<Vec<SupportedCipherSuite>>,
    pub sni: Vec<SniCertKey>,
    /// `--disable-http2-serving`: offer only http/1.1 in ALPN.
    pub disable_http2: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            tls12_suites: None,
            sni: Vec::new(),
            disable_http2: false,
        }
    }
}

impl TlsOptions {
    pub fn from_options(opts: &crate::config::ServeOptions) -> anyhow::Result<TlsOptions> {
        let versions = match opts.get_str("tls.min-version").as_str() {
            "" | "VersionTLS12" => TlsOptions::default().versions,
            v @ ("VersionTLS10" | "VersionTLS11") => {
                tracing::warn!(
                    "--tls-min-version={v}: TLS 1.0 and 1.1 are not supported by this server; the minimum TLS version is raised to TLS 1.2"
                );
                TlsOptions::default().versions
            }
            "VersionTLS13" => vec![&rustls::version::TLS13],
            other => anyhow::bail!(
                "invalid argument {other:?} for --tls-min-version: allowed values are VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13"
            ),
        };
        let names = opts.get_list("tls.cipher-suites");
        let tls12_suites = if names.is_empty() {
            None
        } else {
            let chosen = cipher_suites(&names)?;
            Some(chosen.into_iter().filter(|s| s.tls13().is_none()).collect())
        };
        let sni = opts
            .get_list("tls.sni-cert-key")
            .iter()
            .map(|v| parse_sni(v))
            .collect::<anyhow::Result<_>>()?;
        Ok(TlsOptions {
            versions,
            tls12_suites,
            sni,
            disable_http2: opts.get_bool("disable-http2-serving"),
        })
    }

    /// The ring provider restricted to the chosen TLS 1.2 suites.
    pub fn provider(&self) -> CryptoProvider {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(keep) = &self.tls12_suites {
            provider
                .cipher_suites
                .retain(|s| s.tls13().is_some() || keep.iter().any(|k| k.suite() == s.suite()));
        }
        provider
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_names_map_to_ring_suites() {
        let got = cipher_suites(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ]))
        .expect("known names");
        assert_eq!(
            got.iter().map(|s| s.suite()).collect::<Vec<_>>(),
            vec![
                rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        );
        // Every name rustls can serve maps to the suite with the same IANA name.
        for name in supported_suite_names() {
            let s = cipher_suites(&names(&[name])).expect(name);
            let iana = format!("{:?}", s[0].suite()).replace("TLS13_", "TLS_");
            assert!(name.ends_with("_POLY1305") || iana == name, "{name} -> {iana}");
        }
    }

    #[test]
    fn unknown_and_unavailable_names_are_refused() {
        let err = cipher_suites(&names(&["TLS_BOGUS"])).expect_err("unknown").to_string();
        assert!(err.contains("--tls-cipher-suites"), "{err}");
        assert!(
            err.contains("cipher suite TLS_BOGUS not supported or doesn't exist"),
            "{err}"
        );
        assert!(err.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), "{err}");
        let err = cipher_suites(&names(&["TLS_RSA_WITH_AES_128_CBC_SHA"]))
            .expect_err("cbc")
            .to_string();
        assert!(err.contains("TLS_RSA_WITH_AES_128_CBC_SHA is not available"), "{err}");
    }

    #[test]
    fn provider_keeps_tls13_and_the_chosen_tls12_suites() {
        let opts = TlsOptions {
            tls12_suites: Some(cipher_suites(&names(&["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"])).expect("ok")),
            ..TlsOptions::default()
        };
        let p = opts.provider();
        assert_eq!(p.cipher_suites.iter().filter(|s| s.tls13().is_some()).count(), 3);
        let tls12: Vec<_> = p
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .map(|s| s.suite())
            .collect();
        assert_eq!(tls12, vec![rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]);
    }

    #[test]
    fn sni_values_parse_like_component_base() {
        assert_eq!(
            parse_sni("a.crt,a.key:*.a.com, b.com").expect("ok"),
            SniCertKey {
                cert: "a.crt".into(),
                key: "a.key".into(),
                names: names(&["*.a.com", "b.com"]),
            }
        );
        assert_eq!(parse_sni(" a.crt , a.key ").expect("ok").names, Vec::<String>::new());
        let err = parse_sni("a.crt,a.key:").expect_err("empty").to_string();
        assert!(err.ends_with("empty names list is not allowed"), "{err}");
        let err = parse_sni("a.crt").expect_err("one path").to_string();
        assert!(
            err.ends_with("expected comma separated certificate and key file paths"),
            "{err}"
        );
    }
}
