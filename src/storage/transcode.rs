//! A `Storage` wrapper that keeps the etcd layout byte-compatible with kube-apiserver's: built-in
//! kinds are written as protobuf (`k8s\0` + `runtime.Unknown`, `--storage-media-type`), custom
//! resources, CRDs and APIServices as JSON, exactly as upstream stores them. Everything above
//! sees JSON values, whatever encoding a value has in etcd: values in either encoding are read,
//! so a store written by an earlier Capstan (JSON) or by upstream (protobuf) works, and a JSON
//! value is rewritten in the configured encoding on its next write (`capstan storage migrate`
//! rewrites them all at once).

use super::crd_v1beta1;
use super::*;
use crate::protobuf;
use crate::util::json::JsonExt;
use serde_json::Value;
use std::sync::Arc;

/// How built-in kinds are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Protobuf,
}

impl MediaType {
    pub fn parse(s: &str) -> Result<MediaType, String> {
        match s {
            "application/json" => Ok(MediaType::Json),
            "application/vnd.kubernetes.protobuf" => Ok(MediaType::Protobuf),
            other => Err(format!(
                "--storage-media-type={other}: supported values are \"application/vnd.kubernetes.protobuf\" and \"application/json\""
            )),
        }
    }
}

/// How values are written: the encoding of built-in kinds, and whether kinds whose upstream
/// storage version nobody serves any more are written in it (CRDs as v1beta1; etcd shared with
/// upstream) or as served (the embedded store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub media: MediaType,
    pub upstream_versions: bool,
}

impl Layout {
    /// etcd: byte-compatible with kube-apiserver's.
    pub fn upstream(media: MediaType) -> Layout {
        Layout {
            media,
            upstream_versions: true,
        }
    }
    /// The embedded store: JSON as served.
    pub const JSON: Layout = Layout {
        media: MediaType::Json,
        upstream_versions: false,
    };
}

pub struct Transcoding {
    inner: Arc<dyn Storage>,
    layout: Layout,
}

impl Transcoding {
    pub fn new(inner: Arc<dyn Storage>, layout: Layout) -> Arc<Transcoding> {
        Arc::new(Transcoding { inner, layout })
    }
}

/// A stored value as JSON: protobuf values are decoded, v1beta1 CRDs converted to v1,
/// anything else is passed through.
pub fn to_json(raw: &Bytes) -> StorageResult<Bytes> {
    if raw.starts_with(protobuf::MAGIC) {
        let v = protobuf::decode_stored(raw)
            .map_err(|e| StorageError::Internal(format!("decoding a protobuf value: {e}")))?;
        return serde_json::to_vec(&v)
            .map(Bytes::from)
            .map_err(|e| StorageError::Internal(e.to_string()));
    }
    // Cheap test before parsing: only CRDs are stored in an unserved version.
    if may_be_v1beta1_crd(raw) {
        if let Ok(mut v) = serde_json::from_slice::<Value>(raw) {
            if crd_v1beta1::is_crd(&v, crd_v1beta1::V1BETA1) {
                crd_v1beta1::to_v1(&mut v);
                return serde_json::to_vec(&v)
                    .map(Bytes::from)
                    .map_err(|e| StorageError::Internal(e.to_string()));
            }
        }
    }
    Ok(raw.clone())
}

fn may_be_v1beta1_crd(raw: &[u8]) -> bool {
    let needle = crd_v1beta1::V1BETA1.as_bytes();
    raw.len() < 4 << 20 && raw.windows(needle.len()).take(400).any(|w| w == needle)
}

/// A JSON value in the layout it is stored in: protobuf for built-in kinds when asked for,
/// CRDs in their v1beta1 storage version when sharing etcd with upstream.
pub fn to_stored(layout: Layout, json: Bytes) -> StorageResult<Bytes> {
    if (layout.media == MediaType::Json && !layout.upstream_versions) || !json.starts_with(b"{") {
        return Ok(json);
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(&json) else {
        return Ok(json);
    };
    if layout.upstream_versions && crd_v1beta1::is_crd(&v, crd_v1beta1::V1) {
        crd_v1beta1::to_v1beta1(&mut v);
        return serde_json::to_vec(&v)
            .map(Bytes::from)
            .map_err(|e| StorageError::Internal(e.to_string()));
    }
    let av = v.str_of("apiVersion");
    let kind = v.str_of("kind");
    if layout.media == MediaType::Json || !protobuf::stored_as_protobuf(av, kind) {
        return Ok(json);
    }
    protobuf::encode(&v)
        .map(Bytes::from)
        .map_err(|e| StorageError::Internal(format!("encoding {kind} as protobuf: {e}")))
}

fn kv_json(mut kv: KeyValue) -> StorageResult<KeyValue> {
    kv.value = to_json(&kv.value)?;
    Ok(kv)
}

fn err_json(e: StorageError) -> StorageError {
    match e {
        StorageError::Conflict { key, current: Some(kv) } => match kv_json(kv) {
            Ok(kv) => StorageError::Conflict { key, current: Some(kv) },
            Err(e) => e,
        },
        e => e,
    }
}

fn event_json(mut ev: Event) -> StorageResult<Event> {
    ev.value = to_json(&ev.value)?;
    if let Some(p) = ev.prev_value.take() {
        ev.prev_value = Some(to_json(&p)?);
    }
    Ok(ev)
}

#[async_trait::async_trait]
impl Storage for Transcoding {
    async fn current_revision(&self) -> StorageResult<i64> {
        self.inner.current_revision().await
    }
    async fn get(&self, key: &str, revision: i64) -> StorageResult<Option<KeyValue>> {
        self.inner.get(key, revision).await?.map(kv_json).transpose()
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> StorageResult<ListPage> {
        let mut page = self.inner.list(prefix, start_after, revision, limit).await?;
        for kv in &mut page.items {
            kv.value = to_json(&kv.value)?;
        }
        Ok(page)
    }
    async fn create_with_ttl(&self, key: &str, value: Bytes, ttl: u64) -> StorageResult<i64> {
        let value = to_stored(self.layout, value)?;
        self.inner.create_with_ttl(key, value, ttl).await.map_err(err_json)
    }
    async fn update_with_ttl(&self, key: &str, value: Bytes, expected: i64, ttl: u64) -> StorageResult<i64> {
        let value = to_stored(self.layout, value)?;
        self.inner
            .update_with_ttl(key, value, expected, ttl)
            .await
            .map_err(err_json)
    }
    async fn delete(&self, key: &str, expected: i64) -> StorageResult<(i64, KeyValue)> {
        let (rev, kv) = self.inner.delete(key, expected).await.map_err(err_json)?;
        Ok((rev, kv_json(kv)?))
    }
    async fn watch(&self, prefix: &str, after: i64) -> StorageResult<mpsc::Receiver<StorageResult<WatchItem>>> {
        let mut rx = self.inner.watch(prefix, after).await?;
        // Same bound as the backend's: a consumer that stops reading stalls this task, whose
        // own receiver then fills and the backend drops the watch.
        let (tx, out) = mpsc::channel(rx.max_capacity().max(1));
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                let item = match item {
                    Ok(WatchItem::Event(ev)) => event_json(ev).map(WatchItem::Event),
                    other => other,
                };
                let failed = item.is_err();
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

/// What [`migrate`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub checked: usize,
    pub rewritten: usize,
    /// Values changed by someone else while migrating (left as they are; run again).
    pub conflicts: usize,
}

/// `capstan storage migrate`: rewrite every value under `prefix` of the raw backend that is not
/// in `layout` (JSON values an earlier Capstan wrote, CRDs in v1) in it, each with a
/// compare-and-swap on its revision, in pages (memory stays bounded).
pub async fn migrate(raw: &dyn Storage, prefix: &str, layout: Layout) -> StorageResult<Migrated> {
    let mut out = Migrated::default();
    let mut after: Option<String> = None;
    loop {
        let page = raw.list(prefix, after.as_deref(), 0, 500).await?;
        for kv in &page.items {
            out.checked += 1;
            let want = to_stored(layout, to_json(&kv.value)?)?;
            if want == kv.value {
                continue;
            }
            match raw.update(&kv.key, want, kv.mod_revision).await {
                Ok(_) => out.rewritten += 1,
                Err(StorageError::Conflict { .. }) | Err(StorageError::NotFound { .. }) => out.conflicts += 1,
                Err(e) => return Err(e),
            }
        }
        if !page.more || page.items.is_empty() {
            return Ok(out);
        }
        after = page.items.last().map(|kv| kv.key.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    fn cm(name: &str) -> Bytes {
        Bytes::from(
            serde_json::to_vec(&serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "d", "creationTimestamp": "2024-01-02T03:04:05Z"},
                "data": {"a": "b"},
            }))
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn built_ins_are_stored_as_protobuf_and_read_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let raw: Arc<dyn Storage> = SqliteStorage::open(&dir.path().join("db")).unwrap();
        let s = Transcoding::new(raw.clone(), Layout::upstream(MediaType::Protobuf));
        s.create("/registry/configmaps/d/a", cm("a")).await.unwrap();
        let stored = raw.get("/registry/configmaps/d/a", 0).await.unwrap().unwrap();
        assert!(stored.value.starts_with(b"k8s\0"), "{:?}", stored.value);
        let got = s.get("/registry/configmaps/d/a", 0).await.unwrap().unwrap();
        let v: Value = serde_json::from_slice(&got.value).unwrap();
        assert_eq!(v, serde_json::from_slice::<Value>(&cm("a")).unwrap());
        // Custom resources stay JSON; JSON values written before are read as they are.
        let cr = Bytes::from_static(br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}"#);
        s.create("/registry/example.com/widgets/w", cr.clone()).await.unwrap();
        assert_eq!(
            raw.get("/registry/example.com/widgets/w", 0)
                .await
                .unwrap()
                .unwrap()
                .value,
            cr
        );
        raw.create("/registry/configmaps/d/old", cm("old")).await.unwrap();
        let page = s.list("/registry/configmaps/", None, 0, 0).await.unwrap();
        assert_eq!(page.items.len(), 2);
        assert!(page.items.iter().all(|kv| kv.value.starts_with(b"{")));
        // Conflicts carry the current value as JSON.
        let Err(StorageError::Conflict { current: Some(kv), .. }) =
            s.update("/registry/configmaps/d/a", cm("a"), 12_345).await
        else {
            panic!("expected a conflict")
        };
        assert!(kv.value.starts_with(b"{"));
        // Watches see JSON.
        let rev = s.current_revision().await.unwrap();
        let mut w = s.watch("/registry/configmaps/", rev).await.unwrap();
        s.update("/registry/configmaps/d/a", cm("a"), got.mod_revision)
            .await
            .unwrap();
        let Some(Ok(WatchItem::Event(ev))) = w.recv().await else {
            panic!("no event")
        };
        assert!(ev.value.starts_with(b"{") && ev.prev_value.unwrap().starts_with(b"{"));
        // JSON media type writes JSON.
        let j = Transcoding::new(raw.clone(), Layout::JSON);
        j.create("/registry/configmaps/d/j", cm("j")).await.unwrap();
        assert!(raw
            .get("/registry/configmaps/d/j", 0)
            .await
            .unwrap()
            .unwrap()
            .value
            .starts_with(b"{"));
        // `storage migrate` rewrites the JSON built-ins, once.
        let m = migrate(raw.as_ref(), "/registry/", Layout::upstream(MediaType::Protobuf))
            .await
            .unwrap();
        assert_eq!((m.checked, m.rewritten, m.conflicts), (4, 2, 0));
        assert!(raw
            .get("/registry/configmaps/d/old", 0)
            .await
            .unwrap()
            .unwrap()
            .value
            .starts_with(b"k8s\0"));
        let again = migrate(raw.as_ref(), "/registry/", Layout::upstream(MediaType::Protobuf))
            .await
            .unwrap();
        assert_eq!(again.rewritten, 0);
    }
}
