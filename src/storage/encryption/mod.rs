//! Encryption at rest (`--encryption-provider-config`): a [`Storage`] wrapper that transforms
//! values on their way to and from the backend, chosen per resource by the
//! EncryptionConfiguration, in upstream's format (so kube-apiserver and capstan can share an
//! etcd). It sits between the registry's encoding and the backend:
//! encode → [`Encrypted`] (transform) → backend; backend → [`Encrypted`] (untransform) → decode.
//!
//! ```text
//! resources:                       key /registry/secrets/ns/a → secrets → rule 0
//! - resources: [secrets]           write: the first provider (aescbc key "k1")
//!   providers:                     read:  the provider whose prefix the value carries
//!   - aescbc: {keys: [{name: k1, secret: …}]}     (`k8s:enc:aescbc:v1:k1:` …)
//!   - identity: {}                                (plain, written before)
//! ```
//! The etcd key is the authenticated data of AES-GCM and KMS v2. A value read through any
//! provider or key but the writing one is marked `stale`, so a rewrite (`kubectl replace`)
//! re-encrypts it even when nothing changed.

pub mod config;
pub mod kms;
pub mod kms_api;
pub mod transform;

use super::{Event, KeyValue, ListPage, Storage, StorageError, StorageResult, WatchItem};
use async_trait::async_trait;
use bytes::Bytes;
use config::{EncryptionConfig, GroupResource, Provider};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use transform::{Identity, Prefixed, Transformer};

/// The logical root of every key.
const ROOT: &str = "/registry/";

/// Transformers with the stored-data prefix each reads.
type Readers = Vec<(Vec<u8>, Arc<dyn Transformer>)>;

/// The transformers of one loaded config.
struct Active {
    by_resource: HashMap<GroupResource, Arc<dyn Transformer>>,
    kms: Vec<Arc<kms::KmsProvider>>,
    hash: String,
}

impl Active {
    async fn build(cfg: &EncryptionConfig) -> Result<Active, String> {
        let mut lists: HashMap<GroupResource, Readers> = HashMap::new();
        let mut kms = Vec::new();
        for rule in &cfg.resources {
            let mut entries: Readers = Vec::new();
            for p in &rule.providers {
                entries.push(match p {
                    Provider::Identity => (Vec::new(), Arc::new(Identity)),
                    Provider::AesCbc(keys) => transform::keyed(
                        "aescbc",
                        keys,
                        |k| Ok(Arc::new(transform::AesCbc::new(k)?)),
                        "no matching key was found for the provided AES transformer",
                    )?,
                    Provider::AesGcm(keys) => transform::keyed(
                        "aesgcm",
                        keys,
                        |k| Ok(Arc::new(transform::AesGcm::new(k)?)),
                        "no matching key was found for the provided AES transformer",
                    )?,
                    Provider::Secretbox(keys) => transform::keyed(
                        "secretbox",
                        keys,
                        |k| Ok(Arc::new(transform::Secretbox::new(k)?)),
                        "no matching key was found for the provided Secretbox transformer",
                    )?,
                    Provider::Kms(k) => {
                        let p = kms::KmsProvider::start(&k.name, &k.endpoint, k.timeout).await?;
                        kms.push(p.clone());
                        (format!("k8s:enc:kms:v2:{}:", k.name).into_bytes(), p)
                    }
                });
            }
            for r in &rule.resources {
                lists
                    .entry(GroupResource::parse(r))
                    .or_default()
                    .extend(entries.iter().cloned());
            }
        }
        let by_resource = lists
            .into_iter()
            .map(|(gr, entries)| {
                let t: Arc<dyn Transformer> = Arc::new(Prefixed {
                    entries,
                    no_match: "no matching prefix found",
                });
                (gr, t)
            })
            .collect();
        Ok(Active {
            by_resource,
            kms,
            hash: cfg.hash.clone(),
        })
    }

    /// The resource's rule, then its group's wildcard, then `*.*`; else plain (identity).
    fn transformer(&self, gr: &GroupResource) -> Arc<dyn Transformer> {
        let any_in_group = GroupResource::new(&gr.group, "*");
        let any = GroupResource::new("*", "*");
        self.by_resource
            .get(gr)
            .or_else(|| self.by_resource.get(&any_in_group))
            .or_else(|| self.by_resource.get(&any))
            .cloned()
            .unwrap_or_else(|| Arc::new(Identity))
    }
}

/// The loaded `--encryption-provider-config`: the transformers in force, the KMS health check
/// and, with `--encryption-provider-config-automatic-reload`, reloading.
pub struct Encryption {
    path: PathBuf,
    reload: bool,
    active: RwLock<Arc<Active>>,
}

impl Encryption {
    /// Load and validate the file and start its KMS providers. Errors name the file, the field
    /// and the fix.
    pub async fn load(path: &Path, reload: bool) -> Result<Arc<Encryption>, String> {
        let cfg = config::load(path, reload).map_err(|e| e.to_string())?;
        let active = Active::build(&cfg).await.map_err(|e| {
            format!(
                "--encryption-provider-config {}: error while building transformers: {e}",
                path.display()
            )
        })?;
        Ok(Arc::new(Encryption {
            path: path.to_path_buf(),
            reload,
            active: RwLock::new(Arc::new(active)),
        }))
    }

    fn active(&self) -> Arc<Active> {
        self.active.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `/healthz` and `/readyz` carry the `kms-providers` check: with KMS providers, or
    /// always with automatic reload (the check then follows whatever the file says).
    pub fn has_health_check(&self) -> bool {
        self.reload || !self.active().kms.is_empty()
    }

    /// The `kms-providers` check: every KMS provider's probe.
    pub async fn check(&self) -> Result<(), String> {
        let mut errs = Vec::new();
        for (i, p) in self.active().kms.iter().enumerate() {
            if let Err(e) = p.check().await {
                errs.push(format!("kms-provider-{i}: {e}"));
            }
        }
        match errs.len() {
            0 => Ok(()),
            1 => Err(errs.remove(0)),
            _ => Err(format!("[{}]", errs.join(", "))),
        }
    }

    /// Load the file again if its content changed; the new transformers take over only when
    /// their KMS providers are healthy. Ok(true) when a new config is in force.
    pub async fn reload_if_changed(&self) -> Result<bool, String> {
        let data = std::fs::read(&self.path).map_err(|e| {
            format!(
                "error reading encryption provider configuration file {:?}: {e}",
                self.path
            )
        })?;
        if config::content_hash(&data) == self.active().hash {
            return Ok(false);
        }
        let cfg = config::parse(&data, true).map_err(|errors| {
            config::ConfigError {
                file: self.path.clone(),
                errors,
            }
            .to_string()
        })?;
        let next = Active::build(&cfg).await?;
        // Upstream polls the new providers' health for up to 10 s before switching.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for p in &next.kms {
            loop {
                match p.check().await {
                    Ok(()) => break,
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(format!("health check for new transformers failed: {e}"));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        tracing::info!(file = %self.path.display(), "loaded new encryption provider config");
        Ok(true)
    }

    /// Poll the file (`--encryption-provider-config-automatic-reload`); a bad file is reported
    /// once per content and the config in force stays.
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last_error = String::new();
            loop {
                tokio::time::sleep(every).await;
                let Some(enc) = me.upgrade() else { return };
                match enc.reload_if_changed().await {
                    Ok(_) => last_error.clear(),
                    Err(e) if e != last_error => {
                        tracing::error!(error = %e, "error processing encryption config file");
                        last_error = e;
                    }
                    Err(_) => {}
                }
            }
        });
    }
}

/// Which resource a storage key belongs to.
#[derive(Clone, Default)]
pub struct ResourceIndex {
    /// Storage segment (`secrets`, `services/specs`, `apiregistration.k8s.io/apiservices`) →
    /// group and resource.
    pub segments: HashMap<String, GroupResource>,
}

impl ResourceIndex {
    /// Known segments first (two-part ones win), then custom resources' `<group>/<plural>`,
    /// else a core resource named like the segment.
    pub fn resource_of(&self, key: &str) -> GroupResource {
        let rest = key.strip_prefix(ROOT).unwrap_or(key);
        let mut parts = rest.splitn(3, '/');
        let first = parts.next().unwrap_or("");
        let second = parts.next();
        if let Some(second) = second {
            if let Some(gr) = self.segments.get(&format!("{first}/{second}")) {
                return gr.clone();
            }
        }
        if let Some(gr) = self.segments.get(first) {
            return gr.clone();
        }
        match second {
            Some(plural) if first.contains('.') => GroupResource::new(first, plural),
            _ => GroupResource::new("", first),
        }
    }
}

/// A storage whose values pass through the configured transformers.
pub struct Encrypted {
    inner: Arc<dyn Storage>,
    enc: Arc<Encryption>,
    index: ResourceIndex,
    /// The etcd key prefix (`--etcd-prefix`) in place of `/registry`: the authenticated data is
    /// the physical etcd key, as upstream uses it.
    physical_root: String,
}

impl Encrypted {
    pub fn new(
        inner: Arc<dyn Storage>,
        enc: Arc<Encryption>,
        index: ResourceIndex,
        physical_root: &str,
    ) -> Arc<Encrypted> {
        Arc::new(Encrypted {
            inner,
            enc,
            index,
            physical_root: physical_root.trim_end_matches('/').to_string(),
        })
    }

    fn aad(&self, key: &str) -> Vec<u8> {
        match key.strip_prefix(ROOT.trim_end_matches('/')) {
            Some(rest) => format!("{}{rest}", self.physical_root).into_bytes(),
            None => key.as_bytes().to_vec(),
        }
    }

    fn transformer(&self, key: &str) -> Arc<dyn Transformer> {
        self.enc.active().transformer(&self.index.resource_of(key))
    }

    async fn seal(&self, key: &str, value: &[u8]) -> StorageResult<Bytes> {
        self.transformer(key)
            .to_storage(value, &self.aad(key))
            .await
            .map(Bytes::from)
            .map_err(|e| {
                tracing::error!(key, error = %e, "failed to encrypt data");
                StorageError::Transform(e)
            })
    }

    async fn open(&self, key: &str, value: &[u8]) -> StorageResult<(Bytes, bool)> {
        self.transformer(key)
            .from_storage(value, &self.aad(key))
            .await
            .map(|(v, stale)| (Bytes::from(v), stale))
            .map_err(|e| {
                tracing::error!(key, error = %e, "failed to decrypt data");
                StorageError::Transform(format!("unable to transform key {key:?}: {e}"))
            })
    }

    async fn open_kv(&self, mut kv: KeyValue) -> StorageResult<KeyValue> {
        let (value, stale) = self.open(&kv.key, &kv.value).await?;
        kv.value = value;
        kv.stale = stale;
        Ok(kv)
    }

    async fn open_event(&self, mut ev: Event) -> StorageResult<Event> {
        ev.value = self.open(&ev.key, &ev.value).await?.0;
        if let Some(prev) = ev.prev_value.take() {
            ev.prev_value = Some(self.open(&ev.key, &prev).await?.0);
        }
        Ok(ev)
    }
}

#[async_trait]
impl Storage for Encrypted {
    async fn current_revision(&self) -> StorageResult<i64> {
        self.inner.current_revision().await
    }

    async fn get(&self, key: &str, revision: i64) -> StorageResult<Option<KeyValue>> {
        match self.inner.get(key, revision).await? {
            Some(kv) => Ok(Some(self.open_kv(kv).await?)),
            None => Ok(None),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> StorageResult<ListPage> {
        let mut page = self.inner.list(prefix, start_after, revision, limit).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for kv in page.items {
            items.push(self.open_kv(kv).await?);
        }
        page.items = items;
        Ok(page)
    }

    async fn create_with_ttl(&self, key: &str, value: Bytes, ttl: u64) -> StorageResult<i64> {
        let sealed = self.seal(key, &value).await?;
        self.inner.create_with_ttl(key, sealed, ttl).await
    }

    async fn update_with_ttl(&self, key: &str, value: Bytes, expected: i64, ttl: u64) -> StorageResult<i64> {
        let sealed = self.seal(key, &value).await?;
        self.inner.update_with_ttl(key, sealed, expected, ttl).await
    }

    async fn delete(&self, key: &str, expected: i64) -> StorageResult<(i64, KeyValue)> {
        let (rev, kv) = self.inner.delete(key, expected).await?;
        // The key is gone whatever happens here; an undecryptable last value is reported empty.
        let kv = match self.open_kv(kv.clone()).await {
            Ok(kv) => kv,
            Err(_) => KeyValue {
                value: Bytes::new(),
                ..kv
            },
        };
        Ok((rev, kv))
    }

    async fn watch(&self, prefix: &str, after: i64) -> StorageResult<mpsc::Receiver<StorageResult<WatchItem>>> {
        let mut rx = self.inner.watch(prefix, after).await?;
        let (tx, out) = mpsc::channel(256);
        let me = Encrypted {
            inner: self.inner.clone(),
            enc: self.enc.clone(),
            index: self.index.clone(),
            physical_root: self.physical_root.clone(),
        };
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                let item = match item {
                    Ok(WatchItem::Event(ev)) => me.open_event(ev).await.map(WatchItem::Event),
                    other => other,
                };
                let failed = item.is_err();
                // A watcher that went away ends the feed (and drops the backend's).
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(out)
    }

    async fn compact(&self, revision: i64) -> StorageResult<()> {
        self.inner.compact(revision).await
    }

    async fn compacted_revision(&self) -> StorageResult<i64> {
        self.inner.compacted_revision().await
    }

    async fn health(&self) -> Result<(), String> {
        self.inner.health().await
    }
}

#[cfg(test)]
mod tests;
