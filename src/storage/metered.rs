//! A `Storage` wrapper that records `etcd_request_duration_seconds{operation,type}` for every
//! call, whatever the backend (upstream names the metric after etcd; we keep the name).

use super::*;
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Instant;

pub struct Metered {
    inner: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Storage>, metrics: Arc<Metrics>) -> Arc<Metered> {
        Arc::new(Metered { inner, metrics })
    }
}

/// The resource part of a key: `/registry/pods/ns/name` → `pods`.
fn key_type(key: &str) -> &str {
    key.trim_start_matches('/').split('/').nth(1).unwrap_or("")
}

macro_rules! timed {
    ($self:ident, $op:literal, $key:expr, $call:expr) => {{
        let started = Instant::now();
        let out = $call;
        $self.metrics.observe_storage($op, key_type($key), started.elapsed());
        out
    }};
}

#[async_trait::async_trait]
impl Storage for Metered {
    async fn current_revision(&self) -> StorageResult<i64> {
        timed!(self, "getRevision", "", self.inner.current_revision().await)
    }
    async fn get(&self, key: &str, revision: i64) -> StorageResult<Option<KeyValue>> {
        timed!(self, "get", key, self.inner.get(key, revision).await)
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> StorageResult<ListPage> {
        timed!(
            self,
            "list",
            prefix,
            self.inner.list(prefix, start_after, revision, limit).await
        )
    }
    async fn create_with_ttl(&self, key: &str, value: Bytes, ttl: u64) -> StorageResult<i64> {
        timed!(self, "create", key, self.inner.create_with_ttl(key, value, ttl).await)
    }
    async fn update_with_ttl(&self, key: &str, value: Bytes, expected: i64, ttl: u64) -> StorageResult<i64> {
        timed!(
            self,
            "update",
            key,
            self.inner.update_with_ttl(key, value, expected, ttl).await
        )
    }
    async fn delete(&self, key: &str, expected: i64) -> StorageResult<(i64, KeyValue)> {
        timed!(self, "delete", key, self.inner.delete(key, expected).await)
    }
    async fn watch(&self, prefix: &str, after: i64) -> StorageResult<mpsc::Receiver<StorageResult<WatchItem>>> {
        self.inner.watch(prefix, after).await
    }
    async fn compact(&self, revision: i64) -> StorageResult<()> {
        timed!(self, "compact", "", self.inner.compact(revision).await)
    }
    async fn compacted_revision(&self) -> StorageResult<i64> {
        self.inner.compacted_revision().await
    }
    async fn health(&self) -> Result<(), String> {
        self.inner.health().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_type_is_the_resource_segment() {
        assert_eq!(super::key_type("/registry/pods/default/web"), "pods");
        assert_eq!(super::key_type("/registry/services/specs/default/x"), "services");
        assert_eq!(super::key_type(""), "");
    }
}
