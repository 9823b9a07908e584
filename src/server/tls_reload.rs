//! Serving certificate and client CA hot reload: the files are polled for changes, and new
//! connections use a TLS configuration rebuilt from them. A broken new file keeps the old
//! configuration (and is logged), so a half-written renewal never takes the server down.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

pub struct ReloadingTls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    acceptor: RwLock<TlsAcceptor>,
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

fn stamp(p: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl ReloadingTls {
    pub fn new(cert: PathBuf, key: PathBuf, client_ca: Option<PathBuf>) -> anyhow::Result<Arc<ReloadingTls>> {
        let config = crate::pki::server_tls_config(&cert, &key, client_ca.as_deref())?;
        let t = ReloadingTls {
            acceptor: RwLock::new(TlsAcceptor::from(Arc::new(config))),
            stamps: Mutex::new(Vec::new()),
            cert,
            key,
            client_ca,
        };
        *t.stamps.lock().unwrap_or_else(|e| e.into_inner()) = t.current_stamps();
        Ok(Arc::new(t))
    }

    fn current_stamps(&self) -> Vec<Option<(SystemTime, u64)>> {
        let mut v = vec![stamp(&self.cert), stamp(&self.key)];
        if let Some(ca) = &self.client_ca {
            v.push(stamp(ca));
        }
        v
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
        let config = crate::pki::server_tls_config(&self.cert, &self.key, self.client_ca.as_deref())?;
        *self.acceptor.write().unwrap_or_else(|e| e.into_inner()) = TlsAcceptor::from(Arc::new(config));
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
