//! The embedded backend: a kine-style revision log in SQLite (WAL, fsync on commit).

use super::*;
use std::path::Path;
use std::sync::Arc;

pub struct SqliteStorage {}

impl SqliteStorage {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> StorageResult<Arc<Self>> {
        let _ = path;
        Err(StorageError::Internal("not built".into()))
    }
}
