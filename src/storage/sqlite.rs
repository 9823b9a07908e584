//! The embedded backend: a kine-style revision log in SQLite (WAL, fsync on commit).
//!
//! ```no_run
//! # async fn demo() -> capstan::storage::StorageResult<()> {
//! use capstan::storage::{sqlite::SqliteStorage, Storage};
//! let store = SqliteStorage::open(std::path::Path::new("/var/lib/capstan/state.db"))?;
//! let rev = store.create("/registry/pods/default/web", bytes::Bytes::from_static(b"{}")).await?;
//! let rev = store.update("/registry/pods/default/web", bytes::Bytes::from_static(b"{\"a\":1}"), rev).await?;
//! let _watch = store.watch("/registry/pods/", rev).await?;
//! # Ok(()) }
//! ```
//!
//! Layout (one append-only table, as kine):
//! - every write appends a row; its `id` is the new global revision (the resourceVersion);
//! - `prev_revision` links a row to the key's previous row, `create_revision` is carried over;
//! - a delete appends a tombstone row (`deleted = 1`, empty value);
//! - the compacted revision lives in the `meta` table; the current revision is the
//!   AUTOINCREMENT sequence, so it never goes backwards even when compaction removes rows.
//!
//! Writes go through one dedicated writer thread owning the only writing connection. It drains
//! queued requests and commits them in one transaction (group commit, one fsync per batch), then
//! publishes the events on a broadcast channel in revision order, then advances the in-memory
//! current revision, then answers the callers. Reads use a small pool of read connections on
//! tokio's blocking pool, each read inside one read transaction (a consistent snapshot).
//!
//! A watch subscribes to the broadcast first, replays history from the database, then follows
//! the broadcast, skipping what it already delivered; when it lags behind the broadcast it
//! reads the database again from its last position. It never skips or repeats a revision.
//!
//! Time to live: a write with a TTL records the key's wall-clock deadline in the `expiry` table
//! (one row per key, indexed by deadline; a write without a TTL removes the row, as an etcd put
//! without a lease detaches the key). A ticker asks the writer to expire keys once the earliest
//! deadline has passed: each is deleted like any other key (a tombstone row, a DELETE event), so
//! watches and the watch cache see it go. Deadlines survive restarts.
//!
//! The writer records when its current batch began, so [`Storage::health`] can tell a writer
//! stuck in a transaction (a dead disk, a lock held by another process) from an idle one.

use super::*;
use crate::util::keys::prefix_end_str;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

/// Tuning knobs for [`SqliteStorage::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Capacity of the in-process event broadcast; a watch that falls further behind re-reads
    /// the database.
    pub broadcast_capacity: usize,
    /// Capacity of each watch's output channel.
    pub watch_channel_capacity: usize,
    /// How often an idle watch reports progress.
    pub progress_interval: Duration,
    /// Revisions compacted per write transaction.
    pub compact_batch_size: i64,
    /// Rows read per history replay query.
    pub replay_batch_size: usize,
    /// Most write requests committed in one transaction (group commit).
    pub max_write_batch: usize,
    /// Queued write requests before callers wait.
    pub write_queue: usize,
    /// SQLite busy timeout.
    pub busy_timeout: Duration,
    /// How often expired keys are looked for.
    pub expiry_interval: Duration,
    /// A writer busy with one batch for longer than this is reported stuck by `health`.
    pub stall_after: Duration,
    /// Deadline of the health read.
    pub health_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            broadcast_capacity: 8192,
            watch_channel_capacity: 1024,
            progress_interval: Duration::from_secs(1),
            compact_batch_size: 1000,
            replay_batch_size: 500,
            max_write_batch: 256,
            write_queue: 4096,
            busy_timeout: Duration::from_secs(30),
            expiry_interval: Duration::from_secs(1),
            stall_after: Duration::from_secs(5),
            health_timeout: Duration::from_secs(2),
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS expiry (
    name TEXT PRIMARY KEY,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS expiry_expires_index ON expiry (expires);
";

/// Keys expired per write transaction.
const EXPIRE_BATCH: i64 = 500;
/// `next_expiry` when no key has a deadline.
const NO_EXPIRY: i64 = i64::MAX;

const COMPACTED_KEY: &str = "compacted_revision";
/// Read connections kept idle in the pool.
const MAX_IDLE_READERS: usize = 4;

fn sql_err(e: rusqlite::Error) -> StorageError {
    StorageError::Internal(format!("sqlite: {e}"))
}

/// The SQLite-backed revision log.
pub struct SqliteStorage {
    opts: SqliteOptions,
    readers: Arc<Readers>,
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<Arc<Event>>,
    current: Arc<AtomicI64>,
    compacted: Arc<AtomicI64>,
    /// When the writer began its current batch (ms since the epoch; 0 = idle).
    busy_since: Arc<AtomicI64>,
}

impl SqliteStorage {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> StorageResult<Arc<Self>> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Open (or create) the database at `path` with explicit tuning.
    pub fn open_with(path: &Path, options: SqliteOptions) -> StorageResult<Arc<Self>> {
        let mut opts = options;
        opts.broadcast_capacity = opts.broadcast_capacity.max(1);
        opts.watch_channel_capacity = opts.watch_channel_capacity.max(1);
        opts.compact_batch_size = opts.compact_batch_size.max(1);
        opts.replay_batch_size = opts.replay_batch_size.max(1);
        opts.max_write_batch = opts.max_write_batch.max(1);
        opts.write_queue = opts.write_queue.max(1);
        if opts.progress_interval.is_zero() {
            opts.progress_interval = Duration::from_secs(1);
        }
        if opts.expiry_interval.is_zero() {
            opts.expiry_interval = Duration::from_secs(1);
        }

        let conn = Connection::open(path).map_err(sql_err)?;
        conn.busy_timeout(opts.busy_timeout).map_err(sql_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Internal(format!(
                "sqlite: cannot enable WAL journal mode on {} (got {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql_err)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(sql_err)?;
        conn.execute_batch(SCHEMA).map_err(sql_err)?;
        // Start with a small WAL; failure (e.g. another reader) is harmless.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let (current, compacted) = read_meta(&conn).map_err(sql_err)?;
        // Also account for rows in case the sequence table was tampered with.
        let max_id: i64 = conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM kine", [], |r| r.get(0))
            .map_err(sql_err)?;
        let current = current.max(max_id);
        let next_expiry = earliest_expiry(&conn).map_err(sql_err)?;

        let readers = Arc::new(Readers {
            path: path.to_path_buf(),
            busy_timeout: opts.busy_timeout,
            idle: Mutex::new(Vec::new()),
        });
        let current_a = Arc::new(AtomicI64::new(current));
        let compacted_a = Arc::new(AtomicI64::new(compacted));
        let next_expiry_a = Arc::new(AtomicI64::new(next_expiry));
        let busy_since = Arc::new(AtomicI64::new(0));
        let (events, _) = broadcast::channel(opts.broadcast_capacity);
        let (requests, rx) = mpsc::channel(opts.write_queue);
        let writer = Writer {
            conn,
            tx: TxState {
                rev: current,
                compacted,
                next_expiry,
            },
            events: events.clone(),
            current: current_a.clone(),
            compacted_a: compacted_a.clone(),
            next_expiry: next_expiry_a.clone(),
            busy_since: busy_since.clone(),
            max_batch: opts.max_write_batch,
        };
        std::thread::Builder::new()
            .name("capstan-sqlite-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StorageError::Internal(format!("cannot start the sqlite writer thread: {e}")))?;
        spawn_expiry_ticker(requests.downgrade(), next_expiry_a, opts.expiry_interval)?;
        Ok(Arc::new(SqliteStorage {
            opts,
            readers,
            requests,
            events,
            current: current_a,
            compacted: compacted_a,
            busy_since,
        }))
    }

    /// Upstream's compactor: every `interval`, compact history to the revision seen at the
    /// previous tick (so at least one interval of history stays, and a continue token or watch
    /// position older than two intervals expires), keeping `min_retain` more revisions when
    /// set; a WAL checkpoint follows. The task ends when the storage is dropped.
    pub fn spawn_compactor(self: &Arc<Self>, interval: Duration, min_retain: i64) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        let interval = if interval.is_zero() {
            Duration::from_secs(300)
        } else {
            interval
        };
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seen_last_tick = 0;
            loop {
                ticker.tick().await;
                let Some(store) = weak.upgrade() else { break };
                let current = store.current.load(Ordering::Acquire);
                let target = seen_last_tick.min(current.saturating_sub(min_retain.max(0)));
                seen_last_tick = current;
                if target <= 0 || target <= store.compacted.load(Ordering::Acquire) {
                    continue;
                }
                match store.compact(target).await {
                    Ok(()) => tracing::debug!(revision = target, "compacted storage history"),
                    Err(e) => tracing::warn!(revision = target, error = %e, "storage compaction failed"),
                }
            }
        })
    }

    async fn write(&self, op: WriteOp) -> StorageResult<Outcome> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request { op, reply })
            .await
            .map_err(|_| StorageError::Internal("sqlite writer has stopped".into()))?;
        rx.await
            .map_err(|_| StorageError::Internal("sqlite writer dropped the request".into()))?
    }

    async fn checkpoint(&self) -> StorageResult<()> {
        self.readers
            .run(|conn| {
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .map_err(sql_err)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn current_revision(&self) -> StorageResult<i64> {
        Ok(self.current.load(Ordering::Acquire))
    }

    async fn get(&self, key: &str, revision: i64) -> StorageResult<Option<KeyValue>> {
        let key = key.to_owned();
        self.readers.run(move |conn| get_at(conn, &key, revision)).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> StorageResult<ListPage> {
        let prefix = prefix.to_owned();
        let start_after = start_after.map(str::to_owned);
        self.readers
            .run(move |conn| list_at(conn, &prefix, start_after.as_deref(), revision, limit))
            .await
    }

    async fn create_with_ttl(&self, key: &str, value: Bytes, ttl: u64) -> StorageResult<i64> {
        match self
            .write(WriteOp::Create {
                key: key.to_owned(),
                value,
                ttl,
            })
            .await?
        {
            Outcome::Rev(rev) => Ok(rev),
            _ => Err(StorageError::Internal("unexpected writer reply".into())),
        }
    }

    async fn update_with_ttl(&self, key: &str, value: Bytes, expected: i64, ttl: u64) -> StorageResult<i64> {
        match self
            .write(WriteOp::Update {
                key: key.to_owned(),
                value,
                expected,
                ttl,
            })
            .await?
        {
            Outcome::Rev(rev) => Ok(rev),
            _ => Err(StorageError::Internal("unexpected writer reply".into())),
        }
    }

    async fn delete(&self, key: &str, expected: i64) -> StorageResult<(i64, KeyValue)> {
        match self
            .write(WriteOp::Delete {
                key: key.to_owned(),
                expected,
            })
            .await?
        {
            Outcome::Deleted(rev, kv) => Ok((rev, kv)),
            _ => Err(StorageError::Internal("unexpected writer reply".into())),
        }
    }

    async fn watch(&self, prefix: &str, after: i64) -> StorageResult<mpsc::Receiver<StorageResult<WatchItem>>> {
        let after = after.max(0);
        let compacted = self.compacted.load(Ordering::Acquire);
        if after < compacted {
            return Err(StorageError::Compacted {
                requested: after,
                compacted,
            });
        }
        // Subscribe before reading history so nothing committed meanwhile is missed.
        let rx = self.events.subscribe();
        let (out, out_rx) = mpsc::channel(self.opts.watch_channel_capacity);
        let task = WatchTask {
            readers: self.readers.clone(),
            prefix: Arc::from(prefix),
            end: prefix_end_str(prefix).map(Arc::from),
            position: after,
            rx,
            out,
            current: self.current.clone(),
            replay_batch: self.opts.replay_batch_size,
        };
        tokio::spawn(task.run(self.opts.progress_interval));
        Ok(out_rx)
    }

    async fn compact(&self, revision: i64) -> StorageResult<()> {
        let current = self.current.load(Ordering::Acquire);
        if revision > current {
            return Err(StorageError::FutureRevision {
                requested: revision,
                current,
            });
        }
        let mut did = false;
        loop {
            let compacted = self.compacted.load(Ordering::Acquire);
            if revision <= compacted {
                break;
            }
            let target = revision.min(compacted.saturating_add(self.opts.compact_batch_size));
            self.write(WriteOp::Compact { target }).await?;
            did = true;
        }
        if did {
            if let Err(e) = self.checkpoint().await {
                tracing::debug!(error = %e, "wal checkpoint after compaction failed");
            }
        }
        Ok(())
    }

    async fn compacted_revision(&self) -> StorageResult<i64> {
        Ok(self.compacted.load(Ordering::Acquire))
    }

    async fn health(&self) -> Result<(), String> {
        if self.requests.is_closed() {
            return Err("the embedded store's writer thread has stopped".into());
        }
        let busy = self.busy_since.load(Ordering::Acquire);
        let stuck_ms = if busy == 0 {
            0
        } else {
            crate::util::unix_millis() - busy
        };
        if stuck_ms > self.opts.stall_after.as_millis() as i64 {
            return Err(format!(
                "the embedded store's writer has been stuck in one write transaction for {:.1}s",
                stuck_ms as f64 / 1000.0
            ));
        }
        // A read through the pool, with a busy timeout no longer than the check's deadline (a
        // lock held by another process fails the check instead of piling up blocked readers).
        let (deadline, normal) = (self.opts.health_timeout, self.opts.busy_timeout);
        let read = self.readers.run(move |conn| {
            conn.busy_timeout(deadline).map_err(sql_err)?;
            let out = conn
                .transaction()
                .map_err(sql_err)
                .and_then(|tx| read_meta(&tx).map_err(sql_err));
            conn.busy_timeout(normal).map_err(sql_err)?;
            out
        });
        match tokio::time::timeout(deadline + Duration::from_millis(500), read).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("reading the embedded store failed: {e}")),
            Err(_) => Err(format!("the embedded store did not answer a read within {deadline:?}")),
        }
    }
}

/// Ask the writer to expire keys whenever the earliest deadline has passed. The thread ends
/// with the storage (the writer's queue closes).
fn spawn_expiry_ticker(
    requests: mpsc::WeakSender<Request>,
    next_expiry: Arc<AtomicI64>,
    every: Duration,
) -> StorageResult<()> {
    std::thread::Builder::new()
        .name("capstan-sqlite-expiry".into())
        .spawn(move || {
            let mut pause = every;
            loop {
                std::thread::sleep(pause);
                pause = every;
                let Some(tx) = requests.upgrade() else { return };
                let now = crate::util::unix_millis();
                if now < next_expiry.load(Ordering::Acquire) {
                    continue;
                }
                // A full queue just means the next tick tries again.
                let (reply, done) = oneshot::channel();
                let sent = tx.try_send(Request {
                    op: WriteOp::Expire { now },
                    reply,
                });
                // Not holding the sender while waiting: the writer ends with the storage.
                drop(tx);
                if sent.is_ok() && matches!(done.blocking_recv(), Ok(Ok(_))) {
                    // One batch at a time: while more keys are due, go again at once.
                    if next_expiry.load(Ordering::Acquire) <= now {
                        pause = Duration::from_millis(1);
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| StorageError::Internal(format!("cannot start the sqlite expiry thread: {e}")))
}

/// The earliest deadline in the expiry index ([`NO_EXPIRY`] when empty).
fn earliest_expiry(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MIN(expires), ?1) FROM expiry")?
        .query_row(params![NO_EXPIRY], |r| r.get(0))
}

/// Record (ttl > 0) or clear the deadline of `key`.
fn set_expiry(conn: &Connection, key: &str, ttl: u64, next: &mut i64) -> rusqlite::Result<()> {
    if ttl == 0 {
        conn.prepare_cached("DELETE FROM expiry WHERE name = ?1")?
            .execute(params![key])?;
        return Ok(());
    }
    let at = crate::util::unix_millis().saturating_add((ttl as i64).saturating_mul(1000));
    conn.prepare_cached(
        "INSERT INTO expiry (name, expires) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET expires = ?2",
    )?
    .execute(params![key, at])?;
    *next = (*next).min(at);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Key ranges

// ---------------------------------------------------------------------------------------------
// Reads

struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> StorageResult<Connection> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(sql_err)?;
        conn.busy_timeout(self.busy_timeout).map_err(sql_err)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
    }

    /// Run `f` with a read connection on the blocking pool.
    async fn run<T, F>(self: &Arc<Self>, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StorageResult<T> + Send + 'static,
    {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = readers.take()?;
            let out = f(&mut conn);
            // A connection left inside a transaction is not reusable.
            if conn.is_autocommit() {
                readers.give_back(conn);
            }
            out
        })
        .await
        .map_err(|e| StorageError::Internal(format!("sqlite read task failed: {e}")))?
    }
}

/// (current revision, compacted revision) as seen by `conn`'s snapshot.
fn read_meta(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    let current: i64 = conn
        .prepare_cached("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'kine'), 0)")?
        .query_row([], |r| r.get(0))?;
    let compacted: i64 = conn
        .prepare_cached("SELECT COALESCE((SELECT value FROM meta WHERE key = ?1), 0)")?
        .query_row(params![COMPACTED_KEY], |r| r.get(0))?;
    Ok((current, compacted))
}

/// Resolve a requested read revision (0 = latest) against a snapshot.
fn read_revision(revision: i64, current: i64, compacted: i64) -> StorageResult<i64> {
    if revision <= 0 {
        return Ok(current);
    }
    if revision < compacted {
        return Err(StorageError::Compacted {
            requested: revision,
            compacted,
        });
    }
    if revision > current {
        return Err(StorageError::FutureRevision {
            requested: revision,
            current,
        });
    }
    Ok(revision)
}

fn get_at(conn: &mut Connection, key: &str, revision: i64) -> StorageResult<Option<KeyValue>> {
    let tx = conn.transaction().map_err(sql_err)?;
    let (current, compacted) = read_meta(&tx).map_err(sql_err)?;
    let rev = read_revision(revision, current, compacted)?;
    let row = tx
        .prepare_cached(
            "SELECT id, deleted, create_revision, value FROM kine WHERE name = ?1 AND id <= ?2 ORDER BY id DESC LIMIT 1",
        )
        .map_err(sql_err)?
        .query_row(params![key, rev], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?))
        })
        .optional()
        .map_err(sql_err)?;
    Ok(match row {
        Some((id, false, create_revision, value)) => Some(KeyValue {
            key: key.to_owned(),
            value: Bytes::from(value),
            create_revision,
            mod_revision: id,
            stale: false,
        }),
        _ => None,
    })
}

fn list_at(
    conn: &mut Connection,
    prefix: &str,
    start_after: Option<&str>,
    revision: i64,
    limit: usize,
) -> StorageResult<ListPage> {
    let tx = conn.transaction().map_err(sql_err)?;
    let (current, compacted) = read_meta(&tx).map_err(sql_err)?;
    let rev = read_revision(revision, current, compacted)?;
    let (lower, lower_op) = match start_after {
        Some(sa) if sa >= prefix => (sa, ">"),
        _ => (prefix, ">="),
    };
    let end = prefix_end_str(prefix);
    let sql = format!(
        "SELECT name, MAX(id), deleted FROM kine WHERE name {lower_op} ?1 {} AND id <= ?2 GROUP BY name ORDER BY name",
        if end.is_some() {
            "AND name < ?3"
        } else {
            "AND ?3 IS NULL"
        }
    );
    let mut names = tx.prepare_cached(&sql).map_err(sql_err)?;
    let mut row_by_id = tx
        .prepare_cached("SELECT deleted, create_revision, value FROM kine WHERE id = ?1")
        .map_err(sql_err)?;
    let mut rows = names.query(params![lower, rev, end]).map_err(sql_err)?;
    let mut items = Vec::new();
    let mut remaining = 0;
    while let Some(row) = rows.next().map_err(sql_err)? {
        let name: String = row.get(0).map_err(sql_err)?;
        if !name.starts_with(prefix) {
            break;
        }
        // SQLite takes `deleted` from the row holding MAX(id): the key's state at `rev`.
        if row.get::<_, bool>(2).map_err(sql_err)? {
            continue;
        }
        if limit > 0 && items.len() >= limit {
            remaining += 1;
            continue;
        }
        let id: i64 = row.get(1).map_err(sql_err)?;
        let found = row_by_id
            .query_row(params![id], |r| {
                Ok((r.get::<_, bool>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?))
            })
            .optional()
            .map_err(sql_err)?;
        let Some((deleted, create_revision, value)) = found else {
            continue;
        };
        if deleted {
            continue;
        }
        items.push(KeyValue {
            key: name,
            value: Bytes::from(value),
            create_revision,
            mod_revision: id,
            stale: false,
        });
    }
    Ok(ListPage {
        items,
        revision: rev,
        more: remaining > 0,
        remaining,
    })
}

/// One page of history for a watch: events for keys under `prefix` with revision in
/// (`after`, current]. Returns the events, the new position and whether history is exhausted.
fn replay_batch(
    conn: &mut Connection,
    prefix: &str,
    end: Option<&str>,
    after: i64,
    limit: usize,
) -> StorageResult<(Vec<Event>, i64, bool)> {
    let tx = conn.transaction().map_err(sql_err)?;
    let (current, compacted) = read_meta(&tx).map_err(sql_err)?;
    if after < compacted {
        return Err(StorageError::Compacted {
            requested: after,
            compacted,
        });
    }
    let sql = format!(
        "SELECT k.id, k.name, k.created, k.deleted, k.value, p.value FROM kine k \
         LEFT JOIN kine p ON p.id = k.prev_revision AND k.created = 0 \
         WHERE k.id > ?1 AND k.id <= ?2 AND k.name >= ?3 {} ORDER BY k.id LIMIT ?5",
        if end.is_some() {
            "AND k.name < ?4"
        } else {
            "AND ?4 IS NULL"
        }
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(sql_err)?;
    let limit_i = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt
        .query(params![after, current, prefix, end, limit_i])
        .map_err(sql_err)?;
    let mut events = Vec::new();
    let mut fetched = 0usize;
    let mut last = after;
    while let Some(row) = rows.next().map_err(sql_err)? {
        fetched += 1;
        let id: i64 = row.get(0).map_err(sql_err)?;
        last = id;
        let name: String = row.get(1).map_err(sql_err)?;
        if !name.starts_with(prefix) {
            continue;
        }
        let created: bool = row.get(2).map_err(sql_err)?;
        let deleted: bool = row.get(3).map_err(sql_err)?;
        let value: Vec<u8> = row.get(4).map_err(sql_err)?;
        let prev: Option<Vec<u8>> = row.get(5).map_err(sql_err)?;
        let prev = prev.map(Bytes::from);
        events.push(if deleted {
            Event {
                kind: EventType::Delete,
                key: name,
                value: prev.clone().unwrap_or_default(),
                prev_value: prev,
                revision: id,
                created: false,
            }
        } else {
            Event {
                kind: EventType::Put,
                key: name,
                value: Bytes::from(value),
                prev_value: if created { None } else { prev },
                revision: id,
                created,
            }
        });
    }
    if fetched < limit {
        Ok((events, current.max(after), true))
    } else {
        Ok((events, last, false))
    }
}

// ---------------------------------------------------------------------------------------------
// Writes

enum WriteOp {
    Create {
        key: String,
        value: Bytes,
        ttl: u64,
    },
    Update {
        key: String,
        value: Bytes,
        expected: i64,
        ttl: u64,
    },
    Delete {
        key: String,
        expected: i64,
    },
    Compact {
        target: i64,
    },
    /// Delete the keys whose deadline is at or before `now` (ms since the epoch).
    Expire {
        now: i64,
    },
}

enum Outcome {
    Rev(i64),
    Deleted(i64, KeyValue),
    Compacted,
    Expired,
}

struct Request {
    op: WriteOp,
    reply: oneshot::Sender<StorageResult<Outcome>>,
}

/// What a write transaction changes besides rows (restored when it rolls back).
#[derive(Clone, Copy)]
struct TxState {
    /// Newest revision written (inside the open transaction while a batch runs).
    rev: i64,
    compacted: i64,
    /// Earliest deadline in the expiry index.
    next_expiry: i64,
}

struct Writer {
    conn: Connection,
    tx: TxState,
    events: broadcast::Sender<Arc<Event>>,
    current: Arc<AtomicI64>,
    compacted_a: Arc<AtomicI64>,
    next_expiry: Arc<AtomicI64>,
    busy_since: Arc<AtomicI64>,
    max_batch: usize,
}

struct Latest {
    id: i64,
    deleted: bool,
    create_revision: i64,
    value: Bytes,
}

impl Latest {
    fn key_value(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.id,
            stale: false,
        }
    }
}

fn latest_row(conn: &Connection, key: &str) -> rusqlite::Result<Option<Latest>> {
    conn.prepare_cached(
        "SELECT id, deleted, create_revision, value FROM kine WHERE name = ?1 ORDER BY id DESC LIMIT 1",
    )?
    .query_row(params![key], |r| {
        Ok(Latest {
            id: r.get(0)?,
            deleted: r.get(1)?,
            create_revision: r.get(2)?,
            value: Bytes::from(r.get::<_, Vec<u8>>(3)?),
        })
    })
    .optional()
}

#[allow(clippy::too_many_arguments)]
fn insert_row(
    conn: &Connection,
    id: i64,
    key: &str,
    created: bool,
    deleted: bool,
    create_revision: i64,
    prev_revision: i64,
    value: &[u8],
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        key,
        created,
        deleted,
        create_revision,
        prev_revision,
        value
    ])?;
    Ok(())
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            self.busy_since.store(crate::util::unix_millis(), Ordering::Release);
            // Tests wedge the writer here (debug builds only) to see the health check fail.
            crate::util::fault::block_while("sqlite-writer-wedge");
            self.commit_batch(batch);
            self.busy_since.store(0, Ordering::Release);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Request>) {
        let start = self.tx;
        let mut results = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let outcome = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for req in &batch {
                results.push(apply(&tx, &mut self.tx, &req.op, &mut events)?);
            }
            tx.commit()
        })();
        match outcome {
            Ok(()) => {
                // Publish in revision order before advancing the visible revision: a watch that
                // sees revision N in `current` finds every event up to N in the broadcast.
                for ev in events {
                    let _ = self.events.send(Arc::new(ev));
                }
                self.current.store(self.tx.rev, Ordering::Release);
                self.compacted_a.store(self.tx.compacted, Ordering::Release);
                self.next_expiry.store(self.tx.next_expiry, Ordering::Release);
                for (req, res) in batch.into_iter().zip(results) {
                    let _ = req.reply.send(res);
                }
            }
            Err(e) => {
                self.tx = start;
                tracing::error!(error = %e, "sqlite write transaction failed");
                let msg = format!("sqlite: {e}");
                for req in batch {
                    let _ = req.reply.send(Err(StorageError::Internal(msg.clone())));
                }
            }
        }
    }
}

/// Apply one request inside the writer's transaction. The outer error aborts the batch; the
/// inner one is the request's own (logical) failure.
fn apply(
    conn: &Connection,
    st: &mut TxState,
    op: &WriteOp,
    events: &mut Vec<Event>,
) -> rusqlite::Result<StorageResult<Outcome>> {
    let TxState {
        rev,
        compacted,
        next_expiry,
    } = st;
    match op {
        WriteOp::Create { key, value, ttl } => {
            let latest = latest_row(conn, key)?;
            if matches!(&latest, Some(l) if !l.deleted) {
                return Ok(Err(StorageError::KeyExists { key: key.clone() }));
            }
            let id = *rev + 1;
            let prev = latest.map(|l| l.id).unwrap_or(0);
            insert_row(conn, id, key, true, false, id, prev, value)?;
            set_expiry(conn, key, *ttl, next_expiry)?;
            *rev = id;
            events.push(Event {
                kind: EventType::Put,
                key: key.clone(),
                value: value.clone(),
                prev_value: None,
                revision: id,
                created: true,
            });
            Ok(Ok(Outcome::Rev(id)))
        }
        WriteOp::Update {
            key,
            value,
            expected,
            ttl,
        } => {
            let latest = match latest_row(conn, key)? {
                Some(l) if !l.deleted => l,
                _ => return Ok(Err(StorageError::NotFound { key: key.clone() })),
            };
            if latest.id != *expected {
                return Ok(Err(StorageError::Conflict {
                    key: key.clone(),
                    current: Some(latest.key_value(key)),
                }));
            }
            let id = *rev + 1;
            insert_row(conn, id, key, false, false, latest.create_revision, latest.id, value)?;
            set_expiry(conn, key, *ttl, next_expiry)?;
            *rev = id;
            events.push(Event {
                kind: EventType::Put,
                key: key.clone(),
                value: value.clone(),
                prev_value: Some(latest.value),
                revision: id,
                created: false,
            });
            Ok(Ok(Outcome::Rev(id)))
        }
        WriteOp::Delete { key, expected } => {
            let latest = match latest_row(conn, key)? {
                Some(l) if !l.deleted => l,
                _ => return Ok(Err(StorageError::NotFound { key: key.clone() })),
            };
            if *expected != 0 && latest.id != *expected {
                return Ok(Err(StorageError::Conflict {
                    key: key.clone(),
                    current: Some(latest.key_value(key)),
                }));
            }
            let kv = latest.key_value(key);
            let id = tombstone(conn, rev, key, latest, events)?;
            set_expiry(conn, key, 0, next_expiry)?;
            Ok(Ok(Outcome::Deleted(id, kv)))
        }
        WriteOp::Expire { now } => {
            let names: Vec<String> = conn
                .prepare_cached("SELECT name FROM expiry WHERE expires <= ?1 ORDER BY expires LIMIT ?2")?
                .query_map(params![now, EXPIRE_BATCH], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for name in &names {
                set_expiry(conn, name, 0, next_expiry)?;
                if let Some(latest) = latest_row(conn, name)?.filter(|l| !l.deleted) {
                    tombstone(conn, rev, name, latest, events)?;
                }
            }
            *next_expiry = earliest_expiry(conn)?;
            Ok(Ok(Outcome::Expired))
        }
        WriteOp::Compact { target } => {
            let target = *target;
            if target > *rev {
                return Ok(Err(StorageError::FutureRevision {
                    requested: target,
                    current: *rev,
                }));
            }
            if target <= *compacted {
                return Ok(Ok(Outcome::Compacted));
            }
            // Rows superseded by a newer row of the same key within the range, then tombstones.
            // Rows superseded earlier were removed by earlier compactions.
            conn.prepare_cached(
                "DELETE FROM kine WHERE id IN \
                 (SELECT prev_revision FROM kine WHERE id > ?1 AND id <= ?2 AND prev_revision != 0)",
            )?
            .execute(params![*compacted, target])?;
            conn.prepare_cached("DELETE FROM kine WHERE id > ?1 AND id <= ?2 AND deleted = 1")?
                .execute(params![*compacted, target])?;
            conn.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            )?
            .execute(params![COMPACTED_KEY, target])?;
            *compacted = target;
            Ok(Ok(Outcome::Compacted))
        }
    }
}

/// Append the deletion of `key` (whose live row is `latest`) and its DELETE event; returns the
/// deletion's revision.
fn tombstone(
    conn: &Connection,
    rev: &mut i64,
    key: &str,
    latest: Latest,
    events: &mut Vec<Event>,
) -> rusqlite::Result<i64> {
    let id = *rev + 1;
    insert_row(conn, id, key, false, true, latest.create_revision, latest.id, &[])?;
    *rev = id;
    events.push(Event {
        kind: EventType::Delete,
        key: key.to_owned(),
        value: latest.value.clone(),
        prev_value: Some(latest.value),
        revision: id,
        created: false,
    });
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// Watch

struct WatchTask {
    readers: Arc<Readers>,
    prefix: Arc<str>,
    end: Option<Arc<str>>,
    /// Every change with revision ≤ position has been delivered (or did not match).
    position: i64,
    rx: broadcast::Receiver<Arc<Event>>,
    out: mpsc::Sender<StorageResult<WatchItem>>,
    current: Arc<AtomicI64>,
    replay_batch: usize,
}

/// Why a watch task stops.
struct Stop;

impl WatchTask {
    async fn run(mut self, progress_every: Duration) {
        if self.catch_up().await.is_err() {
            return;
        }
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + progress_every, progress_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut busy = false;
        loop {
            let step = tokio::select! {
                _ = self.out.closed() => Err(Stop),
                r = self.rx.recv() => match r {
                    Ok(ev) => self.forward(&ev).await.map(|sent| busy |= sent),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await,
                    Err(broadcast::error::RecvError::Closed) => Err(Stop),
                },
                _ = ticker.tick() => {
                    if std::mem::take(&mut busy) { Ok(()) } else { self.progress().await }
                }
            };
            if step.is_err() {
                return;
            }
        }
    }

    /// Deliver a live event unless it was already covered. Returns whether it was sent.
    async fn forward(&mut self, ev: &Event) -> Result<bool, Stop> {
        if ev.revision <= self.position {
            return Ok(false);
        }
        self.position = ev.revision;
        if !ev.key.starts_with(&*self.prefix) {
            return Ok(false);
        }
        self.out
            .send(Ok(WatchItem::Event(ev.clone())))
            .await
            .map_err(|_| Stop)?;
        Ok(true)
    }

    /// Read history from the database from `position` to the current revision.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let (prefix, end, after, limit) = (self.prefix.clone(), self.end.clone(), self.position, self.replay_batch);
            let page = self
                .readers
                .run(move |conn| replay_batch(conn, &prefix, end.as_deref(), after, limit))
                .await;
            match page {
                Ok((events, position, done)) => {
                    for ev in events {
                        self.out.send(Ok(WatchItem::Event(ev))).await.map_err(|_| Stop)?;
                    }
                    self.position = self.position.max(position);
                    if done {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let _ = self.out.send(Err(e)).await;
                    return Err(Stop);
                }
            }
        }
    }

    /// Report that everything up to the current revision was delivered.
    async fn progress(&mut self) -> Result<(), Stop> {
        // Every event up to `current` is already in the broadcast (published before the store).
        let current = self.current.load(Ordering::Acquire);
        loop {
            match self.rx.try_recv() {
                Ok(ev) => {
                    self.forward(&ev).await?;
                }
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.catch_up().await?,
                Err(broadcast::error::TryRecvError::Closed) => return Err(Stop),
            }
        }
        self.position = self.position.max(current);
        self.out
            .send(Ok(WatchItem::Progress(self.position)))
            .await
            .map_err(|_| Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_owned())
    }

    fn opts_fast() -> SqliteOptions {
        SqliteOptions {
            progress_interval: Duration::from_millis(100),
            ..SqliteOptions::default()
        }
    }

    /// Next event, skipping progress notifications.
    async fn next_event(rx: &mut mpsc::Receiver<StorageResult<WatchItem>>) -> Event {
        // One deadline for the event: progress notifications do not extend it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let item = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("watch timed out")
                .expect("watch closed")
                .expect("watch error");
            if let WatchItem::Event(ev) = item {
                return ev;
            }
        }
    }

    /// Another process holding the write lock: reads still answer (WAL), but a write stuck
    /// behind the lock is reported as a stuck writer until the lock goes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn health_fails_while_the_database_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let s = SqliteStorage::open_with(
            &path,
            SqliteOptions {
                health_timeout: Duration::from_millis(300),
                stall_after: Duration::from_millis(500),
                ..opts_fast()
            },
        )
        .unwrap();
        s.create("/registry/pods/a", b("v")).await.unwrap();
        s.health().await.unwrap();
        let lock = Connection::open(&path).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('x', 1);")
            .unwrap();
        s.health().await.unwrap();
        let writer = s.clone();
        let write = tokio::spawn(async move { writer.create("/registry/pods/b", b("v")).await });
        crate::testing::eventually_async("the stuck writer to be reported", Duration::from_secs(10), || async {
            let e = s.health().await.err().unwrap_or_default();
            crate::testing::matching(e, |e| e.contains("stuck in one write transaction"))
        })
        .await;
        lock.execute_batch("ROLLBACK;").unwrap();
        drop(lock);
        write.await.unwrap().unwrap();
        crate::testing::eventually_async("health to recover", Duration::from_secs(10), || s.health()).await;
    }

    /// More keys due than one expiry batch holds: they all go within a few seconds, each with
    /// its DELETE event, and the deadlines survive a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expiry_drains_backlogs_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let n = EXPIRE_BATCH as usize * 2 + 100;
        {
            // No expiry pass while writing: every deadline is due when the store reopens.
            let quiet = SqliteOptions {
                expiry_interval: Duration::from_secs(3600),
                ..opts_fast()
            };
            let s = SqliteStorage::open_with(&path, quiet).unwrap();
            for i in 0..n {
                s.create_with_ttl(&format!("/registry/events/ns/e{i}"), b("v"), 1)
                    .await
                    .unwrap();
            }
            s.create_with_ttl("/registry/events/ns/later", b("v"), 600)
                .await
                .unwrap();
        }
        let s = SqliteStorage::open_with(&path, opts_fast()).unwrap();
        let start = s.current_revision().await.unwrap();
        let mut w = s.watch("/registry/events/", start).await.unwrap();
        let mut deleted = 0;
        while deleted < n {
            let ev = next_event(&mut w).await;
            assert_eq!(ev.kind, EventType::Delete);
            deleted += 1;
        }
        let left = s.list("/registry/events/", None, 0, 0).await.unwrap();
        assert_eq!(
            keys_of(&left),
            vec!["/registry/events/ns/later"],
            "only the key with the longer TTL is left"
        );
    }

    fn keys_of(page: &ListPage) -> Vec<&str> {
        page.items.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[tokio::test]
    async fn list_prefix_pagination_and_past_revision() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db")).unwrap();
        for k in ["a", "b", "c", "d"] {
            s.create(&format!("/registry/pods/ns/{k}"), b(k)).await.unwrap();
        }
        s.create("/registry/pods2/x", b("x")).await.unwrap(); // 5, same textual prefix without slash
        s.create("/registry/services/ns/a", b("s")).await.unwrap(); // 6
        let past = s.current_revision().await.unwrap();
        s.update("/registry/pods/ns/a", b("a2"), 1).await.unwrap(); // 7
        s.delete("/registry/pods/ns/b", 0).await.unwrap(); // 8
        s.create("/registry/pods/ns/e", b("e")).await.unwrap(); // 9

        let page = s.list("/registry/pods/", None, 0, 0).await.unwrap();
        assert_eq!(page.revision, 9);
        assert!(!page.more);
        let keys: Vec<_> = page.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "/registry/pods/ns/a",
                "/registry/pods/ns/c",
                "/registry/pods/ns/d",
                "/registry/pods/ns/e"
            ]
        );
        assert_eq!(page.items[0].value, b("a2"));
        assert_eq!((page.items[0].create_revision, page.items[0].mod_revision), (1, 7));

        // At the past revision, paginated by 2.
        let p1 = s.list("/registry/pods/", None, past, 2).await.unwrap();
        assert_eq!(p1.revision, past);
        assert!(p1.more);
        let keys: Vec<_> = p1.items.iter().map(|kv| (kv.key.as_str(), kv.value.clone())).collect();
        assert_eq!(keys, [("/registry/pods/ns/a", b("a")), ("/registry/pods/ns/b", b("b"))]);
        let p2 = s
            .list("/registry/pods/", Some("/registry/pods/ns/b"), past, 2)
            .await
            .unwrap();
        assert!(!p2.more);
        let keys: Vec<_> = p2.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["/registry/pods/ns/c", "/registry/pods/ns/d"]);
        // Exactly `limit` items left: no more.
        let p3 = s
            .list("/registry/pods/", Some("/registry/pods/ns/c"), 0, 2)
            .await
            .unwrap();
        assert!(!p3.more);
        assert_eq!(p3.items.len(), 2);
        // A deleted key at the end does not count as "more".
        let p4 = s.list("/registry/pods/ns/", None, 0, 3).await.unwrap();
        assert!(p4.more);
        let p5 = s
            .list("/registry/pods/ns/", Some("/registry/pods/ns/d"), 0, 1)
            .await
            .unwrap();
        assert!(!p5.more);
        assert_eq!(p5.items[0].key, "/registry/pods/ns/e");
        // The empty prefix lists everything.
        let all = s.list("", None, 0, 0).await.unwrap();
        assert_eq!(all.items.len(), 6);
        assert_eq!(
            s.list("/registry/", None, 10, 0).await,
            Err(StorageError::FutureRevision {
                requested: 10,
                current: 9
            })
        );
    }

    #[tokio::test]
    async fn compaction_keeps_latest_and_rejects_old_reads() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open_with(
            &dir.path().join("db"),
            SqliteOptions {
                compact_batch_size: 3,
                ..SqliteOptions::default()
            },
        )
        .unwrap();
        let mut rev = s.create("/k/a", b("a0")).await.unwrap(); // 1
        for i in 1..=5 {
            rev = s.update("/k/a", b(&format!("a{i}")), rev).await.unwrap(); // 2..6
        }
        s.create("/k/b", b("b")).await.unwrap(); // 7
        s.delete("/k/b", 0).await.unwrap(); // 8
        s.create("/k/c", b("c")).await.unwrap(); // 9
        s.update("/k/c", b("c1"), 9).await.unwrap(); // 10
        assert_eq!(
            s.compact(11).await,
            Err(StorageError::FutureRevision {
                requested: 11,
                current: 10
            })
        );
        s.compact(9).await.unwrap();
        assert_eq!(s.compacted_revision().await.unwrap(), 9);
        assert_eq!(
            s.get("/k/a", 3).await,
            Err(StorageError::Compacted {
                requested: 3,
                compacted: 9
            })
        );
        assert_eq!(
            s.list("/k/", None, 8, 0).await,
            Err(StorageError::Compacted {
                requested: 8,
                compacted: 9
            })
        );
        assert!(matches!(
            s.watch("/k/", 5).await,
            Err(StorageError::Compacted {
                requested: 5,
                compacted: 9
            })
        ));
        // State at the compacted revision and later is intact.
        let at9 = s.list("/k/", None, 9, 0).await.unwrap();
        let vals: Vec<_> = at9
            .items
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.clone(), kv.mod_revision))
            .collect();
        assert_eq!(vals, [("/k/a", b("a5"), 6), ("/k/c", b("c"), 9)]);
        let now = s.list("/k/", None, 0, 0).await.unwrap();
        let vals: Vec<_> = now.items.iter().map(|kv| (kv.key.as_str(), kv.value.clone())).collect();
        assert_eq!(vals, [("/k/a", b("a5")), ("/k/c", b("c1"))]);
        // A watch from the compacted revision still sees the update with its previous value.
        let mut w = s.watch("/k/", 9).await.unwrap();
        let ev = next_event(&mut w).await;
        assert_eq!((ev.revision, ev.prev_value, ev.created), (10, Some(b("c")), false));
        // Rows: a@6, c@9, c@10 remain.
        let n: i64 = Connection::open(dir.path().join("db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM kine", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        // Compacting again to an older revision is a no-op; writes keep their revisions.
        s.compact(4).await.unwrap();
        assert_eq!(s.update("/k/a", b("a6"), 6).await.unwrap(), 11);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lagging_watch_falls_back_to_history() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteOptions {
            broadcast_capacity: 2,
            watch_channel_capacity: 1,
            replay_batch_size: 7,
            ..opts_fast()
        };
        let s = SqliteStorage::open_with(&dir.path().join("db"), opts).unwrap();
        let mut w = s.watch("/l/", 0).await.unwrap();
        let writer = {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..300 {
                    s.create(&format!("/l/{i:04}"), b("v")).await.unwrap();
                    if i % 3 == 0 {
                        s.create(&format!("/other/{i:04}"), b("v")).await.unwrap();
                    }
                }
            })
        };
        let mut seen = Vec::new();
        while seen.len() < 300 {
            let ev = next_event(&mut w).await;
            if seen.len() % 50 == 0 {
                // A slow consumer on purpose: the watch must fall behind the live feed.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            seen.push(ev);
        }
        writer.await.unwrap();
        for (i, ev) in seen.iter().enumerate() {
            assert_eq!(ev.key, format!("/l/{i:04}"));
        }
        assert!(seen.windows(2).all(|p| p[0].revision < p[1].revision));
        // Nothing extra follows.
        s.create("/l/last", b("v")).await.unwrap();
        assert_eq!(next_event(&mut w).await.key, "/l/last");
    }

    #[tokio::test]
    async fn reopen_keeps_data_and_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let s = SqliteStorage::open(&path).unwrap();
            s.create("/r/a", b("a")).await.unwrap();
            s.create("/r/b", b("b")).await.unwrap();
            s.delete("/r/b", 0).await.unwrap();
            s.create("/r/c", b("c")).await.unwrap(); // 4
            s.delete("/r/c", 0).await.unwrap(); // 5
        }
        {
            let s = SqliteStorage::open(&path).unwrap();
            assert_eq!(s.current_revision().await.unwrap(), 5);
            assert_eq!(s.get("/r/a", 0).await.unwrap().unwrap().value, b("a"));
            assert_eq!(s.get("/r/b", 2).await.unwrap().unwrap().value, b("b"));
            // Compact everything, including the newest row (a tombstone).
            s.compact(5).await.unwrap();
            s.delete("/r/a", 0).await.unwrap(); // 6
            s.compact(6).await.unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.current_revision().await.unwrap(), 6);
        assert_eq!(s.compacted_revision().await.unwrap(), 6);
        assert_eq!(
            s.list("/r/", None, 0, 0).await.unwrap(),
            ListPage {
                items: vec![],
                revision: 6,
                more: false,
                remaining: 0
            }
        );
        assert_eq!(s.create("/r/a", b("again")).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn compactor_task_compacts_to_retention() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("db")).unwrap();
        let mut rev = s.create("/x", b("0")).await.unwrap();
        for i in 0..20 {
            rev = s.update("/x", b(&i.to_string()), rev).await.unwrap();
        }
        let handle = s.spawn_compactor(Duration::from_millis(20), 5);
        for _ in 0..200 {
            if s.compacted_revision().await.unwrap() == 16 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(s.compacted_revision().await.unwrap(), 16);
        assert_eq!(s.get("/x", 0).await.unwrap().unwrap().mod_revision, 21);
        drop(s);
        tokio::time::timeout(Duration::from_secs(2), handle)
            .await
            .unwrap()
            .unwrap();
    }
}
