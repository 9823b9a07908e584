//! Storage is a revision log, shaped after etcd v3 so that the embedded backend and the etcd
//! backend are interchangeable:
//! - every write gets a new global, monotonically increasing revision (the resourceVersion);
//! - writes are compare-and-swap on an object's last modification revision;
//! - reads may be done at a past revision until it is compacted away;
//! - watches deliver every change after a given revision, in order, with no gap.
//!
//! Keys are full etcd-style keys (`/registry/pods/default/web`); values are opaque bytes
//! (objects without `metadata.resourceVersion`, which is derived from the revision). Above
//! [`transcode::Transcoding`] every value is JSON; below it, etcd holds upstream's encoding.
//!
//! A write may give its key a time to live (etcd's leases; the embedded store's expiry index):
//! once it has passed, the backend deletes the key and watches see an ordinary deletion.

pub mod cache;
#[cfg(test)]
mod contract;
mod crd_v1beta1;
pub mod encryption;
pub mod etcd;
pub mod feed;
pub mod metered;
pub mod sqlite;
pub mod transcode;

use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use tokio::sync::mpsc;

/// One stored key at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision at which the key was (last) created.
    pub create_revision: i64,
    /// Revision of the last modification: the object's resourceVersion.
    pub mod_revision: i64,
    /// Read through an encryption provider or key other than the one that writes now: a
    /// rewrite must store it again even when the object is unchanged (upstream's `stale`).
    pub stale: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Put,
    Delete,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventType,
    pub key: String,
    /// The new value for `Put`; the last value before deletion for `Delete`.
    pub value: Bytes,
    /// The previous value for `Put` updates (None on create).
    pub prev_value: Option<Bytes>,
    /// The revision of this change.
    pub revision: i64,
    /// True when this `Put` created the key.
    pub created: bool,
}

/// What a watch stream yields: an event, or a progress notification saying that every change
/// up to `revision` has been delivered (etcd's progress notify / bookmarks).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    Event(Event),
    Progress(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StorageError {
    /// Create of a key that exists.
    KeyExists { key: String },
    /// Key not found (update/delete/get).
    NotFound { key: String },
    /// Compare-and-swap failed: the key's current state (None if it was deleted).
    Conflict { key: String, current: Option<KeyValue> },
    /// The requested revision was compacted away.
    Compacted { requested: i64, compacted: i64 },
    /// A revision in the future was asked for with an exact read.
    FutureRevision { requested: i64, current: i64 },
    /// The backend did not answer in time or cannot be reached (clients get 504).
    Unavailable(String),
    /// Backend failure (I/O, corruption).
    Internal(String),
    /// A value could not be encrypted or decrypted (encryption at rest); reported as is.
    Transform(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::KeyExists { key } => write!(f, "key exists: {key}"),
            StorageError::NotFound { key } => write!(f, "key not found: {key}"),
            StorageError::Conflict { key, .. } => write!(f, "revision conflict on {key}"),
            StorageError::Compacted { requested, compacted } => {
                write!(
                    f,
                    "revision {requested} has been compacted (compacted revision {compacted})"
                )
            }
            StorageError::FutureRevision { requested, current } => {
                write!(f, "revision {requested} is newer than the current revision {current}")
            }
            StorageError::Unavailable(m) => write!(f, "storage unavailable: {m}"),
            StorageError::Internal(m) => write!(f, "storage error: {m}"),
            StorageError::Transform(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StorageError {}

pub type StorageResult<T> = Result<T, StorageError>;

/// One page of a range read.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub items: Vec<KeyValue>,
    /// The revision the page was read at.
    pub revision: i64,
    /// True when more keys follow the last returned one.
    pub more: bool,
    /// How many live keys follow the page (a list's `remainingItemCount`).
    pub remaining: usize,
}

#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The newest committed revision.
    async fn current_revision(&self) -> StorageResult<i64>;

    /// Read one key at `revision` (0 = latest).
    async fn get(&self, key: &str, revision: i64) -> StorageResult<Option<KeyValue>>;

    /// Keys with `prefix`, strictly after `start_after` (when set), in key order, at
    /// `revision` (0 = latest), at most `limit` items (0 = all).
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> StorageResult<ListPage>;

    /// Create `key`; fails with `KeyExists` if it is live. Returns the new revision.
    async fn create(&self, key: &str, value: Bytes) -> StorageResult<i64> {
        self.create_with_ttl(key, value, 0).await
    }

    /// [`create`](Storage::create) with a time to live of `ttl` whole seconds (0: none).
    async fn create_with_ttl(&self, key: &str, value: Bytes, ttl: u64) -> StorageResult<i64>;

    /// Replace `key` only if its mod revision is `expected` (CAS). Returns the new revision.
    /// The key keeps no time to live (as an etcd put without a lease).
    async fn update(&self, key: &str, value: Bytes, expected: i64) -> StorageResult<i64> {
        self.update_with_ttl(key, value, expected, 0).await
    }

    /// [`update`](Storage::update) that gives the key a new time to live of `ttl` seconds
    /// from now (0: none).
    async fn update_with_ttl(&self, key: &str, value: Bytes, expected: i64, ttl: u64) -> StorageResult<i64>;

    /// Delete `key` only if its mod revision is `expected` (0 = unconditionally).
    /// Returns the revision of the deletion and the deleted value.
    async fn delete(&self, key: &str, expected: i64) -> StorageResult<(i64, KeyValue)>;

    /// Every change to keys under `prefix` with revision > `after`, in revision order.
    /// The receiver is bounded; a consumer that stops reading is dropped by the backend.
    /// Fails with `Compacted` when `after` is older than the retained history.
    async fn watch(&self, prefix: &str, after: i64) -> StorageResult<mpsc::Receiver<StorageResult<WatchItem>>>;

    /// Drop history older than `revision` (keeps the latest value of each live key).
    async fn compact(&self, revision: i64) -> StorageResult<()>;

    /// The revision up to which history has been compacted (0 = none).
    async fn compacted_revision(&self) -> StorageResult<i64>;

    /// Whether the backend is reachable and answering now (the `etcd` health checks): a read
    /// within a short deadline, and for the embedded store a writer that is not stuck. The
    /// error says what is wrong.
    async fn health(&self) -> Result<(), String>;
}
