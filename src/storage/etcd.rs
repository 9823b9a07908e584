//! The etcd v3 backend (built in the [etcd] issue).

use super::*;
use std::path::PathBuf;
use std::sync::Arc;

/// Connection settings, named after upstream's flags.
#[derive(Debug, Clone, Default)]
pub struct EtcdOptions {
    /// `--etcd-servers`
    pub endpoints: Vec<String>,
    /// `--etcd-prefix` (default `/registry`): physical keys replace the logical `/registry` root.
    pub prefix: String,
    /// `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

pub struct EtcdStorage {}

impl EtcdStorage {
    pub async fn connect(opts: &EtcdOptions) -> StorageResult<Arc<EtcdStorage>> {
        let _ = opts;
        Err(StorageError::Internal("the etcd backend is not built yet".into()))
    }
}

#[async_trait::async_trait]
impl Storage for EtcdStorage {
    async fn current_revision(&self) -> StorageResult<i64> {
        Err(not_built())
    }
    async fn get(&self, _key: &str, _revision: i64) -> StorageResult<Option<KeyValue>> {
        Err(not_built())
    }
    async fn list(
        &self,
        _prefix: &str,
        _start_after: Option<&str>,
        _revision: i64,
        _limit: usize,
    ) -> StorageResult<ListPage> {
        Err(not_built())
    }
    async fn create(&self, _key: &str, _value: Bytes) -> StorageResult<i64> {
        Err(not_built())
    }
    async fn update(&self, _key: &str, _value: Bytes, _expected: i64) -> StorageResult<i64> {
        Err(not_built())
    }
    async fn delete(&self, _key: &str, _expected: i64) -> StorageResult<(i64, KeyValue)> {
        Err(not_built())
    }
    async fn watch(&self, _prefix: &str, _after: i64) -> StorageResult<mpsc::Receiver<StorageResult<WatchItem>>> {
        Err(not_built())
    }
    async fn compact(&self, _revision: i64) -> StorageResult<()> {
        Err(not_built())
    }
    async fn compacted_revision(&self) -> StorageResult<i64> {
        Err(not_built())
    }
}

fn not_built() -> StorageError {
    StorageError::Internal("the etcd backend is not built yet".into())
}
