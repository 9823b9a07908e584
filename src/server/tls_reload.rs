//! Serving certificate and client CA hot reload: the files are polled for changes, and new
//! connections use a TLS configuration rebuilt from them. A broken new file keeps the old
//! configuration (and is logged), so a half-written renewal never takes the server down.
//! `--tls-sni-cert-key` certificates are watched and reloaded the same way.

use crate::request::UserInfo;
use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

mod options;
mod sni;
pub use options::{supported_suite_names, TlsOptions};

pub struct ReloadingTls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    /// `--requestheader-client-ca-file`: front-proxy certificates are accepted too, and marked.
    requestheader_ca: Option<PathBuf>,
    /// Versions, cipher suites and SNI certificates (`--tls-*`).
    opts: TlsOptions,
    acceptor: RwLock<TlsAcceptor>,
    verifiers: RwLock<Verifiers>,
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

fn stamp(p: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Per-CA verifiers, to tell which CA a presented certificate chains to.
#[derive(Default)]
struct Verifiers {
    client: Option<Arc<dyn ClientCertVerifier>>,
    requestheader: Option<Arc<dyn ClientCertVerifier>>,
}

fn verifier(cas: &[&Path]) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for c in crate::pki::load_certs(ca)? {
            roots.add(c)?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()?)
}

/// A certificate chain and key as rustls serves them; the key must match the leaf.
fn certified_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
    let ck = CertifiedKey::from_der(
        crate::pki::load_certs(cert)?,
        crate::pki::load_private_key(key)?,
        provider,
    )
    .with_context(|| {
        format!(
            "certificate {} does not match private key {}",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Arc::new(ck))
}

/// The TLS configuration: versions and suites from the options, the certificate chosen by SNI,
/// and with a request-header CA, client certificates may chain to either CA.
fn build(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    requestheader_ca: Option<&Path>,
    opts: &TlsOptions,
) -> anyhow::Result<(rustls::ServerConfig, Verifiers)> {
    let provider = opts.provider();
    let mut named = Vec::new();
    for s in &opts.sni {
        named.push((s.names.clone(), certified_key(&s.cert, &s.key, &provider)?));
    }
    let resolver = sni::SniResolver {
        default: certified_key(cert, key, &provider)?,
        by_name: sni::name_map(&named),
    };
    let builder = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&opts.versions)
        .context("--tls-min-version/--tls-cipher-suites leave no usable cipher suite")?;
    let cas: Vec<&Path> = client_ca.into_iter().chain(requestheader_ca).collect();
    let builder = if cas.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(verifier(&cas)?)
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = if opts.disable_http2 {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let verifiers = match requestheader_ca {
        None => Verifiers::default(),
        Some(rh) => Verifiers {
            client: client_ca.map(|c| verifier(&[c])).transpose()?,
            requestheader: Some(verifier(&[rh])?),
        },
    };
    Ok((config, verifiers))
}

impl ReloadingTls {
    pub fn new(
        cert: PathBuf,
        key: PathBuf,
        client_ca: Option<PathBuf>,
        requestheader_ca: Option<PathBuf>,
        opts: TlsOptions,
    ) -> anyhow::Result<Arc<ReloadingTls>> {
        let (config, verifiers) = build(&cert, &key, client_ca.as_deref(), requestheader_ca.as_deref(), &opts)?;
        let t = ReloadingTls {
            acceptor: RwLock::new(TlsAcceptor::from(Arc::new(config))),
            verifiers: RwLock::new(verifiers),
            stamps: Mutex::new(Vec::new()),
            cert,
            key,
            client_ca,
            requestheader_ca,
            opts,
        };
        *t.stamps.lock().unwrap_or_else(|e| e.into_inner()) = t.current_stamps();
        Ok(Arc::new(t))
    }

    fn current_stamps(&self) -> Vec<Option<(SystemTime, u64)>> {
        let mut v = vec![stamp(&self.cert), stamp(&self.key)];
        for ca in self.client_ca.iter().chain(&self.requestheader_ca) {
            v.push(stamp(ca));
        }
        for s in &self.opts.sni {
            v.push(stamp(&s.cert));
            v.push(stamp(&s.key));
        }
        v
    }

    /// The identity of a verified client certificate chain: CN/O as user/groups when it chains
    /// to the client CA; marked with its CN for the request-header authenticator when it chains
    /// to the request-header CA.
    pub fn identify(&self, certs: Option<&[CertificateDer<'static>]>) -> Option<UserInfo> {
        let certs = certs?;
        let (leaf, rest) = certs.split_first()?;
        let v = self.verifiers.read().unwrap_or_else(|e| e.into_inner());
        let ok = |v: &Option<Arc<dyn ClientCertVerifier>>| {
            v.as_ref()
                .is_some_and(|v| v.verify_client_cert(leaf, rest, UnixTime::now()).is_ok())
        };
        let identity = crate::pki::identity_from_der(leaf);
        let (by_client, by_proxy) = match &v.requestheader {
            None => (true, false),
            Some(_) => (ok(&v.client), ok(&v.requestheader)),
        };
        let mut user = match (&identity, by_client) {
            (Some((name, groups)), true) => {
                let mut groups = groups.clone();
                groups.push(crate::request::AUTHENTICATED_GROUP.into());
                UserInfo::new(name.clone(), groups)
            }
            _ if by_proxy => UserInfo::default(),
            _ => return None,
        };
        if by_proxy {
            let cn = identity.map(|i| i.0).unwrap_or_default();
            user.extra
                .insert(crate::auth::authn::requestheader::VERIFIED_CN.into(), vec![cn]);
        }
        Some(user)
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Rebuild the configuration if a file changed. Ok(true) when it was swapped.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now = self.current_stamps();
        {
            let mut seen = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return Ok(false);
            }
            *seen = now;
        }
        let (config, verifiers) = build(
            &self.cert,
            &self.key,
            self.client_ca.as_deref(),
            self.requestheader_ca.as_deref(),
            &self.opts,
        )?;
        *self.acceptor.write().unwrap_or_else(|e| e.into_inner()) = TlsAcceptor::from(Arc::new(config));
        *self.verifiers.write().unwrap_or_else(|e| e.into_inner()) = verifiers;
        Ok(true)
    }

    /// Poll the files every `every`.
    pub fn spawn_watcher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match me.reload_if_changed() {
                    Ok(true) => tracing::info!(cert = %me.cert.display(), "serving certificate / client CA reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "new TLS files are not usable; keeping the previous ones"),
                }
            }
        })
    }
}
