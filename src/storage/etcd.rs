//! The etcd v3 backend: the [`Storage`] revision log mapped onto etcd's own MVCC store, laid
//! out like kube-apiserver's etcd3 store so `etcdctl get --prefix /registry/...` looks familiar.
//!
//! - Logical keys are `/registry/...`; the physical key replaces the leading `/registry` with
//!   `--etcd-prefix` (default `/registry`, so they are identical by default).
//! - Values are the stored JSON bytes as they are (no resourceVersion: it is the mod revision).
//! - create/update/delete are single transactions comparing the key's `mod_revision`, as
//!   upstream's `GuaranteedUpdate`/`Delete` preconditions do.
//! - Reads at a revision map etcd's "required revision has been compacted" to
//!   [`StorageError::Compacted`] and "is a future revision" to [`StorageError::FutureRevision`].
//! - A watch is one etcd watch stream (prev_kv, progress_notify) that reconnects after any
//!   error (leader change, member restart, network), resuming from the last delivered revision
//!   so that no event is lost or repeated. Progress is requested periodically; because etcd
//!   before 3.4.24/3.5.8 may answer a progress request before events it has not sent yet
//!   (etcd-io/etcd#15220), a progress revision is only passed on after it has been confirmed by
//!   a later progress response with no older event in between.
//! - Compaction follows upstream's compactor (`pkg/storage/etcd3/compact.go`): the key
//!   `compact_rev_key` (outside the prefix) holds the last compacted revision and its version
//!   is a logical clock, so several API servers on one etcd compact once per interval.
//! - Every request has a deadline: an unreachable or stopped etcd fails requests within
//!   `request_timeout` with an `Internal` error that names etcd, never a hang.
//! - A write with a time to live attaches an etcd lease, shared between keys as upstream's
//!   `leaseManager` does (`pkg/storage/etcd3/lease_manager.go`): a lease granted for
//!   `ttl + reuse` seconds serves every write asking for `ttl` within the reuse window (5% of the
//!   TTL, at most 60 s) and at most 1000 keys, so a busy Event stream costs few leases. etcd
//!   deletes the keys when the lease expires; watches see the deletions.

use super::*;
use crate::util::keys::prefix_end;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, GetResponse, Identity,
    KvClient, LeaseClient, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse, WatchClient, WatchOptions, WatchResponse,
};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::Instant;

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

/// Timeouts and intervals of the etcd client (defaults suit production; tests shorten them).
#[derive(Debug, Clone)]
pub struct EtcdTuning {
    /// Deadline of every unary request (including the wait for a usable endpoint).
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout per endpoint.
    pub dial_timeout: Duration,
    /// HTTP/2 keepalive ping interval and timeout (detects a stopped or partitioned member).
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// How often a watch asks etcd for a progress notification.
    pub progress_interval: Duration,
    /// A watch stream that answers nothing (not even progress) for this long is re-opened.
    pub watch_stall_timeout: Duration,
    /// Capacity of each watch's output channel.
    pub watch_channel_capacity: usize,
    /// Keys per range request when a list asks for everything.
    pub list_chunk: i64,
    /// Deadline of the health probe.
    pub health_timeout: Duration,
    /// `--lease-reuse-duration-seconds`: the longest a lease is reused for later TTL writes.
    pub lease_reuse_seconds: i64,
    /// Where watches and their etcd connection run ([`super::feed`]); none: the caller's runtime.
    pub watch_runtime: Option<tokio::runtime::Handle>,
}

impl Default for EtcdTuning {
    fn default() -> Self {
        EtcdTuning {
            request_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(5),
            progress_interval: Duration::from_millis(300),
            watch_stall_timeout: Duration::from_secs(10),
            watch_channel_capacity: 1024,
            list_chunk: 10_000,
            health_timeout: Duration::from_secs(2),
            lease_reuse_seconds: 60,
            watch_runtime: None,
        }
    }
}

/// Upstream's compactor bookkeeping key (not under the prefix, as in kube-apiserver).
pub const COMPACT_REV_KEY: &str = "compact_rev_key";
/// The key the health probe reads (upstream reads `health` too).
const HEALTH_KEY: &str = "health";
/// The logical root every key of the API server lives under.
const LOGICAL_ROOT: &str = "/registry";
/// Largest response accepted from etcd (big lists, watch catch-up batches).
const MAX_DECODING: usize = 512 * 1024 * 1024;

/// Upstream's lease reuse: at most this share of the TTL, at most
/// [`EtcdTuning::lease_reuse_seconds`], and at most [`LEASE_MAX_KEYS`] keys per lease.
const LEASE_REUSE_PERCENT: f64 = 0.05;
const LEASE_MAX_KEYS: u32 = 1000;

/// The lease most recently granted, reused by later writes with a similar TTL.
#[derive(Default)]
struct Leases {
    id: i64,
    /// When it expires.
    expires: Option<Instant>,
    keys: u32,
}

/// The etcd-backed revision log.
pub struct EtcdStorage {
    kv: KvClient,
    watch: WatchClient,
    lease: LeaseClient,
    leases: tokio::sync::Mutex<Leases>,
    endpoints: String,
    /// Physical root replacing `/registry` (no trailing slash; may be empty).
    root: Arc<str>,
    tuning: EtcdTuning,
    /// Highest compacted revision known to this process (own compactions, errors, watch cancels).
    compacted: Arc<AtomicI64>,
}

impl EtcdStorage {
    /// Connect with default tuning and check that etcd answers.
    pub async fn connect(opts: &EtcdOptions) -> StorageResult<Arc<EtcdStorage>> {
        Self::connect_with(opts, EtcdTuning::default()).await
    }

    /// Connect with explicit tuning and check that etcd answers (one read of the current
    /// revision within `request_timeout`).
    pub async fn connect_with(opts: &EtcdOptions, tuning: EtcdTuning) -> StorageResult<Arc<EtcdStorage>> {
        let endpoints: Vec<String> = opts
            .endpoints
            .iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(StorageError::Internal(
                "no etcd endpoints given (--etcd-servers)".into(),
            ));
        }
        let mut connect = ConnectOptions::new()
            // Our own deadline (`call`) fires first and names etcd; this one is a backstop.
            .with_timeout(tuning.request_timeout + Duration::from_secs(1))
            .with_connect_timeout(tuning.dial_timeout)
            .with_keep_alive(tuning.keepalive_interval, tuning.keepalive_timeout)
            .with_keep_alive_while_idle(true)
            .with_tcp_keepalive(Duration::from_secs(30))
            // Like upstream's watches (clientv3.WithRequireLeader): a member that lost its leader
            // fails the request/cancels the watch instead of serving stale data silently.
            .with_require_leader(true);
        let any_tls = opts.ca_file.is_some() || opts.cert_file.is_some() || opts.key_file.is_some();
        let endpoints: Vec<String> = if any_tls {
            connect = connect.with_tls(tls_options(opts)?);
            // TLS options only apply to https URLs; bare host:port gets https too.
            endpoints
                .into_iter()
                .map(|e| match e.strip_prefix("http://") {
                    Some(rest) => format!("https://{rest}"),
                    None => e,
                })
                .collect()
        } else {
            endpoints
        };
        let joined = endpoints.join(",");
        let client = dial(endpoints.clone(), connect.clone(), tuning.request_timeout).await?;
        // Watches get a connection of their own on the watch runtime, so etcd's events are read
        // there and not behind the request runtime's queue.
        let watch = match &tuning.watch_runtime {
            Some(rt) => rt
                .spawn(dial(endpoints, connect, tuning.request_timeout))
                .await
                .map_err(|e| StorageError::Internal(format!("etcd: watch connection task failed: {e}")))??
                .watch_client(),
            None => client.watch_client(),
        };
        let root = opts.prefix.trim_end_matches('/').to_string();
        let store = Arc::new(EtcdStorage {
            kv: client.kv_client().max_decoding_message_size(MAX_DECODING),
            watch: watch.max_decoding_message_size(MAX_DECODING),
            lease: client.lease_client(),
            leases: tokio::sync::Mutex::new(Leases::default()),
            endpoints: joined,
            root: Arc::from(root.as_str()),
            tuning,
            compacted: Arc::new(AtomicI64::new(0)),
        });
        store.current_revision().await?;
        if let Ok(Some((rev, _))) = store.read_compact_rev_key().await {
            store.note_compacted(rev);
        }
        Ok(store)
    }

    /// True when etcd answers a read within the health timeout (for /livez/etcd, /readyz/etcd).
    pub async fn healthy(&self) -> bool {
        let mut kv = self.kv.clone();
        matches!(
            tokio::time::timeout(
                self.tuning.health_timeout,
                kv.get(HEALTH_KEY, Some(GetOptions::new().with_count_only()))
            )
            .await,
            Ok(Ok(_))
        )
    }

    /// Health with the reason, for `/readyz/etcd` verbose output.
    pub async fn check_health(&self) -> Result<(), String> {
        let mut kv = self.kv.clone();
        match tokio::time::timeout(
            self.tuning.health_timeout,
            kv.get(HEALTH_KEY, Some(GetOptions::new().with_count_only())),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("etcd at {} is unhealthy: {e}", self.endpoints)),
            Err(_) => Err(format!(
                "etcd at {} did not answer within {:?}",
                self.endpoints, self.tuning.health_timeout
            )),
        }
    }

    /// Upstream's compactor: every `interval`, the server that wins a compare-and-swap on
    /// `compact_rev_key`'s version compacts etcd to the revision it saw one interval earlier.
    /// The task ends when the storage is dropped.
    pub fn spawn_compactor(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        let interval = if interval.is_zero() {
            Duration::from_secs(300)
        } else {
            interval
        };
        tokio::spawn(async move {
            // (compact time = the key's version, revision seen at the last tick)
            let mut compact_time = 0i64;
            let mut rev = 0i64;
            loop {
                tokio::time::sleep(interval).await;
                let Some(store) = weak.upgrade() else { break };
                match store.compact_step(compact_time, rev).await {
                    Ok((t, r)) => {
                        compact_time = t;
                        rev = r;
                    }
                    Err(e) => tracing::warn!(endpoints = %store.endpoints, error = %e, "etcd: compaction failed"),
                }
            }
        })
    }

    /// One round of upstream's compaction protocol; returns the new (compact time, revision).
    async fn compact_step(&self, expect_version: i64, rev: i64) -> StorageResult<(i64, i64)> {
        let txn = Txn::new()
            .when([Compare::version(COMPACT_REV_KEY, CompareOp::Equal, expect_version)])
            .and_then([TxnOp::put(COMPACT_REV_KEY, rev.to_string(), None)])
            .or_else([TxnOp::get(COMPACT_REV_KEY, None)]);
        let resp = self.txn(txn).await?;
        let current = resp.header().map(|h| h.revision()).unwrap_or(0);
        if !resp.succeeded() {
            // Another server compacted meanwhile: adopt its clock and try again next interval.
            let mut version = expect_version;
            for op in resp.op_responses() {
                if let TxnOpResponse::Get(g) = op {
                    if let Some(kv) = g.kvs().first() {
                        version = kv.version();
                        if let Some(r) = std::str::from_utf8(kv.value()).ok().and_then(|s| s.parse::<i64>().ok()) {
                            self.note_compacted(r);
                        }
                    }
                }
            }
            return Ok((version, current));
        }
        let version = expect_version + 1;
        if rev > 0 {
            // Never compact on bootstrap (rev 0), as upstream.
            self.compact(rev).await?;
            tracing::debug!(revision = rev, endpoints = %self.endpoints, "etcd: compacted");
        }
        Ok((version, current))
    }

    /// (compacted revision, version) recorded in `compact_rev_key`, if any.
    async fn read_compact_rev_key(&self) -> StorageResult<Option<(i64, i64)>> {
        let resp = self
            .range_raw(COMPACT_REV_KEY.as_bytes().to_vec(), GetOptions::new(), 0)
            .await?;
        Ok(resp.kvs().first().and_then(|kv| {
            std::str::from_utf8(kv.value())
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .map(|r| (r, kv.version()))
        }))
    }

    fn note_compacted(&self, rev: i64) {
        self.compacted.fetch_max(rev, Ordering::AcqRel);
    }

    /// A lease that lives at least `ttl` seconds, reused while that holds (upstream's
    /// `leaseManager.GetLease`).
    async fn lease_for(&self, ttl: i64) -> StorageResult<i64> {
        let mut leases = self.leases.lock().await;
        let now = Instant::now();
        let reuse = ((LEASE_REUSE_PERCENT * ttl as f64) as i64).min(self.tuning.lease_reuse_seconds);
        let secs = |n: i64| Duration::from_secs(n.max(0) as u64);
        leases.keys += 1;
        if let Some(exp) = leases.expires {
            let valid = now + secs(ttl) < exp;
            let sufficient = now + secs(ttl + reuse) > exp;
            if valid && sufficient && leases.keys <= LEASE_MAX_KEYS {
                return Ok(leases.id);
            }
        }
        let granted = self
            .call("lease grant", true, || {
                let mut lease = self.lease.clone();
                async move { lease.grant(ttl + reuse, None).await }
            })
            .await?;
        *leases = Leases {
            id: granted.id(),
            expires: Some(now + secs(ttl + reuse)),
            keys: 1,
        };
        Ok(granted.id())
    }

    /// Put options for a write with `ttl` seconds to live (none for 0).
    async fn put_options(&self, ttl: u64) -> StorageResult<Option<PutOptions>> {
        if ttl == 0 {
            return Ok(None);
        }
        let id = self.lease_for(i64::try_from(ttl).unwrap_or(i64::MAX)).await?;
        Ok(Some(PutOptions::new().with_lease(id)))
    }

    // -----------------------------------------------------------------------------------------
    // Key mapping

    /// Logical `/registry/...` key to the physical etcd key.
    fn physical(&self, key: &str) -> Vec<u8> {
        to_physical(&self.root, key).into_bytes()
    }

    /// Physical etcd key back to the logical one.
    fn logical(&self, key: &[u8]) -> String {
        to_logical(&self.root, &String::from_utf8_lossy(key))
    }

    fn key_value(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        KeyValue {
            key: self.logical(kv.key()),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
            stale: false,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Requests with deadlines and safe retries

    /// Run `op` until it succeeds, fails with a non-retryable error, or the deadline passes.
    /// `mutation`: only errors proving the request never reached etcd are retried.
    async fn call<T, F, Fut>(&self, what: &str, mutation: bool, mut op: F) -> StorageResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + self.tuning.request_timeout;
        let mut backoff = Duration::from_millis(25);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let err = match tokio::time::timeout(left, op()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
                Err(_) => {
                    return Err(StorageError::Unavailable(format!(
                        "etcd {what} timed out after {:?} (etcd servers {}): etcd is unreachable or overloaded",
                        self.tuning.request_timeout, self.endpoints
                    )))
                }
            };
            if is_compacted(&err) || is_future(&err) {
                return Err(StorageError::Internal(format!("{COMPACTED_MARKER}{err}")));
            }
            let retry = if mutation { never_sent(&err) } else { is_transient(&err) };
            if !retry || Instant::now() + backoff >= deadline {
                let msg = format!(
                    "etcd {what} failed (etcd servers {}): {}",
                    self.endpoints,
                    describe(&err)
                );
                return Err(if is_transient(&err) {
                    StorageError::Unavailable(msg)
                } else {
                    StorageError::Internal(msg)
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// A range read at `revision` (0 = latest) with compaction/future errors mapped.
    async fn range(&self, key: Vec<u8>, options: GetOptions, revision: i64) -> StorageResult<GetResponse> {
        match self.range_raw(key, options, revision).await {
            Err(StorageError::Internal(m)) if m.starts_with(COMPACTED_MARKER) => {
                Err(self.revision_error(&m[COMPACTED_MARKER.len()..], revision).await)
            }
            other => other,
        }
    }

    /// A range read without mapping revision errors (they stay `COMPACTED_MARKER` errors).
    async fn range_raw(&self, key: Vec<u8>, options: GetOptions, revision: i64) -> StorageResult<GetResponse> {
        let options = if revision > 0 {
            options.with_revision(revision)
        } else {
            options
        };
        self.call("read", false, || {
            let mut kv = self.kv.clone();
            let (key, options) = (key.clone(), options.clone());
            async move { kv.get(key, Some(options)).await }
        })
        .await
    }

    /// Map etcd's compacted/future-revision errors for a read at `requested`.
    async fn revision_error(&self, message: &str, requested: i64) -> StorageError {
        if message.contains("future revision") {
            let current = self
                .range_raw(self.root.as_bytes().to_vec(), GetOptions::new().with_count_only(), 0)
                .await
                .ok()
                .and_then(|r| r.header().map(|h| h.revision()))
                .unwrap_or(0);
            return StorageError::FutureRevision { requested, current };
        }
        if let Ok(Some((rev, _))) = self.read_compact_rev_key().await {
            self.note_compacted(rev);
        }
        // etcd does not say how far it compacted; at least past the requested revision.
        self.note_compacted(requested + 1);
        StorageError::Compacted {
            requested,
            compacted: self.compacted.load(Ordering::Acquire),
        }
    }

    async fn txn(&self, txn: Txn) -> StorageResult<etcd_client::TxnResponse> {
        self.call("transaction", true, || {
            let mut kv = self.kv.clone();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await
    }

    /// The current value of `key` from the else-branch of a failed compare.
    fn current_from(&self, resp: &etcd_client::TxnResponse) -> Option<KeyValue> {
        resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| self.key_value(kv)),
            _ => None,
        })
    }
}

/// Marks a compacted/future-revision error inside `call` so `range` can map it.
const COMPACTED_MARKER: &str = "\u{0}revision:";

fn to_physical(root: &str, key: &str) -> String {
    match key.strip_prefix(LOGICAL_ROOT) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{root}{rest}"),
        _ => key.to_string(),
    }
}

fn to_logical(root: &str, key: &str) -> String {
    if root == LOGICAL_ROOT {
        return key.to_string();
    }
    match key.strip_prefix(root) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{LOGICAL_ROOT}{rest}"),
        _ => key.to_string(),
    }
}

fn tls_options(opts: &EtcdOptions) -> StorageResult<TlsOptions> {
    let read = |p: &PathBuf, what: &str| {
        std::fs::read(p).map_err(|e| StorageError::Internal(format!("cannot read etcd {what} {}: {e}", p.display())))
    };
    let mut tls = TlsOptions::new();
    if let Some(ca) = &opts.ca_file {
        tls = tls.ca_certificate(Certificate::from_pem(read(ca, "CA file (--etcd-cafile)")?));
    }
    match (&opts.cert_file, &opts.key_file) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(
                read(cert, "client certificate (--etcd-certfile)")?,
                read(key, "client key (--etcd-keyfile)")?,
            ));
        }
        (None, None) => {}
        _ => {
            return Err(StorageError::Internal(
                "--etcd-certfile and --etcd-keyfile must be given together".into(),
            ))
        }
    }
    Ok(tls)
}

/// gRPC status codes (tonic's `Code` discriminants).
const CODE_CANCELLED: i32 = 1;
const CODE_UNKNOWN: i32 = 2;
const CODE_DEADLINE_EXCEEDED: i32 = 4;
const CODE_UNAVAILABLE: i32 = 14;

/// (status code, message) of a gRPC status error.
fn status_of(err: &etcd_client::Error) -> Option<(i32, &str)> {
    match err {
        etcd_client::Error::GRpcStatus(s) => Some((s.code() as i32, s.message())),
        _ => None,
    }
}

fn is_compacted(err: &etcd_client::Error) -> bool {
    status_of(err).is_some_and(|(_, m)| m.contains("required revision has been compacted"))
}

fn is_future(err: &etcd_client::Error) -> bool {
    status_of(err).is_some_and(|(_, m)| m.contains("required revision is a future revision"))
}

/// Errors worth retrying for reads: the member or the connection is (temporarily) unusable.
fn is_transient(err: &etcd_client::Error) -> bool {
    match err {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => {
            matches!(
                s.code() as i32,
                CODE_UNAVAILABLE | CODE_UNKNOWN | CODE_CANCELLED | CODE_DEADLINE_EXCEEDED
            ) || s.message().contains("leader changed")
                || s.message().contains("no leader")
        }
        _ => false,
    }
}

/// Errors that prove a mutation was never applied (safe to retry).
fn never_sent(err: &etcd_client::Error) -> bool {
    let text = describe(err).to_ascii_lowercase();
    match err {
        etcd_client::Error::TransportError(_) => text.contains("connect"),
        etcd_client::Error::GRpcStatus(s) => {
            s.message().contains("no leader")
                || (s.code() as i32 == CODE_UNAVAILABLE
                    && (text.contains("connect") || text.contains("connection refused") || text.contains("not ready")))
        }
        _ => false,
    }
}

/// The error with its source chain (tonic's Display hides the cause).
fn describe(err: &etcd_client::Error) -> String {
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[async_trait::async_trait]
impl Storage for EtcdStorage {
    async fn current_revision(&self) -> StorageResult<i64> {
        let resp = self
            .range(self.root.as_bytes().to_vec(), GetOptions::new().with_count_only(), 0)
            .await?;
        resp.header()
            .map(|h| h.revision())
            .ok_or_else(|| StorageError::Internal("etcd: response without a header".into()))
    }

    async fn get(&self, key: &str, revision: i64) -> StorageResult<Option<KeyValue>> {
        let resp = self.range(self.physical(key), GetOptions::new(), revision).await?;
        Ok(resp.kvs().first().map(|kv| self.key_value(kv)))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        revision: i64,
        limit: usize,
    ) -> StorageResult<ListPage> {
        let phys_prefix = self.physical(prefix);
        let end = prefix_end(&phys_prefix);
        let mut start = match start_after {
            Some(sa) if sa >= prefix => {
                let mut k = self.physical(sa);
                k.push(0);
                k
            }
            _ => phys_prefix.clone(),
        };
        let want = if limit == 0 { None } else { Some(limit) };
        let mut items = Vec::new();
        let mut read_rev = revision.max(0);
        loop {
            let chunk = match want {
                Some(n) => (n - items.len()) as i64,
                None => self.tuning.list_chunk.max(1),
            };
            let resp = self
                .range(
                    start.clone(),
                    GetOptions::new().with_range(end.clone()).with_limit(chunk),
                    read_rev,
                )
                .await?;
            if read_rev == 0 {
                // Later chunks read the same snapshot.
                read_rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            let kvs = resp.kvs();
            for kv in kvs {
                items.push(self.key_value(kv));
            }
            let more = resp.more();
            // `count` is every key in [start, end) at this revision, the returned ones included.
            let remaining = usize::try_from(resp.count()).unwrap_or(0).saturating_sub(kvs.len());
            let done = match want {
                Some(n) => items.len() >= n,
                None => false,
            };
            if !more || done || kvs.is_empty() {
                return Ok(ListPage {
                    items,
                    revision: read_rev,
                    more,
                    remaining,
                });
            }
            if let Some(last) = kvs.last() {
                start = last.key().to_vec();
                start.push(0);
            }
        }
    }

    async fn create_with_ttl(&self, key: &str, value: Bytes, ttl: u64) -> StorageResult<i64> {
        let k = self.physical(key);
        let put = self.put_options(ttl).await?;
        let txn = Txn::new()
            .when([Compare::mod_revision(k.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(k, value.to_vec(), put)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return Err(StorageError::KeyExists { key: key.to_string() });
        }
        header_revision(&resp)
    }

    async fn update_with_ttl(&self, key: &str, value: Bytes, expected: i64, ttl: u64) -> StorageResult<i64> {
        let k = self.physical(key);
        let put = self.put_options(ttl).await?;
        // mod_revision == 0 would match an absent key (and create it): an update needs a live key.
        let mut compares = vec![Compare::mod_revision(k.clone(), CompareOp::Equal, expected)];
        if expected <= 0 {
            compares.push(Compare::create_revision(k.clone(), CompareOp::Greater, 0));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::put(k.clone(), value.to_vec(), put)])
            .or_else([TxnOp::get(k, None)]);
        let resp = self.txn(txn).await?;
        if resp.succeeded() {
            return header_revision(&resp);
        }
        match self.current_from(&resp) {
            None => Err(StorageError::NotFound { key: key.to_string() }),
            Some(current) => Err(StorageError::Conflict {
                key: key.to_string(),
                current: Some(current),
            }),
        }
    }

    async fn delete(&self, key: &str, expected: i64) -> StorageResult<(i64, KeyValue)> {
        let k = self.physical(key);
        let delete = TxnOp::delete(k.clone(), Some(DeleteOptions::new().with_prev_key()));
        // expected 0: unconditional, but still one atomic step that reports what it deleted.
        let txn = if expected > 0 {
            Txn::new()
                .when([Compare::mod_revision(k.clone(), CompareOp::Equal, expected)])
                .and_then([delete])
                .or_else([TxnOp::get(k, None)])
        } else {
            Txn::new()
                .when([Compare::create_revision(k.clone(), CompareOp::Greater, 0)])
                .and_then([delete])
                .or_else([TxnOp::get(k, None)])
        };
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return match self.current_from(&resp) {
                None => Err(StorageError::NotFound { key: key.to_string() }),
                Some(current) => Err(StorageError::Conflict {
                    key: key.to_string(),
                    current: Some(current),
                }),
            };
        }
        let rev = header_revision(&resp)?;
        let prev = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().map(|kv| self.key_value(kv)),
            _ => None,
        });
        match prev {
            Some(kv) => Ok((rev, kv)),
            None => Err(StorageError::NotFound { key: key.to_string() }),
        }
    }

    async fn watch(&self, prefix: &str, after: i64) -> StorageResult<mpsc::Receiver<StorageResult<WatchItem>>> {
        let after = after.max(0);
        let known = self.compacted.load(Ordering::Acquire);
        if after < known {
            return Err(StorageError::Compacted {
                requested: after,
                compacted: known,
            });
        }
        // Probe the history synchronously so a compacted start fails here (the caller
        // re-lists), like the embedded backend: the state at `after` must still be readable.
        match self
            .range(
                self.root.as_bytes().to_vec(),
                GetOptions::new().with_count_only(),
                after.max(1),
            )
            .await
        {
            Ok(_) | Err(StorageError::FutureRevision { .. }) => {}
            Err(StorageError::Compacted { compacted, .. }) => {
                return Err(StorageError::Compacted {
                    requested: after,
                    compacted,
                })
            }
            Err(e) => return Err(e),
        }
        let key = self.physical(prefix);
        let end = prefix_end(&key);
        let (out, rx) = mpsc::channel(self.tuning.watch_channel_capacity.max(1));
        let task = WatchTask {
            client: self.watch.clone(),
            key,
            end,
            root: self.root.clone(),
            last: after,
            out,
            compacted: self.compacted.clone(),
            tuning: self.tuning.clone(),
            pending: None,
            last_progress_sent: None,
        };
        // Open the etcd watch before returning: once the caller holds the receiver, a compaction
        // by anyone can no longer take the history it asked for.
        let mut task = task;
        match task.open().await {
            Ok(Some(stream)) => {
                super::feed::spawn_on(self.tuning.watch_runtime.as_ref(), task.run(Some(stream)));
                Ok(rx)
            }
            Ok(None) => Err(StorageError::Compacted {
                requested: after,
                compacted: self.compacted.load(Ordering::Acquire),
            }),
            Err(reason) => Err(StorageError::Unavailable(format!(
                "etcd watch could not be opened: {reason}"
            ))),
        }
    }

    async fn compact(&self, revision: i64) -> StorageResult<()> {
        if revision <= self.compacted.load(Ordering::Acquire) {
            return Ok(());
        }
        let current = self.current_revision().await?;
        if revision > current {
            return Err(StorageError::FutureRevision {
                requested: revision,
                current,
            });
        }
        let res = self
            .call("compaction", false, || {
                let mut kv = self.kv.clone();
                async move { kv.compact(revision, None).await }
            })
            .await;
        match res {
            Ok(_) => {}
            // Already compacted at or past `revision` (by another server): nothing to do.
            Err(StorageError::Internal(m)) if m.starts_with(COMPACTED_MARKER) && m.contains("compacted") => {}
            Err(e) => return Err(e),
        }
        self.note_compacted(revision);
        Ok(())
    }

    async fn compacted_revision(&self) -> StorageResult<i64> {
        if let Some((rev, _)) = self.read_compact_rev_key().await? {
            self.note_compacted(rev);
        }
        Ok(self.compacted.load(Ordering::Acquire))
    }

    async fn health(&self) -> Result<(), String> {
        self.check_health().await
    }
}

/// Connect to `endpoints` within `timeout`.
async fn dial(endpoints: Vec<String>, connect: ConnectOptions, timeout: Duration) -> StorageResult<Client> {
    let joined = endpoints.join(",");
    tokio::time::timeout(timeout, Client::connect(&endpoints, Some(connect)))
        .await
        .map_err(|_| StorageError::Unavailable(format!("etcd: timed out connecting to {joined}")))?
        .map_err(|e| StorageError::Internal(format!("etcd: cannot connect to {joined}: {e}")))
}

fn header_revision(resp: &etcd_client::TxnResponse) -> StorageResult<i64> {
    resp.header()
        .map(|h| h.revision())
        .ok_or_else(|| StorageError::Internal("etcd: response without a header".into()))
}

// ---------------------------------------------------------------------------------------------
// Watch

struct WatchTask {
    client: WatchClient,
    key: Vec<u8>,
    end: Vec<u8>,
    root: Arc<str>,
    /// Every change with revision ≤ last has been delivered (or did not match).
    last: i64,
    out: mpsc::Sender<StorageResult<WatchItem>>,
    compacted: Arc<AtomicI64>,
    tuning: EtcdTuning,
    /// A progress revision from etcd waiting for confirmation, and when it arrived.
    pending: Option<(i64, Instant)>,
    last_progress_sent: Option<Instant>,
}

/// Why one watch stream ended.
enum Flow {
    /// The consumer is gone or the watch ended for good.
    Stop,
    /// Re-open from `last`.
    Reconnect(String),
}

impl WatchTask {
    /// Follow `first` (already created), then re-open and follow until the consumer leaves.
    async fn run(mut self, mut first: Option<etcd_client::WatchStream>) {
        let mut backoff = Duration::from_millis(50);
        loop {
            if self.out.is_closed() {
                return;
            }
            let before = self.last;
            let opened = match first.take() {
                Some(stream) => Ok(Some(stream)),
                None => self.open().await,
            };
            match opened {
                Ok(Some(stream)) => match self.follow(stream).await {
                    Flow::Stop => return,
                    Flow::Reconnect(reason) => {
                        tracing::info!(revision = self.last, reason = %reason, "etcd watch interrupted; resuming");
                    }
                },
                Ok(None) => return,
                Err(reason) => {
                    tracing::info!(revision = self.last, reason = %reason, "etcd watch could not be opened; retrying");
                }
            }
            if self.last > before {
                backoff = Duration::from_millis(50);
            }
            tokio::select! {
                _ = self.out.closed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Open a stream from `last + 1` and wait for its creation. `Ok(None)`: the watch ended for
    /// good (compaction reported to the consumer).
    async fn open(&mut self) -> Result<Option<etcd_client::WatchStream>, String> {
        let options = WatchOptions::new()
            .with_range(self.end.clone())
            .with_start_revision(self.last + 1)
            .with_prev_key()
            .with_progress_notify();
        let mut client = self.client.clone();
        let timeout = self.tuning.request_timeout;
        let mut stream = tokio::time::timeout(timeout, client.watch(self.key.clone(), Some(options)))
            .await
            .map_err(|_| format!("no answer within {timeout:?}"))?
            .map_err(|e| describe(&e))?;
        loop {
            let msg = tokio::time::timeout(timeout, stream.message())
                .await
                .map_err(|_| format!("watch not created within {timeout:?}"))?
                .map_err(|e| describe(&e))?
                .ok_or_else(|| "stream closed before the watch was created".to_string())?;
            if msg.compact_revision() > 0 {
                self.compacted_at(msg.compact_revision()).await;
                return Ok(None);
            }
            if msg.canceled() {
                return Err(format!("watch canceled: {}", msg.cancel_reason()));
            }
            if msg.created() {
                return Ok(Some(stream));
            }
        }
    }

    async fn compacted_at(&mut self, compact_revision: i64) {
        self.compacted.fetch_max(compact_revision, Ordering::AcqRel);
        let _ = self
            .out
            .send(Err(StorageError::Compacted {
                requested: self.last,
                compacted: compact_revision,
            }))
            .await;
    }

    async fn follow(&mut self, mut stream: etcd_client::WatchStream) -> Flow {
        let every = self.tuning.progress_interval.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_message = Instant::now();
        self.pending = None;
        loop {
            tokio::select! {
                _ = self.out.closed() => return Flow::Stop,
                _ = ticker.tick() => {
                    if last_message.elapsed() > self.tuning.watch_stall_timeout {
                        return Flow::Reconnect(format!("no response from etcd for {:?}", last_message.elapsed()));
                    }
                    if let Err(e) = stream.request_progress().await {
                        return Flow::Reconnect(format!("cannot request progress: {}", describe(&e)));
                    }
                }
                msg = stream.message() => {
                    let resp = match msg {
                        Ok(Some(resp)) => resp,
                        Ok(None) => return Flow::Reconnect("stream closed by etcd".into()),
                        Err(e) => return Flow::Reconnect(describe(&e)),
                    };
                    last_message = Instant::now();
                    if let Some(flow) = self.handle(resp).await {
                        return flow;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, resp: WatchResponse) -> Option<Flow> {
        if resp.compact_revision() > 0 {
            self.compacted_at(resp.compact_revision()).await;
            return Some(Flow::Stop);
        }
        if resp.canceled() {
            return Some(Flow::Reconnect(format!("watch canceled: {}", resp.cancel_reason())));
        }
        if resp.created() {
            return None;
        }
        let events = resp.events();
        if events.is_empty() {
            let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            return self.progress(revision).await;
        }
        let base = self.last;
        let mut newest = base;
        for ev in events {
            let Some(kv) = ev.kv() else { continue };
            let revision = kv.mod_revision();
            if let Some((p, _)) = self.pending {
                if revision <= p {
                    // etcd sent progress ahead of events: that progress was not trustworthy.
                    self.pending = None;
                }
            }
            if revision <= base {
                continue;
            }
            newest = newest.max(revision);
            let event = self.convert(ev, kv, revision);
            if self.out.send(Ok(WatchItem::Event(event))).await.is_err() {
                return Some(Flow::Stop);
            }
        }
        self.last = newest;
        None
    }

    fn convert(&self, ev: &etcd_client::Event, kv: &etcd_client::KeyValue, revision: i64) -> Event {
        let key = to_logical(&self.root, &String::from_utf8_lossy(kv.key()));
        let prev = ev.prev_kv().map(|p| Bytes::copy_from_slice(p.value()));
        match ev.event_type() {
            etcd_client::EventType::Delete => Event {
                kind: EventType::Delete,
                key,
                value: prev.clone().unwrap_or_default(),
                prev_value: prev,
                revision,
                created: false,
            },
            etcd_client::EventType::Put => {
                let created = kv.create_revision() == kv.mod_revision();
                Event {
                    kind: EventType::Put,
                    key,
                    value: Bytes::copy_from_slice(kv.value()),
                    prev_value: if created { None } else { prev },
                    revision,
                    created,
                }
            }
        }
    }

    /// A progress notification for `revision`: passed on once a later notification confirms
    /// it with no older event in between (see the module docs); otherwise the confirmed
    /// position is repeated about once a second so idle consumers see the watch is alive.
    async fn progress(&mut self, revision: i64) -> Option<Flow> {
        let confirm_after = self.tuning.progress_interval.min(Duration::from_millis(250));
        let now = Instant::now();
        let mut report = None;
        if let Some((p, at)) = self.pending {
            if now.duration_since(at) >= confirm_after && revision >= p {
                self.pending = None;
                if p > self.last {
                    self.last = p;
                    report = Some(p);
                }
            }
        }
        if self.pending.is_none() && revision > self.last {
            self.pending = Some((revision, now));
        }
        if report.is_none()
            && self
                .last_progress_sent
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            report = Some(self.last);
        }
        if let Some(rev) = report {
            self.last_progress_sent = Some(now);
            if self.out.send(Ok(WatchItem::Progress(rev))).await.is_err() {
                return Some(Flow::Stop);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract::{
        b, etcd_options, etcd_storage, etcd_storage_with, next_event, next_item, test_tuning,
    };
    use super::*;
    use crate::testing::TestEtcd;

    #[test]
    fn key_mapping_replaces_the_registry_root() {
        assert_eq!(to_physical("/registry", "/registry/pods/a/b"), "/registry/pods/a/b");
        assert_eq!(to_physical("/capstan", "/registry/pods/a/b"), "/capstan/pods/a/b");
        assert_eq!(to_physical("/capstan", "/registry/"), "/capstan/");
        assert_eq!(to_physical("", "/registry/pods/a"), "/pods/a");
        // Only the whole `/registry` segment is replaced.
        assert_eq!(to_physical("/capstan", "/registryx/a"), "/registryx/a");
        assert_eq!(to_logical("/capstan", "/capstan/pods/a/b"), "/registry/pods/a/b");
        assert_eq!(to_logical("/capstan", "/capstanx/a"), "/capstanx/a");
        assert_eq!(to_logical("/registry", "/registry/x"), "/registry/x");
        assert_eq!(to_logical("", "/pods/a"), "/registry/pods/a");
    }

    /// A raw client, to see what operators see with etcdctl.
    async fn raw(endpoint: &str) -> Client {
        Client::connect([endpoint], None).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn custom_prefix_is_physical_and_hidden_from_callers() {
        let etcd = TestEtcd::start();
        let opts = EtcdOptions {
            prefix: "/capstan/".into(),
            ..etcd_options(&etcd)
        };
        let s = etcd_storage_with(&etcd, &opts).await;
        let mut w = s.watch("/registry/configmaps/", 0).await.unwrap();
        let rev = s.create("/registry/configmaps/ns/a", b("{}")).await.unwrap();
        let mut c = raw(&etcd.endpoint()).await;
        let got = c
            .get("/capstan/configmaps/", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        let keys: Vec<_> = got.kvs().iter().map(|kv| kv.key_str().unwrap().to_string()).collect();
        assert_eq!(keys, ["/capstan/configmaps/ns/a"]);
        assert_eq!(got.kvs()[0].value(), b"{}");
        let none = c
            .get("/registry/", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        assert!(none.kvs().is_empty());
        let page = s.list("/registry/configmaps/", None, 0, 0).await.unwrap();
        assert_eq!(page.items[0].key, "/registry/configmaps/ns/a");
        let ev = next_event(&mut w).await;
        assert_eq!((ev.key.as_str(), ev.revision), ("/registry/configmaps/ns/a", rev));
        // Keys written by other tools outside the prefix are not seen.
        c.put("/registry/configmaps/ns/foreign", "x", None).await.unwrap();
        let rev2 = s
            .update("/registry/configmaps/ns/a", b("{\"a\":1}"), rev)
            .await
            .unwrap();
        let ev = next_event(&mut w).await;
        assert_eq!((ev.key.as_str(), ev.revision), ("/registry/configmaps/ns/a", rev2));
    }

    /// etcd killed and restarted under a running watch: every write acknowledged before and
    /// after is delivered exactly once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_resumes_after_etcd_restart() {
        let mut etcd = TestEtcd::start();
        let s = etcd_storage(&etcd).await;
        let start = s.current_revision().await.unwrap();
        let mut w = s.watch("/registry/pods/", start).await.unwrap();
        let mut acked = Vec::new();
        for i in 0..10 {
            acked.push(s.create(&format!("/registry/pods/ns/p{i}"), b("v")).await.unwrap());
        }
        etcd.kill();
        // Requests fail (fast) while etcd is down.
        let t = Instant::now();
        let err = s.create("/registry/pods/ns/down", b("v")).await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
        assert!(
            matches!(&err, StorageError::Unavailable(m) if m.contains("etcd")),
            "{err:?}"
        );
        etcd.spawn();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut i = 10;
        while acked.len() < 20 {
            match s.create(&format!("/registry/pods/ns/p{i}"), b("v")).await {
                Ok(rev) => {
                    acked.push(rev);
                    i += 1;
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "etcd did not come back: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let mut seen = Vec::new();
        while seen.len() < acked.len() {
            seen.push(next_event(&mut w).await.revision);
        }
        assert_eq!(seen, acked);
        // Nothing duplicated afterwards.
        let last = s.create("/registry/pods/ns/last", b("v")).await.unwrap();
        assert_eq!(next_event(&mut w).await.revision, last);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopped_etcd_fails_fast_and_recovers() {
        let etcd = TestEtcd::start();
        let s = etcd_storage(&etcd).await;
        s.create("/registry/a/x", b("v")).await.unwrap();
        assert!(s.healthy().await);
        crate::testing::stop_process(etcd.pid());
        let t = Instant::now();
        let err = s.get("/registry/a/x", 0).await.unwrap_err();
        let took = t.elapsed();
        assert!(took < Duration::from_secs(5), "took {took:?}");
        match &err {
            StorageError::Unavailable(m) => assert!(m.contains("etcd read timed out after 3s"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!s.healthy().await);
        // Timed out, or the connection already dropped by the keepalive: either names etcd.
        let err = s.check_health().await.unwrap_err();
        assert!(err.contains("did not answer") || err.contains("is unhealthy"), "{err}");
        assert!(err.contains(&etcd.endpoint()), "{err}");
        unsafe {
            libc::kill(etcd.pid(), libc::SIGCONT);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while s.get("/registry/a/x", 0).await.is_err() {
            assert!(Instant::now() < deadline, "no recovery after SIGCONT");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(s.healthy().await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compactor_follows_upstream_protocol() {
        let etcd = TestEtcd::start();
        let s = etcd_storage(&etcd).await;
        let s2 = etcd_storage(&etcd).await;
        let mut rev = s.create("/registry/x/a", b("0")).await.unwrap();
        let first = rev;
        let h1 = s.spawn_compactor(Duration::from_millis(300));
        let h2 = s2.spawn_compactor(Duration::from_millis(300));
        let deadline = Instant::now() + Duration::from_secs(15);
        // The bookkeeping key moves before etcd's compaction is done (the protocol's order):
        // wait for both.
        loop {
            rev = s.update("/registry/x/a", b("v"), rev).await.unwrap();
            if s.compacted_revision().await.unwrap() > first
                && matches!(
                    s.get("/registry/x/a", first).await,
                    Err(StorageError::Compacted { requested, .. }) if requested == first
                )
            {
                break;
            }
            assert!(Instant::now() < deadline, "no compaction happened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let compacted = s.compacted_revision().await.unwrap();
        // The bookkeeping key holds the compacted revision, outside the prefix.
        let mut c = raw(&etcd.endpoint()).await;
        let key = c.get(COMPACT_REV_KEY, None).await.unwrap();
        let stored: i64 = key.kvs()[0].value_str().unwrap().parse().unwrap();
        assert!(
            stored > first && compacted > first,
            "stored {stored}, compacted {compacted}"
        );
        // The other server learns it too.
        assert!(s2.compacted_revision().await.unwrap() >= stored);
        drop((s, s2));
        for h in [h1, h2] {
            tokio::time::timeout(Duration::from_secs(2), h).await.unwrap().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_learns_compaction_while_disconnected() {
        let etcd = TestEtcd::start();
        let s = etcd_storage(&etcd).await;
        let mut rev = s.create("/registry/y/a", b("0")).await.unwrap();
        let mut w = s.watch("/registry/y/", rev).await.unwrap();
        for _ in 0..5 {
            rev = s.update("/registry/y/a", b("v"), rev).await.unwrap();
        }
        // Another server compacts; a fresh watch from an old revision is refused by etcd.
        let mut c = raw(&etcd.endpoint()).await;
        c.compact(rev, None).await.unwrap();
        let s2 = etcd_storage(&etcd).await;
        assert!(matches!(
            s2.watch("/registry/y/", rev - 3).await,
            Err(StorageError::Compacted { requested, .. }) if requested == rev - 3
        ));
        // The running watch is unaffected.
        for _ in 0..5 {
            let item = next_item(&mut w).await.unwrap();
            if let WatchItem::Event(ev) = item {
                assert!(ev.revision <= rev);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tls_with_client_certificates() {
        use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "etcd-ca");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = |name: &str, purpose: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
            p.distinguished_name.push(DnType::CommonName, name);
            p.extended_key_usages = vec![purpose];
            let cert = p.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_crt, server_key) = leaf("etcd-server", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_crt, client_key) = leaf("kube-apiserver-etcd-client", ExtendedKeyUsagePurpose::ClientAuth);
        let path = |n: &str| dir.path().join(n);
        std::fs::write(path("ca.crt"), ca.pem()).unwrap();
        std::fs::write(path("server.crt"), server_crt).unwrap();
        std::fs::write(path("server.key"), server_key).unwrap();
        std::fs::write(path("apiserver-etcd-client.crt"), client_crt).unwrap();
        std::fs::write(path("apiserver-etcd-client.key"), client_key).unwrap();
        let arg = |n: &str| path(n).display().to_string();
        let etcd = TestEtcd::start_with(
            vec![
                "--cert-file".into(),
                arg("server.crt"),
                "--key-file".into(),
                arg("server.key"),
                "--client-cert-auth".into(),
                "--trusted-ca-file".into(),
                arg("ca.crt"),
            ],
            "https",
        );
        let opts = EtcdOptions {
            ca_file: Some(path("ca.crt")),
            cert_file: Some(path("apiserver-etcd-client.crt")),
            key_file: Some(path("apiserver-etcd-client.key")),
            ..etcd_options(&etcd)
        };
        let s = etcd_storage_with(&etcd, &opts).await;
        let rev = s.create("/registry/secrets/ns/s", b("x")).await.unwrap();
        assert_eq!(
            s.get("/registry/secrets/ns/s", 0).await.unwrap().unwrap().mod_revision,
            rev
        );
        let mut w = s.watch("/registry/secrets/", 0).await.unwrap();
        assert_eq!(next_event(&mut w).await.revision, rev);
        // Without a client certificate etcd refuses the connection.
        let no_cert = EtcdOptions {
            cert_file: None,
            key_file: None,
            ..opts.clone()
        };
        assert!(EtcdStorage::connect_with(&no_cert, test_tuning()).await.is_err());
        // A certificate without its key is a configuration error.
        let half = EtcdOptions { key_file: None, ..opts };
        match EtcdStorage::connect_with(&half, test_tuning()).await {
            Err(StorageError::Internal(m)) => {
                assert_eq!(m, "--etcd-certfile and --etcd-keyfile must be given together")
            }
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => panic!("connected with half a client identity"),
        }
    }

    #[tokio::test]
    async fn unreachable_endpoint_fails_within_the_deadline() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Instant::now();
        let res = EtcdStorage::connect_with(
            &EtcdOptions {
                endpoints: vec![format!("http://127.0.0.1:{port}")],
                prefix: "/registry".into(),
                ..EtcdOptions::default()
            },
            test_tuning(),
        )
        .await;
        assert!(t.elapsed() < Duration::from_secs(5));
        match res {
            Err(StorageError::Internal(m)) | Err(StorageError::Unavailable(m)) => assert!(m.contains("etcd"), "{m}"),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => panic!("connected to nothing"),
        }
    }

    /// One dead endpoint among live ones does not fail or stall requests.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_endpoint_among_live_ones() {
        let etcd = TestEtcd::start();
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = EtcdOptions {
            endpoints: vec![format!("http://127.0.0.1:{dead}"), etcd.endpoint()],
            ..etcd_options(&etcd)
        };
        let s = etcd_storage_with(&etcd, &opts).await;
        let t = Instant::now();
        for i in 0..20 {
            s.create(&format!("/registry/z/{i}"), b("v")).await.unwrap();
        }
        assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
        assert_eq!(s.list("/registry/z/", None, 0, 0).await.unwrap().items.len(), 20);
    }
}
