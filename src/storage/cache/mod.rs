//! The watch cache: every stored object in memory, fed by ONE storage watch on the whole key
//! space, split into one `WatchCache` per resource. Lists and watches are served from here, so
//! N watchers cost one storage subscription, and every cache is consistent through the same
//! revision at once (the single feed is in revision order).
//!
//! A cache created at run time (a CRD's resource, first seen after start) starts from its own
//! consistent list at a known revision: while that list is read, the feed's events for it are
//! held (bounded; on overflow the list is read again), then the ones newer than the list are
//! applied on top, so no write made meanwhile — by this server or another on the same storage —
//! is lost. [`CacheSet::ensure`] waits for that.
//!
//! Each cache keeps a bounded ring of recent events so a watch can resume from a
//! resourceVersion; older versions get 410 Expired. Each watcher has a bounded queue; a watcher
//! that falls behind is closed (the client re-lists), never buffered without bound.

mod attrs;
mod view;

pub use attrs::{Attrs, Selectable};
pub use view::View;

use super::{EventType, KeyValue, Storage, StorageError, WatchItem};
use bytes::Bytes;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use view::{Contents, Index, Retained};

/// A stored object as served: its JSON encoding (with `metadata.resourceVersion` set), made
/// once and shared by every list, watcher and GET, plus what selectors and the encoders read
/// without decoding it ([`Attrs`]). The decoded tree is not kept: [`CachedObject::value`]
/// decodes it for the few readers that need it.
#[derive(Debug)]
pub struct CachedObject {
    pub key: String,
    pub json: Bytes,
    pub revision: i64,
    /// The protobuf encoding (`k8s\0` envelope), made on first use and then shared like
    /// `json`; `None` inside when the kind has no protobuf form.
    pub protobuf: std::sync::OnceLock<Option<Bytes>>,
    pub attrs: Attrs,
}

/// JSON bytes without spare capacity (they are kept for the object's life).
fn exact(v: Vec<u8>) -> Bytes {
    Bytes::from(v.into_boxed_slice())
}

impl CachedObject {
    /// The object, decoded from its JSON (Null if that could fail: it was encoded from a tree).
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The object's `metadata` only (the rest is skipped, not built).
    pub fn metadata(&self) -> Value {
        #[derive(serde::Deserialize)]
        struct Meta {
            #[serde(default)]
            metadata: Value,
        }
        serde_json::from_slice::<Meta>(&self.json).map_or(Value::Null, |m| m.metadata)
    }

    /// The object's name (the last segment of its key).
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or_default()
    }

    /// The object's namespace, for a namespaced kind's key (`…/<namespace>/<name>`).
    pub fn namespace(&self) -> &str {
        self.key.rsplit('/').nth(1).unwrap_or_default()
    }

    /// The object's protobuf encoding, encoded once per object (None: the kind has none).
    pub fn protobuf(&self) -> Option<&Bytes> {
        self.protobuf
            .get_or_init(|| crate::protobuf::encode(&self.value()).ok().map(Bytes::from))
            .as_ref()
    }

    /// Decode a stored value and stamp its resourceVersion.
    pub fn decode(key: &str, raw: &[u8], revision: i64) -> Option<Arc<CachedObject>> {
        Self::decode_with(key, raw, revision, None)
    }

    /// [`CachedObject::decode`], keeping `selectable`'s field values for selectors.
    pub fn decode_with(
        key: &str,
        raw: &[u8],
        revision: i64,
        selectable: Option<&Selectable>,
    ) -> Option<Arc<CachedObject>> {
        let value: Value = serde_json::from_slice(raw).ok()?;
        Some(Self::build(key, value, revision, selectable))
    }

    fn build(key: &str, mut value: Value, revision: i64, selectable: Option<&Selectable>) -> Arc<CachedObject> {
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(revision.to_string()));
        }
        let json = exact(serde_json::to_vec(&value).unwrap_or_default());
        Arc::new(CachedObject {
            key: key.to_string(),
            attrs: Attrs::of(&value, selectable),
            json,
            revision,
            protobuf: Default::default(),
        })
    }

    /// Wrap an object just written (no re-parse): stamp its resourceVersion and encode once.
    pub fn from_value(key: &str, value: Value, revision: i64) -> Arc<CachedObject> {
        Self::build(key, value, revision, None)
    }

    pub fn from_kv(kv: &KeyValue) -> Option<Arc<CachedObject>> {
        Self::decode(&kv.key, &kv.value, kv.mod_revision)
    }

    /// The same object with other attributes: the encodings are shared, not copied.
    pub fn with_attrs(&self, attrs: Attrs) -> CachedObject {
        CachedObject {
            key: self.key.clone(),
            json: self.json.clone(),
            revision: self.revision,
            protobuf: self.protobuf.clone(),
            attrs,
        }
    }

    /// Heap and inline bytes this entry holds (its encodings and attributes; the JSON and
    /// protobuf may be shared with responses in flight).
    pub fn size(&self) -> usize {
        std::mem::size_of::<CachedObject>()
            + self.key.len()
            + self.json.len()
            + self.protobuf.get().and_then(Option::as_ref).map_or(0, Bytes::len)
            + self.attrs.heap_bytes()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEventType {
    Added,
    Modified,
    Deleted,
}

impl CacheEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheEventType::Added => "ADDED",
            CacheEventType::Modified => "MODIFIED",
            CacheEventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CacheEvent {
    pub kind: CacheEventType,
    /// The new object; for Deleted, the last state (stamped with the deletion revision).
    pub object: Arc<CachedObject>,
    /// The object before this change (None for Added).
    pub prev: Option<Arc<CachedObject>>,
    pub revision: i64,
}

/// What a watcher receives from its cache.
#[derive(Debug, Clone)]
pub enum WatchMsg {
    Event(CacheEvent),
    /// The cache is consistent through this revision (for bookmarks).
    Progress(i64),
}

/// How long an event stays in a cache's history past the `history` count (upstream's
/// `eventFreshDuration`), and the most events kept for it (upstream's upper bound, 100 × 1024).
const HISTORY_FRESH: Duration = Duration::from_secs(75);
const HISTORY_MAX: usize = 100 * 1024;

/// A registered watcher: its initial events (replayed history or a snapshot) and the live queue.
pub struct Subscription {
    pub initial: Vec<CacheEvent>,
    /// Revision the subscription starts from (live events are newer).
    pub revision: i64,
    pub rx: mpsc::Receiver<WatchMsg>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CacheError {
    /// The requested resourceVersion is older than the retained history.
    TooOld { requested: i64, oldest: i64 },
}

struct Watcher {
    id: u64,
    /// The keys it watches (a namespace's, or the whole resource's): only their events are sent.
    prefix: String,
    /// The value of the cache's indexed field it selects on: only events of objects that have
    /// (or had) it are sent, so a kubelet's watch does not see every pod's changes.
    only: Option<String>,
    tx: mpsc::Sender<WatchMsg>,
}

/// A raw change from the feed, held while a new cache reads its first list.
type Pending = (EventType, String, Bytes, i64);

struct State {
    /// While the first list of a cache created at run time is read: the feed's changes for it
    /// (None once loaded; `overflowed` when more arrived than the history holds).
    loading: Option<(Vec<Pending>, bool)>,
    objects: Contents,
    /// The field values kept with each object for selectors (None: none of the kind's own).
    selectable: Option<Selectable>,
    /// The field `objects` is indexed by, if any.
    index: Option<Index>,
    /// The newest revision applied here (the shared revision may be published a moment later).
    applied: i64,
    events: VecDeque<CacheEvent>,
    /// When each of `events` arrived (same order), for the time-based history window.
    event_times: VecDeque<std::time::Instant>,
    /// Watches may start from any revision >= this (all later events are buffered).
    oldest: i64,
    watchers: Vec<Watcher>,
}

/// One resource's cache (one storage key prefix).
pub struct WatchCache {
    pub prefix: String,
    /// `prefix`, shared by the views.
    root: Arc<str>,
    state: RwLock<State>,
    /// Views handed out in continue tokens.
    retained: Retained,
    capacity: usize,
    queue: usize,
    revision: watch::Receiver<i64>,
    next_id: AtomicU64,
    /// True once the cache holds its resource's objects (at once for caches listed at start).
    ready: watch::Sender<bool>,
}

/// The outcome of merging a cache's first list.
#[derive(Debug, PartialEq)]
enum Loaded {
    Done,
    /// More changes arrived during the list than can be held: list again.
    Overflowed,
}

/// A consistent view of a cache at one revision.
pub struct Snapshot {
    pub revision: i64,
    pub items: Vec<Arc<CachedObject>>,
}

impl WatchCache {
    fn new(
        prefix: String,
        revision: watch::Receiver<i64>,
        capacity: usize,
        queue: usize,
        loading: bool,
        selectable: Option<Selectable>,
    ) -> Self {
        let oldest = *revision.borrow();
        WatchCache {
            root: Arc::from(prefix.as_str()),
            prefix,
            retained: Retained::default(),
            state: RwLock::new(State {
                loading: loading.then(|| (Vec::new(), false)),
                objects: Contents::default(),
                index: selectable.and_then(|s| s.indexed).map(|field| Index { field }),
                selectable,
                applied: 0,
                events: VecDeque::new(),
                event_times: VecDeque::new(),
                oldest,
                watchers: Vec::new(),
            }),
            capacity,
            queue,
            revision,
            next_id: AtomicU64::new(1),
            ready: watch::channel(!loading).0,
        }
    }

    /// Merge the first list (objects at `revision`) with the changes held meanwhile: those
    /// the list already reflects are dropped, newer ones applied on top in feed order.
    fn finish_load(&self, objects: BTreeMap<String, Arc<CachedObject>>, revision: i64) -> Loaded {
        let mut guard = self.state.write().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        let pending = match st.loading.take() {
            // A re-list of every cache got here first: it is consistent already.
            None => return Loaded::Done,
            Some((_, true)) => {
                st.loading = Some((Vec::new(), false));
                return Loaded::Overflowed;
            }
            Some((pending, false)) => pending,
        };
        st.objects = Contents::new(&self.prefix, st.index.as_ref(), objects);
        st.applied = revision;
        st.events.clear();
        st.event_times.clear();
        st.oldest = revision;
        for (kind, key, value, rev) in pending.into_iter().filter(|p| p.3 > revision) {
            self.apply_locked(st, kind, &key, &value, rev);
        }
        Loaded::Done
    }

    /// Wait until the cache holds its resource's objects.
    pub async fn wait_ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Newest revision every cache has applied.
    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// Objects under `key_prefix` (a namespace sub-prefix or the whole resource), in key order.
    pub fn snapshot(&self, key_prefix: &str) -> Snapshot {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let revision = self.revision();
        let items = st.objects.range(key_prefix, None).cloned().collect();
        Snapshot { revision, items }
    }

    /// Keep `selectable`'s field values with each object (and index by its indexed field) from
    /// now on; a no-op when already so. The objects held are read again once (O(n)), so a cache
    /// is best given its fields when it is created ([`CacheOptions::selectable`]).
    pub fn select(&self, selectable: Selectable) {
        let same = |st: &State| st.selectable.is_some_and(|s| s.same(&selectable));
        if same(&self.state.read().unwrap_or_else(|e| e.into_inner())) {
            return;
        }
        let mut guard = self.state.write().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        if same(st) {
            return;
        }
        let index = selectable.indexed.map(|field| Index { field });
        let objects = st.objects.range(&self.prefix, None).map(|o| {
            let attrs = Attrs::of(&o.value(), Some(&selectable));
            (o.key.clone(), Arc::new(o.with_attrs(attrs)))
        });
        st.objects = Contents::new(&self.prefix, index.as_ref(), objects.collect::<Vec<_>>());
        st.index = index;
        st.selectable = Some(selectable);
    }

    /// Decode a stored object with the field values this cache keeps.
    fn decode(&self, key: &str, raw: &[u8], revision: i64) -> Option<Arc<CachedObject>> {
        let selectable = self.state.read().unwrap_or_else(|e| e.into_inner()).selectable;
        CachedObject::decode_with(key, raw, revision, selectable.as_ref())
    }

    /// The objects now, as a view that later changes leave untouched (O(1)).
    pub fn view(&self) -> View {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        View::new(self.revision().max(st.applied), self.root.clone(), st.objects.clone())
    }

    /// Keep `view` resumable for a continue token: a page of `key_prefix` ended at
    /// `last_key` after `consumed` keys under the prefix (None: not known).
    pub fn retain(&self, view: &View, key_prefix: &str, last_key: &str, consumed: Option<usize>) {
        self.retained.keep(view, key_prefix, last_key, consumed);
    }

    /// The view at `revision`, if a continue token retained it and it has not expired.
    pub fn retained(&self, revision: i64) -> Option<View> {
        self.retained.get(revision)
    }

    /// Keys under `key_prefix` up to and including `last_key` in the retained view at
    /// `revision`, if a page handed out ended there.
    pub fn consumed(&self, revision: i64, key_prefix: &str, last_key: &str) -> Option<usize> {
        self.retained.consumed(revision, key_prefix, last_key)
    }

    pub fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .objects
            .get(key)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.state.read().unwrap_or_else(|e| e.into_inner()).objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Subscribe to changes after `after`. `None` = "start at most recent": the current
    /// objects under `key_prefix` as synthetic ADDED events, then every later change.
    /// `only` = (field, value): the watcher selects objects whose `field` is `value`; when the
    /// cache indexes that field, it is sent only the changes of such objects.
    pub fn subscribe(
        &self,
        key_prefix: &str,
        after: Option<i64>,
        only: Option<(&str, &str)>,
    ) -> Result<Subscription, CacheError> {
        let (tx, rx) = mpsc::channel(self.queue);
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        let current = self.revision();
        let only = only
            .filter(|(f, _)| st.index.as_ref().is_some_and(|ix| ix.field == *f))
            .map(|(_, v)| v.to_string());
        let (initial, revision) = match after {
            None => {
                let objects: Box<dyn Iterator<Item = &Arc<CachedObject>>> = match &only {
                    Some(v) => {
                        match st
                            .objects
                            .indexed(st.index.as_ref().map_or("", |ix| ix.field), v, key_prefix, None)
                        {
                            Some(it) => Box::new(it),
                            None => Box::new(st.objects.range(key_prefix, None)),
                        }
                    }
                    None => Box::new(st.objects.range(key_prefix, None)),
                };
                let initial = objects
                    .map(|o| CacheEvent {
                        kind: CacheEventType::Added,
                        object: o.clone(),
                        prev: None,
                        revision: o.revision,
                    })
                    .collect();
                (initial, current)
            }
            Some(rv) => {
                if rv < st.oldest {
                    return Err(CacheError::TooOld {
                        requested: rv,
                        oldest: st.oldest + 1,
                    });
                }
                let initial = st
                    .events
                    .iter()
                    .filter(|e| e.revision > rv && e.object.key.starts_with(key_prefix))
                    .cloned()
                    .collect();
                (initial, current.max(rv))
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        st.watchers.push(Watcher {
            id,
            prefix: key_prefix.to_string(),
            only,
            tx,
        });
        Ok(Subscription { initial, revision, rx })
    }

    /// Apply one change from the feed and fan it out. A watcher whose queue is full is
    /// dropped (its stream ends; the client re-lists).
    fn apply(&self, kind: EventType, key: &str, value: &Bytes, revision: i64) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some((pending, overflowed)) = st.loading.as_mut() {
            if pending.len() >= self.capacity {
                *overflowed = true;
                pending.clear();
            } else if !*overflowed {
                pending.push((kind, key.to_string(), value.clone(), revision));
            }
            return;
        }
        self.apply_locked(&mut st, kind, key, value, revision);
    }

    fn apply_locked(&self, st: &mut State, kind: EventType, key: &str, value: &Bytes, revision: i64) {
        st.applied = st.applied.max(revision);
        let prev = st.objects.get(key).cloned();
        let event = match kind {
            EventType::Put => {
                let Some(obj) = CachedObject::decode_with(key, value, revision, st.selectable.as_ref()) else {
                    tracing::warn!(key, revision, "undecodable object in storage; skipped");
                    return;
                };
                st.objects
                    .insert(&self.prefix, st.index.as_ref(), key.to_string(), obj.clone());
                let kind = if prev.is_some() {
                    CacheEventType::Modified
                } else {
                    CacheEventType::Added
                };
                CacheEvent {
                    kind,
                    object: obj,
                    prev,
                    revision,
                }
            }
            EventType::Delete => {
                st.objects.remove(&self.prefix, st.index.as_ref(), key);
                let last = match &prev {
                    Some(p) => CachedObject::decode_with(key, &p.json, revision, st.selectable.as_ref()),
                    None => CachedObject::decode_with(key, value, revision, st.selectable.as_ref()),
                };
                let Some(obj) = last else { return };
                CacheEvent {
                    kind: CacheEventType::Deleted,
                    object: obj,
                    prev,
                    revision,
                }
            }
        };
        // Upstream's watch cache history: at least `capacity` events, and more — up to
        // HISTORY_MAX — while the oldest is younger than HISTORY_FRESH, so a client resumes a
        // watch after a burst of writes instead of getting 410 and re-listing.
        while st.events.len() >= self.capacity {
            let fresh = st.event_times.front().is_some_and(|t| t.elapsed() < HISTORY_FRESH);
            if fresh && st.events.len() < HISTORY_MAX {
                break;
            }
            st.event_times.pop_front();
            match st.events.pop_front() {
                Some(dropped) => st.oldest = dropped.revision,
                None => break,
            }
        }
        st.events.push_back(event.clone());
        st.event_times.push_back(std::time::Instant::now());
        // The indexed field's value now and before: a watcher selecting another value skips it.
        let values = match &st.index {
            Some(ix) if st.watchers.iter().any(|w| w.only.is_some()) => Some([
                ix.value_of(&event.object),
                event.prev.as_ref().and_then(|p| ix.value_of(p)),
            ]),
            _ => None,
        };
        st.watchers.retain(|w| {
            if !key.starts_with(&w.prefix) {
                return true;
            }
            if let (Some(v), Some(values)) = (&w.only, &values) {
                if !values.contains(&Some(v.as_str())) {
                    return true;
                }
            }
            match w.tx.try_send(WatchMsg::Event(event.clone())) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(watcher = w.id, prefix = %self.prefix, "watcher too slow; closing its stream");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Tell watchers the cache is consistent through `revision` (bookmarks); closed watchers
    /// are pruned here too.
    fn progress(&self, revision: i64) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        st.watchers.retain(|w| {
            !w.tx.is_closed()
                && !matches!(
                    w.tx.try_send(WatchMsg::Progress(revision)),
                    Err(mpsc::error::TrySendError::Closed(_))
                )
        });
    }

    fn reset(&self, objects: BTreeMap<String, Arc<CachedObject>>, revision: i64) {
        let mut guard = self.state.write().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        st.loading = None;
        st.objects = Contents::new(&self.prefix, st.index.as_ref(), objects);
        st.applied = revision;
        st.events.clear();
        st.event_times.clear();
        st.oldest = revision;
        // Watchers cannot be resumed across a re-list: close them so clients re-list too.
        st.watchers.clear();
        drop(guard);
        self.ready.send_replace(true);
    }

    pub fn watcher_count(&self) -> usize {
        self.state.read().unwrap_or_else(|e| e.into_inner()).watchers.len()
    }
}

/// A cache's first list, merged with what the feed held meanwhile; ready once the feed has
/// caught up with the list (so its revision covers every object listed).
async fn load(storage: Arc<dyn Storage>, cache: Arc<WatchCache>, mut feed: watch::Receiver<i64>) {
    loop {
        match storage.list(&cache.prefix, None, 0, 0).await {
            Ok(page) => {
                let objects = page
                    .items
                    .iter()
                    .filter_map(|kv| cache.decode(&kv.key, &kv.value, kv.mod_revision))
                    .map(|o| (o.key.clone(), o))
                    .collect();
                if cache.finish_load(objects, page.revision) == Loaded::Done {
                    let _ = feed.wait_for(|r| *r >= page.revision).await;
                    cache.ready.send_replace(true);
                    return;
                }
                tracing::info!(prefix = %cache.prefix, "changes outran the first list; listing again");
            }
            Err(e) => {
                tracing::warn!(prefix = %cache.prefix, error = %e, "first list failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// All caches, fed from one storage watch on `root` (e.g. `/registry/`).
pub struct CacheSet {
    root: String,
    /// Read by caches created at run time for their first list.
    storage: Arc<dyn Storage>,
    /// Set once the first list of everything is in: caches created later load themselves.
    started: std::sync::atomic::AtomicBool,
    caches: RwLock<HashMap<String, Arc<WatchCache>>>,
    revision_tx: watch::Sender<i64>,
    capacity: usize,
    queue: usize,
    selectable: HashMap<String, Selectable>,
}

/// Tunables for the cache.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Events kept per resource for watch resumption.
    pub history: usize,
    /// Queue length per watcher before it is cut off.
    pub watcher_queue: usize,
    /// The field values each resource's cache keeps for selectors, by storage segment, known
    /// before its objects are first read (otherwise they are read again on `select`).
    pub selectable: HashMap<String, Selectable>,
    /// Where the feed (the storage watch applied to the caches) runs ([`crate::storage::feed`]);
    /// none: the caller's runtime.
    pub feed: Option<tokio::runtime::Handle>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            history: 4096,
            watcher_queue: 1024,
            selectable: HashMap::new(),
            feed: None,
        }
    }
}

impl CacheSet {
    /// Start the feed: list everything under `root`, then watch from that revision.
    /// `segments` are the resources to cache (keys of other resources are ignored).
    pub async fn start(
        storage: Arc<dyn Storage>,
        root: &str,
        segments: &[&str],
        opts: CacheOptions,
    ) -> Result<Arc<CacheSet>, StorageError> {
        let (revision_tx, _) = watch::channel(0);
        let set = Arc::new(CacheSet {
            root: root.to_string(),
            storage: storage.clone(),
            started: std::sync::atomic::AtomicBool::new(false),
            caches: RwLock::new(HashMap::new()),
            revision_tx,
            capacity: opts.history,
            queue: opts.watcher_queue,
            selectable: opts.selectable,
        });
        for seg in segments {
            set.cache(seg);
        }
        let rev = set.relist(storage.as_ref()).await?;
        set.started.store(true, Ordering::SeqCst);
        crate::storage::feed::spawn_on(opts.feed.as_ref(), set.clone().run(storage, rev));
        Ok(set)
    }

    /// The cache for a resource storage segment (e.g. `pods`, `services/specs`), created on
    /// first use (CRDs add resources at run time). A cache created after start loads in the
    /// background: await [`CacheSet::ensure`] before serving from it.
    pub fn cache(&self, segment: &str) -> Arc<WatchCache> {
        if let Some(c) = self.caches.read().unwrap_or_else(|e| e.into_inner()).get(segment) {
            return c.clone();
        }
        let mut caches = self.caches.write().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = caches.get(segment) {
            return c.clone();
        }
        let late = self.started.load(Ordering::SeqCst);
        let cache = Arc::new(WatchCache::new(
            format!("{}{}/", self.root, segment),
            self.revision_tx.subscribe(),
            self.capacity,
            self.queue,
            late,
            self.selectable.get(segment).copied(),
        ));
        // Registered before its list is read, so the feed holds every later change for it.
        caches.insert(segment.to_string(), cache.clone());
        drop(caches);
        if late {
            tokio::spawn(load(self.storage.clone(), cache.clone(), self.revision_tx.subscribe()));
        }
        cache
    }

    /// The cache for `segment`, once it holds its resource's objects.
    pub async fn ensure(&self, segment: &str) -> Arc<WatchCache> {
        let cache = self.cache(segment);
        cache.wait_ready().await;
        cache
    }

    /// The newest revision applied to every cache.
    pub fn revision(&self) -> i64 {
        *self.revision_tx.borrow()
    }

    /// Wait until the caches have applied `revision`; false on timeout.
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.revision_tx.subscribe();
        let ok = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision)).await,
            Ok(Ok(_))
        );
        ok
    }

    /// Which cache a key belongs to: two-segment resources (`services/specs`,
    /// `apiregistration.k8s.io/apiservices`) win over one-segment ones.
    fn cache_for_key(&self, key: &str) -> Option<Arc<WatchCache>> {
        let rest = key.strip_prefix(&self.root)?;
        let mut parts = rest.splitn(3, '/');
        let first = parts.next()?;
        let second = parts.next();
        let caches = self.caches.read().unwrap_or_else(|e| e.into_inner());
        if let Some(second) = second {
            if let Some(c) = caches.get(&format!("{first}/{second}")) {
                return Some(c.clone());
            }
        }
        caches.get(first).cloned()
    }

    /// Every cache (a copy of the list, so no lock is held while they are visited).
    fn all(&self) -> Vec<Arc<WatchCache>> {
        let caches = self.caches.read().unwrap_or_else(|e| e.into_inner());
        caches.values().cloned().collect()
    }

    async fn relist(&self, storage: &dyn Storage) -> Result<i64, StorageError> {
        let page = storage.list(&self.root, None, 0, 0).await?;
        let mut grouped: HashMap<String, BTreeMap<String, Arc<CachedObject>>> = HashMap::new();
        for kv in &page.items {
            let Some(cache) = self.cache_for_key(&kv.key) else {
                continue;
            };
            if let Some(obj) = cache.decode(&kv.key, &kv.value, kv.mod_revision) {
                grouped
                    .entry(cache.prefix.clone())
                    .or_default()
                    .insert(kv.key.clone(), obj);
            }
        }
        for c in self.all() {
            c.reset(grouped.remove(&c.prefix).unwrap_or_default(), page.revision);
        }
        self.revision_tx.send_replace(page.revision);
        Ok(page.revision)
    }

    async fn run(self: Arc<Self>, storage: Arc<dyn Storage>, mut rev: i64) {
        loop {
            match storage.watch(&self.root, rev).await {
                Ok(mut rx) => {
                    while let Some(item) = rx.recv().await {
                        match item {
                            Ok(WatchItem::Event(ev)) => {
                                if ev.revision <= rev {
                                    continue;
                                }
                                if let Some(cache) = self.cache_for_key(&ev.key) {
                                    cache.apply(ev.kind, &ev.key, &ev.value, ev.revision);
                                }
                                rev = ev.revision;
                                self.revision_tx.send_replace(rev);
                            }
                            Ok(WatchItem::Progress(p)) => {
                                if p > rev {
                                    rev = p;
                                    self.revision_tx.send_replace(rev);
                                }
                                for c in self.all() {
                                    c.progress(rev);
                                }
                            }
                            Err(StorageError::Compacted { .. }) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "storage watch failed; resuming");
                                break;
                            }
                        }
                    }
                }
                Err(StorageError::Compacted { .. }) => {
                    tracing::warn!(revision = rev, "cache fell behind compaction; re-listing");
                    match self.relist(storage.as_ref()).await {
                        Ok(r) => rev = r,
                        Err(e) => tracing::warn!(error = %e, "re-list failed"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "storage watch could not start; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, v: u32) -> Bytes {
        Bytes::from(format!(r#"{{"metadata":{{"name":"{name}"}},"v":{v}}}"#))
    }

    /// A cache created late merges its first list with the changes held while it was read:
    /// older ones are already in the list, newer ones land on top, in order, as events.
    #[test]
    fn a_late_cache_merges_its_list_with_what_arrived_meanwhile() {
        let (_tx, rx) = watch::channel(10);
        let c = WatchCache::new("/registry/x/".into(), rx, 16, 8, true, None);
        // Changes the feed delivered while the list (at revision 12) was read.
        c.apply(EventType::Put, "/registry/x/a", &obj("a", 1), 11);
        c.apply(EventType::Put, "/registry/x/b", &obj("b", 1), 13);
        c.apply(EventType::Put, "/registry/x/a", &obj("a", 2), 14);
        c.apply(EventType::Delete, "/registry/x/c", &obj("c", 1), 15);
        assert!(c.is_empty(), "nothing is served before the list is in");
        let listed: BTreeMap<_, _> = [("a", 1, 11), ("c", 1, 12)]
            .into_iter()
            .filter_map(|(n, v, r)| CachedObject::decode(&format!("/registry/x/{n}"), &obj(n, v), r))
            .map(|o| (o.key.clone(), o))
            .collect();
        assert_eq!(c.finish_load(listed, 12), Loaded::Done);
        let names: Vec<(String, i64)> = c
            .snapshot("/registry/x/")
            .items
            .iter()
            .map(|o| (o.key.clone(), o.revision))
            .collect();
        assert_eq!(
            names,
            [("/registry/x/a".to_string(), 14), ("/registry/x/b".to_string(), 13)]
        );
        let sub = c
            .subscribe("/registry/x/", Some(12), None)
            .map_err(|e| format!("{e:?}"))
            .expect("subscribe");
        let seen: Vec<(CacheEventType, i64)> = sub.initial.iter().map(|e| (e.kind, e.revision)).collect();
        assert_eq!(
            seen,
            [
                (CacheEventType::Added, 13),
                (CacheEventType::Modified, 14),
                (CacheEventType::Deleted, 15)
            ]
        );
        assert!(
            c.subscribe("/registry/x/", Some(11), None).is_err(),
            "older than the list: expired"
        );
    }

    /// A namespace's watcher gets that namespace's changes only, live as from history (events
    /// of another namespace once leaked into live streams).
    #[test]
    fn a_watcher_gets_only_its_prefix() {
        let (_tx, rx) = watch::channel(0);
        let c = WatchCache::new("/registry/x/".into(), rx, 16, 8, false, None);
        c.apply(EventType::Put, "/registry/x/a/one", &obj("one", 1), 1);
        c.apply(EventType::Put, "/registry/x/b/two", &obj("two", 1), 2);
        let mut sub = c
            .subscribe("/registry/x/a/", Some(0), None)
            .map_err(|e| format!("{e:?}"))
            .expect("subscribe");
        assert_eq!(sub.initial.iter().map(|e| e.revision).collect::<Vec<_>>(), [1]);
        c.apply(EventType::Put, "/registry/x/b/two", &obj("two", 2), 3);
        c.apply(EventType::Put, "/registry/x/ab/three", &obj("three", 1), 4);
        c.apply(EventType::Put, "/registry/x/a/one", &obj("one", 2), 5);
        let mut live = Vec::new();
        while let Ok(WatchMsg::Event(e)) = sub.rx.try_recv() {
            live.push(e.revision);
        }
        assert_eq!(live, [5]);
    }

    #[test]
    fn a_late_cache_lists_again_when_changes_outrun_it() {
        let (_tx, rx) = watch::channel(0);
        let c = WatchCache::new("/registry/x/".into(), rx, 2, 8, true, None);
        for r in 1..=3 {
            c.apply(EventType::Put, "/registry/x/a", &obj("a", r as u32), r);
        }
        assert_eq!(c.finish_load(BTreeMap::new(), 1), Loaded::Overflowed);
        c.apply(EventType::Put, "/registry/x/a", &obj("a", 4), 4);
        assert_eq!(c.finish_load(BTreeMap::new(), 3), Loaded::Done);
        assert_eq!(c.get("/registry/x/a").map(|o| o.revision), Some(4));
    }

    /// Past its `capacity`, a cache keeps the events of the last 75 s (upstream's
    /// eventFreshDuration): a watch resumes from before a burst of writes instead of getting 410.
    #[test]
    fn history_keeps_fresh_events_beyond_its_count() {
        let (_tx, rx) = watch::channel(0);
        let c = WatchCache::new("/registry/x/".into(), rx, 4, 64, false, None);
        for r in 1..=40 {
            c.apply(EventType::Put, "/registry/x/a/one", &obj("one", r as u32), r);
        }
        let sub = c
            .subscribe("/registry/x/", Some(1), None)
            .map_err(|e| format!("{e:?}"))
            .expect("a watch from the first revision resumes");
        assert_eq!(sub.initial.len(), 39);
        // Events older than the window go once the count is exceeded.
        let mut st = c.state.write().unwrap();
        for t in st.event_times.iter_mut() {
            *t = t.checked_sub(HISTORY_FRESH).expect("the clock has run for 75 s");
        }
        drop(st);
        c.apply(EventType::Put, "/registry/x/a/one", &obj("one", 41), 41);
        assert!(matches!(
            c.subscribe("/registry/x/", Some(1), None),
            Err(CacheError::TooOld { .. })
        ));
        assert!(c.subscribe("/registry/x/", Some(37), None).is_ok());
    }
}
