//! The generic store (upstream's `registry/generic/registry/store.go`): one implementation of
//! create/get/list/update/delete/watch for every row of the resource table. Per-kind rules come
//! from the row's strategy; everything else is data on the row.

use super::admission::{Admission, Operation, Write};
use super::allocator::{self, Allocation, ServiceAllocators};
use super::options::{DeleteOptions, ListOptions, Propagation, RvMatch};
use super::pager::{self, ContinueToken};
use super::resources::Resources;
use super::watch::Watch;
use crate::api::{meta, ResourceDef};
use crate::error::field::{FieldError, FieldErrors};
use crate::error::{ApiError, ApiResult};
use crate::storage::cache::{CacheEventType, CacheSet, CachedObject, View, WatchCache};
use crate::storage::{Storage, StorageError};
use crate::util;
use crate::util::json::JsonExt;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a read at a future resourceVersion waits for the cache (upstream: 3s).
const FRESHNESS_WAIT: Duration = Duration::from_secs(3);
/// Upstream's `maxNameGenerationCreateAttempts`.
const GENERATE_NAME_ATTEMPTS: usize = 8;
/// Upstream's `--event-ttl` default: one hour.
pub const DEFAULT_EVENT_TTL: u64 = 3600;

/// A cheap, cloneable handle on everything stored: the storage, its watch caches, the served
/// rows, and the Service IP/port allocators. Controllers and access control hold one.
#[derive(Clone)]
pub struct Registry {
    pub storage: Arc<dyn Storage>,
    pub caches: Arc<CacheSet>,
    /// Storage key root, `/registry/`.
    pub root: String,
    /// The rows served now (built-ins and CRD versions).
    pub resources: Arc<Resources>,
    /// Service ClusterIP/NodePort allocation (None: Services are stored as given).
    pub allocators: Option<Arc<ServiceAllocators>>,
    /// `--event-ttl` in whole seconds: how long the kinds whose rows say
    /// [`Expiry::EventTtl`](crate::api::strategy::Expiry) live after their last write.
    pub event_ttl: u64,
    /// `--delete-collection-workers`: deletes a DeleteCollection runs at once (at least 1).
    pub delete_collection_workers: usize,
    /// The informers started on this registry, for the `informer-sync` health check.
    pub informers: Arc<super::informer::Synced>,
    /// `--feature-gates`: the fields strategies drop while a gate is off.
    pub features: crate::config::features::FeatureGates,
    /// Live lookups that found nothing, not repeated for a while (`lookup.rs`).
    pub(super) empty_lookups: Arc<super::lookup::EmptyLookups>,
    /// The random part of a generated name (upstream's NameGenerator; tests fix it).
    pub name_suffix: fn() -> String,
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
    /// Namespaces' `finalize`: only `spec.finalizers`.
    Finalize,
    /// CertificateSigningRequests' `approval`: only `status.conditions` (upstream's
    /// csrApprovalStrategy).
    Approval,
    /// Pods' `resize`: only the containers' resources and resize policies (upstream's
    /// podResizeStrategy), validated by `ValidatePodResize`.
    Resize,
}

impl Part {
    /// The subresource this part is written through (None for the object itself).
    pub fn subresource(self) -> Option<&'static str> {
        match self {
            Part::Main => None,
            Part::Status => Some("status"),
            Part::Finalize => Some("finalize"),
            Part::Approval => Some("approval"),
            Part::Resize => Some("resize"),
        }
    }
}

/// Outcome of a delete.
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Arc<CachedObject>),
    /// Deletion is pending (finalizers or graceful termination); the object as updated.
    Pending(Arc<CachedObject>),
}

pub struct ListResult {
    pub revision: i64,
    pub items: Vec<Arc<CachedObject>>,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// What a watch stream yields.
#[derive(Debug, Clone)]
pub enum WatchOut {
    Event(CacheEventType, Arc<CachedObject>),
    /// A bookmark at this revision; `true` marks the end of a WatchList's initial events
    /// (annotation `k8s.io/initial-events-end`).
    Bookmark(i64, bool),
    Error(ApiError),
}

/// The UID precondition a client's PUT carries: the object's `metadata.uid`, when set (upstream's
/// `DefaultUpdatedObjectInfo.Preconditions`).
pub fn put_uid(body: &Value) -> Option<&str> {
    body.opt_str_at("/metadata/uid").filter(|u| !u.is_empty())
}

/// Upstream's UID precondition: `want` (a PUT's uid, if any) against the uid of the object
/// stored at `key` (None: no object there).
fn check_uid(def: &ResourceDef, key: &str, name: &str, want: Option<&str>, stored: Option<&str>) -> ApiResult<()> {
    match want {
        Some(uid) if stored != Some(uid) => Err(ApiError::uid_precondition_failed(
            def.plural,
            def.group,
            name,
            key,
            uid,
            stored.unwrap_or(""),
        )),
        _ => Ok(()),
    }
}

fn storage_err(e: StorageError) -> ApiError {
    match e {
        StorageError::Compacted { requested, compacted } => {
            ApiError::expired(format!("too old resource version: {requested} ({compacted})"))
        }
        StorageError::FutureRevision { .. } => ApiError::timeout(
            "Too large resource version: the requested resource version is newer than the server's data",
        ),
        StorageError::Unavailable(m) => {
            tracing::warn!(error = %m, "storage unavailable");
            ApiError::timeout(format!(
                "Timeout: request did not complete within requested timeout - {m}"
            ))
        }
        other => ApiError::internal(other),
    }
}

fn name_of(obj: &Value) -> &str {
    obj.str_at("/metadata/name")
}

/// What a generated name starts with when the object has none: `generateName`, cut to 58
/// characters so the name with its 5 random ones fits 63 (upstream's SimpleNameGenerator).
fn generate_name_base(obj: &Value) -> Option<String> {
    if !name_of(obj).is_empty() {
        return None;
    }
    let prefix = obj.opt_str_at("/metadata/generateName")?;
    (!prefix.is_empty()).then(|| prefix.chars().take(58).collect())
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("metadata is an object")
}

/// Object bytes as stored: without `resourceVersion` (it is the storage revision).
fn encode_for_storage(obj: &Value) -> ApiResult<Bytes> {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("selfLink");
    }
    serde_json::to_vec(&v).map(Bytes::from).map_err(ApiError::internal)
}

/// Everything but metadata and status: what a generation bump compares.
fn spec_part(obj: &Value) -> Value {
    match obj {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn is_namespace(def: &ResourceDef) -> bool {
    def.group.is_empty() && def.kind == "Namespace"
}

/// Upstream's shortening of a pending graceful deletion: the deletion timestamp moves back by
/// the old period and forward by the new one, never into the past (then a non-zero period
/// becomes 1 s, so someone still performs the final delete).
fn shorten_grace_period(obj: &mut Value, existing: i64, requested: i64) {
    let now = std::time::SystemTime::now();
    let at = obj
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(util::parse_rfc3339)
        .unwrap_or(now);
    let mut period = requested;
    let mut at = at
        .checked_sub(Duration::from_secs(existing.max(0) as u64))
        .and_then(|t| t.checked_add(Duration::from_secs(requested.max(0) as u64)))
        .unwrap_or(now);
    if at < now {
        at = now;
        if period != 0 {
            period = 1;
        }
    }
    let m = meta_mut(obj);
    m.insert("deletionTimestamp".into(), json!(util::rfc3339(at)));
    m.insert("deletionGracePeriodSeconds".into(), json!(period));
}

/// Finalizers that hold an object: metadata.finalizers, plus a namespace's spec.finalizers.
fn pending_finalizers(def: &ResourceDef, obj: &Value) -> bool {
    if !finalizers(obj).is_empty() {
        return true;
    }
    is_namespace(def)
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

impl Registry {
    pub fn new(storage: Arc<dyn Storage>, caches: Arc<CacheSet>) -> Registry {
        Registry {
            storage,
            caches,
            root: "/registry/".into(),
            resources: Arc::new(Resources::builtin()),
            allocators: None,
            event_ttl: DEFAULT_EVENT_TTL,
            delete_collection_workers: 1,
            informers: Arc::default(),
            features: Default::default(),
            empty_lookups: Default::default(),
            name_suffix: || util::random_suffix(5),
        }
    }

    /// The time to live of `def`'s objects, in seconds (0: they live until deleted).
    pub fn ttl_of(&self, def: &ResourceDef) -> u64 {
        match def.strategy.expiry() {
            crate::api::strategy::Expiry::Never => 0,
            crate::api::strategy::Expiry::EventTtl => self.event_ttl,
        }
    }

    /// Serve these built-in rows instead of the default ones (`--runtime-config`).
    pub fn with_rows(mut self, builtin: Vec<&'static ResourceDef>) -> Registry {
        self.resources = Arc::new(Resources::serving(builtin));
        self
    }

    /// The row serving `group/version` `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
        self.resources.find(group, version, plural)
    }

    /// The Service allocators, for core Services only.
    fn service_allocators(&self, def: &ResourceDef) -> Option<Arc<ServiceAllocators>> {
        if def.group.is_empty() && def.kind == "Service" {
            self.allocators.clone()
        } else {
            None
        }
    }

    pub fn key_prefix(&self, def: &ResourceDef, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if def.namespaced() => format!("{}{}/{}/", self.root, def.storage, ns),
            _ => format!("{}{}/", self.root, def.storage),
        }
    }

    pub fn key(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> String {
        format!("{}{}", self.key_prefix(def, ns), name)
    }

    /// The kind's watch cache, keeping the kind's selectable field values (and indexed by the
    /// field its strategy names) from its first use if not from its creation.
    fn cache(&self, def: &ResourceDef) -> Arc<WatchCache> {
        let cache = self.caches.cache(def.storage);
        if let Some(selectable) = def.strategy.selectable() {
            cache.select(selectable);
        }
        cache
    }

    /// The indexed field and the one value the selector requires of it, if any.
    fn indexed_term<'a>(def: &ResourceDef, opts: &'a ListOptions) -> Option<(&'static str, &'a str)> {
        let field = def.strategy.indexed_field()?;
        Some((field, opts.field_selector.exact_match(field)?))
    }

    /// `first`: errors found before (the namespace rule's), listed first as upstream does.
    fn validate(
        &self,
        def: &ResourceDef,
        obj: &Value,
        old: Option<&Value>,
        part: Part,
        first: FieldErrors,
    ) -> ApiResult<()> {
        let mut errs = first;
        meta::validate_object_meta(obj, def, &mut errs);
        def.strategy.validate(obj, old, &mut errs);
        if let Some(old) = old {
            meta::validate_object_meta_update(obj, old, &mut errs);
            match part {
                // The resize rules replace the pod's update rules (its spec is otherwise immutable).
                Part::Resize => crate::api::strategy::resize::validate(obj, old, &mut errs),
                _ => def.strategy.validate_update(obj, old, &mut errs),
            }
        }
        def.strategy.validate_gated(&self.features, obj, old, &mut errs);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(def.kind, def.group, name_of(obj), &errs))
        }
    }

    /// The errors of the kind's [`crate::api::strategy::NamespaceRule`] for this write (create:
    /// `old` None; status writes: the stored object). The namespace is read from storage, as
    /// upstream's namespace getter reads through the API.
    async fn namespace_errors(&self, def: &ResourceDef, obj: &Value, old: Option<&Value>) -> FieldErrors {
        let Some(rule) = def.strategy.namespace_rule(obj, old) else {
            return Vec::new();
        };
        let ns = obj.str_at("/metadata/namespace");
        let got = match crate::api::builtin_row("", "namespaces") {
            Some(row) => self.get(row, None, ns, None).await.map(|o| o.value()),
            None => Err(ApiError::internal("the resource table lacks namespaces")),
        };
        match got {
            Ok(nsobj) => (rule.check)(&rule.field, &nsobj).into_iter().collect(),
            Err(e) => vec![FieldError::internal(
                &rule.field,
                format!("could not retrieve namespace to {}: {}", rule.purpose, e.message),
            )],
        }
    }

    /// Create an object without admission (internal writes).
    pub async fn create(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        obj: Value,
        dry_run: bool,
    ) -> ApiResult<Arc<CachedObject>> {
        self.create_with(def, ns, obj, dry_run, None).await
    }

    /// Create an object. `obj` is the decoded body (kind/apiVersion already checked); `actx`:
    /// the request's admission context (None: not admitted).
    pub async fn create_with(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        mut obj: Value,
        dry_run: bool,
        adm: Option<&dyn Admission>,
    ) -> ApiResult<Arc<CachedObject>> {
        let strat = def.strategy;
        strat.check_create(def)?;
        {
            let m = meta_mut(&mut obj);
            if def.namespaced() {
                let url_ns = ns.unwrap_or("");
                match m.get("namespace").and_then(Value::as_str) {
                    Some(body_ns) if !body_ns.is_empty() && body_ns != url_ns => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ))
                    }
                    _ => {
                        m.insert("namespace".into(), json!(url_ns));
                    }
                }
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(util::now_rfc3339()));
            for k in [
                "resourceVersion",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                m.remove(k);
            }
            if def.generation {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        if def.has_status() && !strat.keep_status_on_create() {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        strat.defaults(&mut obj);
        if let Some(a) = adm {
            let name = name_of(&obj).to_string();
            let w = write(Operation::Create, def, ns, &name, "", dry_run);
            a.mutate(self, &w, &mut obj, None).await?;
        }
        // Upstream's PrepareForCreate: after mutating admission, before validation.
        strat.drop_disabled(&self.features, &mut obj, None);
        strat.normalize(def, &mut obj);
        strat.prepare_create(&mut obj);
        // Upstream's BeforeCreate names the object after mutating admission (which sees no name)
        // and, with RetryGenerateName (GA in 1.32), names, validates and admits it again while
        // the generated name is taken, up to 8 attempts.
        let generate = generate_name_base(&obj);
        let mut attempt = 1;
        loop {
            let retry = generate.is_some() && attempt < GENERATE_NAME_ATTEMPTS;
            let mut obj = if retry { obj.clone() } else { std::mem::take(&mut obj) };
            if let Some(base) = &generate {
                meta_mut(&mut obj).insert("name".into(), json!(format!("{base}{}", (self.name_suffix)())));
            }
            let first = self.namespace_errors(def, &obj, None).await;
            self.validate(def, &obj, None, Part::Main, first)?;
            let name = name_of(&obj).to_string();
            if let Some(a) = adm {
                let w = write(Operation::Create, def, ns, &name, "", dry_run);
                a.validate(self, &w, Some(&obj), None).await?;
            }
            let res = self.create_write(def, ns, obj, dry_run, &name).await;
            if let Some(a) = adm {
                a.finish(self, res.is_ok()).await;
            }
            match res {
                Err(e) if retry && e.is_already_exists() => attempt += 1,
                res => return res,
            }
        }
    }

    /// The storage half of create (after admission).
    async fn create_write(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        mut obj: Value,
        dry_run: bool,
        name: &str,
    ) -> ApiResult<Arc<CachedObject>> {
        let name = name.to_string();
        let key = self.key(def, ns, &name);
        let mut svc_alloc: Option<(Arc<ServiceAllocators>, Allocation)> = None;
        if let Some(al) = self.service_allocators(def) {
            // An existing name is a 409, not an "IP already allocated" 422.
            if self.storage.get(&key, 0).await.map_err(storage_err)?.is_some() {
                return Err(ApiError::already_exists(def.plural, def.group, &name));
            }
            let a = al.allocate_create(&mut obj, dry_run).await?;
            svc_alloc = Some((al, a));
        }
        if let Err(e) = def.strategy.to_storage(def, &mut obj).await {
            if let Some((al, a)) = &svc_alloc {
                al.release(a).await;
            }
            return Err(e);
        }
        let bytes = match encode_for_storage(&obj) {
            Ok(b) => b,
            Err(e) => {
                if let Some((al, a)) = &svc_alloc {
                    al.release(a).await;
                }
                return Err(e);
            }
        };
        if dry_run {
            if self.storage.get(&key, 0).await.map_err(storage_err)?.is_some() {
                return Err(ApiError::already_exists(def.plural, def.group, &name));
            }
            return CachedObject::decode(&key, &bytes, 0)
                .ok_or_else(|| ApiError::internal("encode failed"))
                .map(strip_rv);
        }
        let res = self
            .storage
            .create_with_ttl(&key, bytes.clone(), self.ttl_of(def))
            .await;
        if let (Err(_), Some((al, a))) = (&res, &svc_alloc) {
            al.release(a).await;
        }
        match res {
            Ok(rev) => {
                // The collection is no longer empty, whatever the watch cache has applied yet.
                self.empty_lookups.forget(&self.key_prefix(def, ns));
                Ok(CachedObject::from_value(&key, obj, rev))
            }
            Err(StorageError::KeyExists { .. }) => Err(ApiError::already_exists(def.plural, def.group, &name)),
            Err(e) => Err(storage_err(e)),
        }
    }

    /// Get one object. `rv`: None = latest (from storage), Some(0) = any (cache),
    /// Some(n) = not older than n.
    pub async fn get(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        rv: Option<i64>,
    ) -> ApiResult<Arc<CachedObject>> {
        let key = self.key(def, ns, name);
        let found = match rv {
            None => match self.storage.get(&key, 0).await.map_err(storage_err)? {
                Some(kv) => CachedObject::from_kv(&kv),
                None => None,
            },
            Some(n) => {
                if n > 0 && !self.caches.wait_for(n, FRESHNESS_WAIT).await {
                    return Err(too_large_rv());
                }
                self.cache(def).get(&key)
            }
        };
        found.ok_or_else(|| ApiError::not_found(def.plural, def.group, name))
    }

    /// The object a write starts from: on its first attempt the watch cache's copy when there
    /// is one (the write's compare-and-swap proves it current, and one that fails on it is
    /// tried again on a fresh read — see [`Registry::update_with`]), else a fresh read.
    pub async fn get_for_write(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        first_attempt: bool,
    ) -> ApiResult<Arc<CachedObject>> {
        if first_attempt {
            if let Some(o) = self.cache(def).get(&self.key(def, ns, name)) {
                return Ok(o);
            }
        }
        self.get(def, ns, name, None).await
    }

    /// Convert field-selector labels the way the kind does (renames, and 400 for unsupported
    /// fields with upstream's message).
    fn convert_fields(&self, def: &ResourceDef, opts: &ListOptions) -> ApiResult<ListOptions> {
        let mut out = opts.clone();
        out.field_selector = opts
            .field_selector
            .transform(|l| def.strategy.convert_field_label(def, l))
            .map_err(ApiError::bad_request)?;
        Ok(out)
    }

    pub fn matcher<'a>(
        &self,
        def: &'a ResourceDef,
        opts: &'a ListOptions,
    ) -> impl Fn(&CachedObject) -> bool + Sync + 'a {
        move |obj: &CachedObject| selects(def, opts, obj)
    }

    pub async fn list(&self, def: &ResourceDef, ns: Option<&str>, opts: &ListOptions) -> ApiResult<ListResult> {
        let converted = self.convert_fields(def, opts)?;
        let opts = &converted;
        let prefix = self.key_prefix(def, ns);
        let matches = self.matcher(def, opts);
        let selecting = !opts.label_selector.is_empty() || !opts.field_selector.is_empty();
        let sel = Selection {
            prefix: &prefix,
            matches: &matches,
            selecting,
            index: Self::indexed_term(def, opts),
        };

        if let Some(token) = &opts.continue_token {
            let tok = ContinueToken::decode(token)?;
            let start_after = format!("{}{}", self.key_prefix(def, None), tok.start.trim_end_matches('\u{0}'));
            if let Some(view) = self.retained_view(def, tok.rv).await {
                return Ok(self.page_of(def, &view, &sel, Some(&start_after), opts.limit));
            }
            return self
                .list_from_storage(
                    def,
                    &prefix,
                    Some(&start_after),
                    tok.rv,
                    opts.limit,
                    &matches,
                    selecting,
                )
                .await;
        }
        let rv = opts.parsed_rv()?;
        match (rv, opts.rv_match) {
            (Some(n), Some(RvMatch::Exact)) => {
                if self.caches.revision() == n {
                    return Ok(self.list_from_cache(def, &sel, opts.limit));
                }
                if let Some(view) = self.retained_view(def, n).await {
                    return Ok(self.page_of(def, &view, &sel, None, opts.limit));
                }
                self.list_from_storage(def, &prefix, None, n, opts.limit, &matches, selecting)
                    .await
            }
            (Some(0), _) => {
                // Any version: serve the cache as is; upstream ignores limit here.
                Ok(self.list_from_cache(def, &sel, 0))
            }
            (Some(n), _) => {
                if !self.caches.wait_for(n, FRESHNESS_WAIT).await {
                    return Err(too_large_rv());
                }
                Ok(self.list_from_cache(def, &sel, opts.limit))
            }
            (None, _) => {
                // Consistent read: the cache must have caught up with storage's newest revision.
                let current = self.storage.current_revision().await.map_err(storage_err)?;
                if !self.caches.wait_for(current, FRESHNESS_WAIT).await {
                    return self
                        .list_from_storage(def, &prefix, None, current, opts.limit, &matches, selecting)
                        .await;
                }
                Ok(self.list_from_cache(def, &sel, opts.limit))
            }
        }
    }

    fn list_from_cache(&self, def: &ResourceDef, sel: &Selection<'_>, limit: usize) -> ListResult {
        let view = self.cache(def).view();
        self.page_of(def, &view, sel, None, limit)
    }

    /// A view a continue token (or an exact-revision read) can resume in: retained by the
    /// cache and not yet compacted away in storage (where upstream answers 410).
    async fn retained_view(&self, def: &ResourceDef, revision: i64) -> Option<View> {
        let view = self.cache(def).retained(revision)?;
        let compacted = self.storage.compacted_revision().await.ok()?;
        (revision > compacted).then_some(view)
    }

    /// One page of `view` under `prefix`, after `start_after`: O(log n + page). A page with
    /// more to come retains the view so its continue token resumes in place.
    fn page_of(
        &self,
        def: &ResourceDef,
        view: &View,
        sel: &Selection<'_>,
        start_after: Option<&str>,
        limit: usize,
    ) -> ListResult {
        let prefix = sel.prefix;
        let indexed = sel.index.and_then(|(f, v)| view.indexed(f, v, prefix, start_after));
        let page = match indexed {
            Some(objects) => pager::take_page(objects, limit, sel.matches),
            None => pager::take_page(view.range(prefix, start_after), limit, sel.matches),
        };
        let (Some(last), true) = (&page.last_key, page.more) else {
            return ListResult {
                revision: view.revision,
                items: page.items,
                continue_token: None,
                remaining: None,
            };
        };
        let cache = self.cache(def);
        let before = match start_after {
            None => Some(0),
            Some(k) => cache.consumed(view.revision, prefix, k),
        };
        let consumed = before.map(|n| n + page.scanned);
        cache.retain(view, prefix, last, consumed);
        let resource_root = self.key_prefix(def, None);
        let continue_token = ContinueToken {
            rv: view.revision,
            start: format!("{}\u{0}", last.trim_start_matches(&resource_root)),
        }
        .encode();
        // Upstream counts what follows only when every key is an item (no selector).
        let remaining = (!sel.selecting).then(|| match consumed {
            Some(n) => view.count(prefix).saturating_sub(n),
            None => view.range(prefix, Some(last)).count(),
        });
        ListResult {
            revision: view.revision,
            items: page.items,
            continue_token: Some(continue_token),
            remaining,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn list_from_storage(
        &self,
        def: &ResourceDef,
        prefix: &str,
        start_after: Option<&str>,
        rv: i64,
        limit: usize,
        matches: &(dyn Fn(&CachedObject) -> bool + Sync),
        selecting: bool,
    ) -> ApiResult<ListResult> {
        let resource_root = self.key_prefix(def, None);
        let mut items = Vec::new();
        let mut cursor = start_after.map(str::to_string);
        let batch = if limit == 0 { 0 } else { limit.max(100) };
        loop {
            let page = match self.storage.list(prefix, cursor.as_deref(), rv, batch).await {
                Ok(p) => p,
                Err(StorageError::Compacted { .. }) if start_after.is_some() => {
                    return Err(expired_continue(def, &resource_root, start_after))
                }
                Err(e) => return Err(storage_err(e)),
            };
            let revision = page.revision;
            let n = page.items.len();
            for (i, kv) in page.items.iter().enumerate() {
                let Some(obj) = CachedObject::from_kv(kv) else { continue };
                if !matches(&obj) {
                    continue;
                }
                items.push(obj);
                if limit > 0 && items.len() == limit {
                    let more = page.more || i + 1 < n;
                    let continue_token = more.then(|| {
                        ContinueToken {
                            rv: revision,
                            start: format!("{}\u{0}", kv.key.trim_start_matches(&resource_root)),
                        }
                        .encode()
                    });
                    // Upstream counts what follows only when every key is an item (no selector).
                    let remaining = (more && !selecting).then(|| n - (i + 1) + page.remaining);
                    return Ok(ListResult {
                        revision,
                        items,
                        continue_token,
                        remaining,
                    });
                }
            }
            if !page.more || n == 0 {
                return Ok(ListResult {
                    revision,
                    items,
                    continue_token: None,
                    remaining: None,
                });
            }
            cursor = page.items.last().map(|kv| kv.key.clone());
        }
    }

    /// Replace an object without admission (internal writes).
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        body: Value,
        part: Part,
        dry_run: bool,
        manager: Option<&str>,
    ) -> ApiResult<Arc<CachedObject>> {
        self.update_with(def, ns, name, body, part, dry_run, manager, None, None)
            .await
    }

    /// Replace an object (PUT), or its status/finalizers part. `manager`: record an `Update`
    /// managedFields entry for it (patch and apply record their own and pass None). `adm`: the
    /// request's admission (run against the stored object on every attempt). `uid`: the UID
    /// the stored object must have, checked on every attempt before the resourceVersion, as
    /// upstream's GuaranteedUpdate checks preconditions — a client's PUT passes the
    /// `metadata.uid` it sent ([`put_uid`]), so an object deleted (or recreated) since the
    /// client read it answers 409, not 404 (controllers retry a conflict quietly and log a
    /// 404); patches and internal writes pass None (a changed uid is then a validation error).
    #[allow(clippy::too_many_arguments)]
    pub async fn update_with(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        body: Value,
        part: Part,
        dry_run: bool,
        manager: Option<&str>,
        adm: Option<&dyn Admission>,
        uid: Option<&str>,
    ) -> ApiResult<Arc<CachedObject>> {
        let sub = part.subresource().unwrap_or("");
        if name_of(&body) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&body)
            )));
        }
        if def.namespaced() {
            if let Some(body_ns) = body.opt_str_at("/metadata/namespace") {
                if !body_ns.is_empty() && Some(body_ns) != ns {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
        }
        let wanted_rv = match body.opt_str_at("/metadata/resourceVersion").filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resource version: strconv.ParseUint: parsing \"{s}\": invalid syntax"
                ))
            })?),
            None => None,
        };
        let key = self.key(def, ns, name);
        let strat = def.strategy;
        // Unconditional updates retry on races; conditional ones fail with 409.
        // The first attempt starts from the watch cache's copy, as upstream's GuaranteedUpdate
        // starts from the cacher's: the write's compare-and-swap proves it current, so a write
        // costs storage one transaction instead of a read and a transaction. Whatever fails on
        // that copy (a conflict, a precondition, validation, no change) is tried again on a
        // fresh read before it is answered.
        let mut from_cache_next = !dry_run;
        for _ in 0..16 {
            let from_cache = std::mem::take(&mut from_cache_next);
            let current = if from_cache {
                match self.cache(def).get(&key) {
                    Some(o) => Some(cached_kv(&o)),
                    None => continue,
                }
            } else {
                self.storage.get(&key, 0).await.map_err(storage_err)?
            };
            let step: ApiResult<Step> = async {
                let Some(current) = current else {
                    check_uid(def, &key, name, uid, None)?;
                    return Err(ApiError::not_found(def.plural, def.group, name));
                };
                let stored: Value = serde_json::from_slice(&current.value).map_err(ApiError::internal)?;
                check_uid(def, &key, name, uid, Some(stored.str_at("/metadata/uid")))?;
                if let Some(w) = wanted_rv {
                    if w != current.mod_revision {
                        return Err(ApiError::stale(def.plural, def.group, name));
                    }
                }
                let old = strat.served_form(def, &stored).unwrap_or_else(|| stored.clone());
                let mut new = match part {
                    Part::Main => {
                        let mut n = body.clone();
                        if is_namespace(def) {
                            // Namespaces change spec.finalizers only through `finalize`.
                            n["spec"]["finalizers"] = old.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
                        }
                        if def.has_status() {
                            match old.get("status") {
                                Some(s) => n["status"] = s.clone(),
                                None => {
                                    if let Some(o) = n.as_object_mut() {
                                        o.remove("status");
                                    }
                                }
                            }
                        }
                        n
                    }
                    Part::Status => strat.status_write().apply(&old, &body),
                    Part::Finalize => {
                        let mut n = old.clone();
                        n["spec"]["finalizers"] = body.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
                        n
                    }
                    Part::Approval => {
                        // Upstream's approval strategy: metadata as sent, spec and status as stored
                        // but for the conditions.
                        let mut n = body.clone();
                        n["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
                        let mut status = old.get("status").cloned().unwrap_or(json!({}));
                        status["conditions"] = body.pointer("/status/conditions").cloned().unwrap_or(json!([]));
                        n["status"] = status;
                        n
                    }
                    Part::Resize => crate::api::strategy::resize::merge(&old, &body),
                };
                if part != Part::Main {
                    // Subresource writes keep the managedFields the patch/apply path recorded.
                    if let Some(mf) = body.pointer("/metadata/managedFields") {
                        meta_mut(&mut new).insert("managedFields".into(), mf.clone());
                    }
                }
                // Defaulted before the field manager compares (upstream decodes, hence defaults,
                // first): a PUT that omits a defaulted field does not take it from its owner.
                strat.defaults(&mut new);
                if let Some(m) = manager {
                    let schemas = crate::api::schema::builtin();
                    let sub = part.subresource();
                    let merge = crate::api::schema::merge_root(def);
                    let root = merge.as_ref().map(|m| m.node());
                    crate::patch::record_update(Some(&old), &mut new, m, &def.api_version(), sub, schemas, root);
                }
                {
                    // System-owned metadata carries over from the stored object.
                    let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
                    let m = meta_mut(&mut new);
                    for k in ["uid", "creationTimestamp"] {
                        if m.get(k).is_none_or(|v| v.as_str() == Some("") || v.is_null()) {
                            if let Some(v) = old_meta.get(k) {
                                m.insert(k.into(), v.clone());
                            }
                        }
                    }
                    for k in ["deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
                        match old_meta.get(k) {
                            Some(v) => m.insert(k.into(), v.clone()),
                            None => m.remove(k),
                        };
                    }
                    if def.namespaced() {
                        m.insert("namespace".into(), json!(ns.unwrap_or("")));
                    } else {
                        m.remove("namespace");
                    }
                    m.remove("resourceVersion");
                }
                let w = write(Operation::Update, def, ns, name, sub, dry_run);
                if let Some(a) = adm {
                    a.mutate(self, &w, &mut new, Some(&old)).await?;
                }
                strat.drop_disabled(&self.features, &mut new, Some(&old));
                strat.normalize(def, &mut new);
                let svc_al = if part == Part::Main {
                    self.service_allocators(def)
                } else {
                    None
                };
                if svc_al.is_some() {
                    allocator::prepare_update(&old, &mut new);
                }
                let first = if part == Part::Status {
                    self.namespace_errors(def, &new, Some(&old)).await
                } else {
                    Vec::new()
                };
                self.validate(def, &new, Some(&old), part, first)?;
                if let Some(a) = adm {
                    a.validate(self, &w, Some(&new), Some(&old)).await?;
                }
                // (allocated now: release on failure, no longer used: release after success)
                let mut svc_txn: Option<(Arc<ServiceAllocators>, Allocation, Allocation)> = None;
                if let Some(al) = svc_al {
                    let (got, rel) = al.allocate_update(&old, &mut new, dry_run).await?;
                    svc_txn = Some((al, got, rel));
                }
                if def.generation && spec_part(&new) != spec_part(&old) {
                    let g = old.i64_at("/metadata/generation").unwrap_or(0);
                    meta_mut(&mut new).insert("generation".into(), json!(g + 1));
                }
                if let Err(e) = strat.to_storage(def, &mut new).await {
                    if let Some((al, got, _)) = &svc_txn {
                        al.release(got).await;
                    }
                    return Err(e);
                }
                let mut old_cmp = stored;
                if let Some(m) = old_cmp.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                if new == old_cmp && !current.stale {
                    // Nothing changed: no write, same resourceVersion (as upstream). A value read
                    // through an old encryption key or provider is written again (re-encrypted).
                    // Upstream confirms a no-op found on the cached copy with a fresh read.
                    if from_cache {
                        return Ok(Step::Retry);
                    }
                    return CachedObject::from_kv(&current)
                        .map(Step::Done)
                        .ok_or_else(|| ApiError::internal("undecodable object"));
                }
                let finishing = new.pointer("/metadata/deletionTimestamp").is_some() && !pending_finalizers(def, &new);
                let bytes = match encode_for_storage(&new) {
                    Ok(b) => b,
                    Err(e) => {
                        if let Some((al, got, _)) = &svc_txn {
                            al.release(got).await;
                        }
                        return Err(e);
                    }
                };
                if dry_run {
                    return CachedObject::decode(&key, &bytes, current.mod_revision)
                        .map(Step::Done)
                        .ok_or_else(|| ApiError::internal("encode failed"));
                }
                if finishing {
                    // The last finalizer is gone from an object being deleted: delete it now.
                    let res = self.storage.delete(&key, current.mod_revision).await;
                    if let Some((al, got, rel)) = &svc_txn {
                        if res.is_ok() {
                            al.release_for(&new).await;
                            al.release(rel).await;
                        } else {
                            al.release(got).await;
                        }
                    }
                    return match res {
                        Ok((rev, _)) => CachedObject::decode(&key, &bytes, rev)
                            .map(Step::Done)
                            .ok_or_else(|| ApiError::internal("encode failed")),
                        Err(StorageError::Conflict { .. }) if wanted_rv.is_none() => Ok(Step::Retry),
                        Err(StorageError::Conflict { .. }) => Err(ApiError::stale(def.plural, def.group, name)),
                        Err(e) => Err(storage_err(e)),
                    };
                }
                let res = self
                    .storage
                    .update_with_ttl(&key, bytes.clone(), current.mod_revision, self.ttl_of(def))
                    .await;
                if let Some((al, got, rel)) = &svc_txn {
                    al.release(if res.is_ok() { rel } else { got }).await;
                }
                match res {
                    Ok(rev) => Ok(Step::Done(CachedObject::from_value(&key, new, rev))),
                    Err(StorageError::Conflict { .. }) if wanted_rv.is_none() => Ok(Step::Retry),
                    Err(StorageError::Conflict { .. }) => Err(ApiError::stale(def.plural, def.group, name)),
                    // Deleted since the read: read again, so the answer is the UID precondition's
                    // 409 when one was given (as upstream's GuaranteedUpdate retries), else 404.
                    Err(StorageError::NotFound { .. }) => Ok(Step::Retry),
                    Err(e) => Err(storage_err(e)),
                }
            }
            .await;
            match step {
                Ok(Step::Done(obj)) => return Ok(obj),
                Ok(Step::Retry) => continue,
                Err(_) if from_cache => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": too many concurrent updates",
                crate::error::qualified(def.plural, def.group)
            ),
        ))
    }

    /// Delete an object without admission (internal writes).
    pub async fn delete(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        self.delete_with(def, ns, name, opts, None).await
    }

    /// Delete an object, honouring preconditions, finalizers, propagation and pods' graceful
    /// termination. `actx`: the request's admission context.
    pub async fn delete_with(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
        adm: Option<&dyn Admission>,
    ) -> ApiResult<Deleted> {
        let key = self.key(def, ns, name);
        // The revision of a write this delete made itself (a grace period shortened to zero).
        let mut own_revision = None;
        for _ in 0..16 {
            let Some(current) = self.storage.get(&key, 0).await.map_err(storage_err)? else {
                return Err(ApiError::not_found(def.plural, def.group, name));
            };
            let mut obj: Value = serde_json::from_slice(&current.value).map_err(ApiError::internal)?;
            let uid = obj.str_at("/metadata/uid").to_string();
            if let Some(p) = &opts.precondition_uid {
                if *p != uid {
                    return Err(ApiError::conflict(
                        def.plural,
                        def.group,
                        name,
                        &format!("Precondition failed: UID in precondition: {p}, UID in object meta: {uid}"),
                    ));
                }
            }
            if let Some(p) = &opts.precondition_rv {
                if *p != current.mod_revision.to_string() && own_revision != Some(current.mod_revision) {
                    return Err(ApiError::conflict(
                        def.plural,
                        def.group,
                        name,
                        &format!(
                            "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {}",
                            current.mod_revision
                        ),
                    ));
                }
            }
            if let Some(a) = adm {
                let w = write(Operation::Delete, def, ns, name, "", opts.dry_run);
                a.validate(self, &w, None, Some(&obj)).await?;
            }
            let already_deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
            let mut changed = false;
            let hold;
            let mut delete_after_write = false;
            // In graceful deletion already (a pod with a grace period left): upstream's
            // BeforeDelete lets a delete only shorten the period; anything else changes nothing.
            let terminating = obj
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .filter(|g| already_deleting && *g != 0)
                .map(|g| g.max(1));
            if let Some(existing) = terminating {
                match opts.grace_period_seconds {
                    Some(p) if p < existing => {
                        shorten_grace_period(&mut obj, existing, p);
                        changed = true;
                        hold = true;
                        // Shortened to zero: written, then deleted (the next round), unless
                        // finalizers hold it.
                        delete_after_write = p == 0 && !pending_finalizers(def, &obj);
                    }
                    _ => {
                        let o =
                            CachedObject::from_kv(&current).ok_or_else(|| ApiError::internal("undecodable object"))?;
                        return Ok(Deleted::Pending(o));
                    }
                }
            } else {
                match opts.propagation {
                    Some(Propagation::Foreground) => changed |= add_finalizer(&mut obj, "foregroundDeletion"),
                    Some(Propagation::Orphan) => changed |= add_finalizer(&mut obj, "orphan"),
                    _ => {}
                }
                if !already_deleting {
                    changed |= def.strategy.before_delete(&mut obj);
                }
                let grace = def.strategy.grace_period(&obj, opts.grace_period_seconds);
                hold = pending_finalizers(def, &obj) || grace.is_some();
                if hold && !already_deleting {
                    let secs = grace.unwrap_or(0);
                    let at = std::time::SystemTime::now() + Duration::from_secs(secs.max(0) as u64);
                    let m = meta_mut(&mut obj);
                    m.insert("deletionTimestamp".into(), json!(util::rfc3339(at)));
                    m.insert("deletionGracePeriodSeconds".into(), json!(secs));
                    if def.generation {
                        let g = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
                        m.insert("generation".into(), json!(g + 1));
                    }
                    if is_namespace(def) {
                        obj["status"]["phase"] = json!("Terminating");
                    }
                    changed = true;
                }
            }
            if hold {
                if !changed {
                    let o = CachedObject::from_kv(&current).ok_or_else(|| ApiError::internal("undecodable object"))?;
                    return Ok(Deleted::Pending(o));
                }
                let bytes = encode_for_storage(&obj)?;
                if opts.dry_run {
                    let o = CachedObject::decode(&key, &bytes, current.mod_revision)
                        .ok_or_else(|| ApiError::internal("encode"))?;
                    return Ok(Deleted::Pending(o));
                }
                match self
                    .storage
                    .update_with_ttl(&key, bytes.clone(), current.mod_revision, self.ttl_of(def))
                    .await
                {
                    Ok(rev) if delete_after_write => {
                        // Our own write moved the resourceVersion a precondition names.
                        own_revision = Some(rev);
                        continue;
                    }
                    Ok(rev) => {
                        let o = CachedObject::decode(&key, &bytes, rev).ok_or_else(|| ApiError::internal("encode"))?;
                        return Ok(Deleted::Pending(o));
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(StorageError::NotFound { .. }) => return Err(ApiError::not_found(def.plural, def.group, name)),
                    Err(e) => return Err(storage_err(e)),
                }
            }
            if opts.dry_run {
                let o = CachedObject::from_kv(&current).ok_or_else(|| ApiError::internal("undecodable object"))?;
                return Ok(Deleted::Gone(o));
            }
            match self.storage.delete(&key, current.mod_revision).await {
                Ok((rev, kv)) => {
                    let o = CachedObject::decode(&key, &kv.value, rev).ok_or_else(|| ApiError::internal("encode"))?;
                    let gone = o.value();
                    if let Some(al) = self.service_allocators(def) {
                        al.release_for(&gone).await;
                    }
                    return Ok(Deleted::Gone(o));
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(StorageError::NotFound { .. }) => return Err(ApiError::not_found(def.plural, def.group, name)),
                Err(e) => return Err(storage_err(e)),
            }
        }
        Err(ApiError::conflict(
            def.plural,
            def.group,
            name,
            "too many concurrent updates",
        ))
    }

    /// Delete every object matching the list options; returns the deleted (or pending) objects.
    pub async fn delete_collection(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> ApiResult<ListResult> {
        self.delete_collection_with(def, ns, list, opts, None).await
    }

    /// delete_collection, admitting each delete with the request's context.
    pub async fn delete_collection_with(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
        adm: Option<&dyn Admission>,
    ) -> ApiResult<ListResult> {
        let mut all = list.clone();
        all.limit = 0;
        all.continue_token = None;
        let found = self.list(def, ns, &all).await?;
        let mut out = Vec::with_capacity(found.items.len());
        // Up to `delete_collection_workers` deletes at once, as upstream's workers; a batch
        // always finishes (no delete is abandoned midway) before an error ends the call.
        for batch in found.items.chunks(self.delete_collection_workers.max(1)) {
            let deletes = batch.iter().map(|obj| {
                let name = obj.name().to_string();
                let obj_ns = def.namespaced().then(|| obj.namespace().to_string());
                async move { self.delete_with(def, obj_ns.as_deref().or(ns), &name, opts, adm).await }
            });
            for result in futures_util::future::join_all(deletes).await {
                match result {
                    Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => out.push(o),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let revision = self.caches.revision();
        Ok(ListResult {
            revision,
            items: out,
            continue_token: None,
            remaining: None,
        })
    }

    /// Start a watch. The returned stream first replays (synthetic ADDED for "now", or history
    /// after the given resourceVersion), then follows live changes, filtered by selectors.
    pub async fn watch(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: ListOptions,
        timeout: Duration,
    ) -> ApiResult<Watch> {
        let opts = self.convert_fields(def, &opts)?;
        let prefix = self.key_prefix(def, ns);
        let cache = self.cache(def);
        let rv = opts.parsed_rv()?;
        if let Some(n) = rv.filter(|n| *n > 0) {
            if !self.caches.wait_for(n, FRESHNESS_WAIT).await {
                return Err(too_large_rv());
            }
        }
        // None: the current state as synthetic ADDED events first; Some(n): changes after n.
        let after = match (opts.send_initial_events, rv) {
            (None, None | Some(0)) => None,
            (None, Some(n)) => Some(n),
            // WatchList: the state at least as new as `resourceVersion` (a consistent read when
            // unset), then the bookmark that ends the initial events, then changes.
            (Some(true), Some(_)) => None,
            (Some(true), None) => {
                let current = self.storage.current_revision().await.map_err(storage_err)?;
                if !self.caches.wait_for(current, FRESHNESS_WAIT).await {
                    return Err(too_large_rv());
                }
                None
            }
            // No initial events: changes after `resourceVersion`, or after now.
            (Some(false), Some(n)) if n > 0 => Some(n),
            (Some(false), _) => Some(self.caches.revision()),
        };
        let def = *def;
        Ok(match cache.subscribe(&prefix, after, Self::indexed_term(&def, &opts)) {
            Err(crate::storage::cache::CacheError::TooOld { requested, oldest }) => {
                let err = ApiError::expired(format!("too old resource version: {requested} ({oldest})"));
                Watch::failed(def, err)
            }
            Ok(sub) => Watch::new(def, opts, sub, timeout),
        })
    }

    /// Read-modify-write of one stored object with compare-and-swap, retried on races
    /// (upstream's GuaranteedUpdate), bypassing the kind's update rules: for writes with their
    /// own semantics (binding, eviction, ephemeral containers). `f` sees the served form;
    /// returns the object as written.
    pub async fn guaranteed_update<F>(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        mut f: F,
    ) -> ApiResult<Value>
    where
        F: FnMut(&mut Value) -> ApiResult<()>,
    {
        let key = self.key(def, ns, name);
        for _ in 0..16 {
            let current = self
                .storage
                .get(&key, 0)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::not_found(def.plural, def.group, name))?;
            let stored: Value = serde_json::from_slice(&current.value).map_err(ApiError::internal)?;
            let mut obj = def.strategy.served_form(def, &stored).unwrap_or(stored);
            f(&mut obj)?;
            def.strategy.to_storage(def, &mut obj).await?;
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            let bytes = Bytes::from(serde_json::to_vec(&obj).map_err(ApiError::internal)?);
            match self
                .storage
                .update_with_ttl(&key, bytes, current.mod_revision, self.ttl_of(def))
                .await
            {
                Ok(rev) => {
                    obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                    return Ok(obj);
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(StorageError::NotFound { .. }) => return Err(ApiError::not_found(def.plural, def.group, name)),
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        Err(ApiError::conflict(
            def.plural,
            def.group,
            name,
            "too many concurrent updates",
        ))
    }

    /// Read-modify-write of `spec.replicas` through the `scale` subresource.
    pub async fn scale(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let obj = self.get(def, ns, name, None).await?;
        Ok(def.strategy.scale(def, &obj))
    }

    /// A Scale without a resourceVersion is unconditional: when a controller writes between
    /// the read and the write (the ReplicationController manager writing status), it is
    /// applied again to a fresh read, as upstream's GuaranteedUpdate does, never a 409.
    pub async fn update_scale(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        body: &Value,
        dry_run: bool,
        adm: Option<&dyn Admission>,
    ) -> ApiResult<Value> {
        let unconditional = body.opt_str_at("/metadata/resourceVersion").is_none_or(str::is_empty);
        for _ in 0..CONFLICT_RETRIES {
            match self.update_scale_once(def, ns, name, body, dry_run, adm).await {
                Err(e) if unconditional && e.is_conflict() => continue,
                res => return res,
            }
        }
        Err(ApiError::conflict(
            def.plural,
            def.group,
            name,
            "too many concurrent updates",
        ))
    }

    async fn update_scale_once(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        body: &Value,
        dry_run: bool,
        adm: Option<&dyn Admission>,
    ) -> ApiResult<Value> {
        // The Scale's UID is a precondition on its object, as on any PUT.
        let uid = put_uid(body);
        let key = self.key(def, ns, name);
        let current = match self.get(def, ns, name, None).await {
            Err(e) if e.code == 404 => {
                check_uid(def, &key, name, uid, None)?;
                return Err(e);
            }
            res => res?,
        };
        check_uid(def, &key, name, uid, Some(current.metadata().str_at("/uid")))?;
        // Admission sees the Scale (subresource `scale`), as upstream; it may change replicas.
        let mut body = body.clone();
        if let Some(a) = adm {
            let old = def.strategy.scale(def, &current);
            let w = write(Operation::Update, def, ns, name, "scale", dry_run);
            a.admit_scale(self, &w, &mut body, &old).await?;
        }
        let replicas = body.i64_at("/spec/replicas").unwrap_or(0);
        if replicas < 0 {
            let errs = vec![FieldError::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )];
            return Err(ApiError::invalid("Scale", "autoscaling", name, &errs));
        }
        if let Some(rv) = body.opt_str_at("/metadata/resourceVersion").filter(|s| !s.is_empty()) {
            if rv != current.revision.to_string() {
                return Err(ApiError::stale(def.plural, def.group, name));
            }
        }
        let mut obj = current.value();
        def.strategy.set_replicas(&mut obj, replicas);
        let res = self.update(def, ns, name, obj, Part::Main, dry_run, None).await;
        if let Some(a) = adm {
            a.finish(self, res.is_ok()).await;
        }
        let updated = res?;
        Ok(def.strategy.scale(def, &updated))
    }
}

/// How often an unconditional write (a patch, a Scale without a resourceVersion) is applied
/// again to a fresh read after losing a race to another writer. Upstream's GuaranteedUpdate
/// retries until the request times out; a busy controller writing status must not turn a
/// client's write into a 409, so the bound is generous.
pub const CONFLICT_RETRIES: usize = 100;

/// How one attempt of a read-modify-write ended.
enum Step {
    Done(Arc<CachedObject>),
    /// Lost a race (or started from a stale cached copy): read again and retry.
    Retry,
}

/// The watch cache's copy of an object in storage's form, to start a write from.
fn cached_kv(o: &CachedObject) -> crate::storage::KeyValue {
    crate::storage::KeyValue {
        key: o.key.clone(),
        value: o.json.clone(),
        create_revision: 0,
        mod_revision: o.revision,
        stale: false,
    }
}

/// Admission's view of a write.
fn write<'a>(
    operation: Operation,
    def: &'a ResourceDef,
    ns: Option<&'a str>,
    name: &'a str,
    subresource: &'a str,
    dry_run: bool,
) -> Write<'a> {
    Write {
        operation,
        def,
        namespace: ns,
        name,
        subresource,
        dry_run,
    }
}

/// What a list reads: the keys under `prefix` that `matches`, found through the cache's index
/// when the selector requires one value of the indexed field.
struct Selection<'a> {
    prefix: &'a str,
    matches: &'a (dyn Fn(&CachedObject) -> bool + Sync),
    /// Any selector given (then upstream reports no remainingItemCount).
    selecting: bool,
    index: Option<(&'static str, &'a str)>,
}

fn strip_rv(o: Arc<CachedObject>) -> Arc<CachedObject> {
    let mut v = o.value();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    let json = Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
    Arc::new(CachedObject {
        key: o.key.clone(),
        json,
        revision: 0,
        protobuf: Default::default(),
        attrs: o.attrs.clone(),
    })
}

/// Whether `opts`' label and field selectors select `obj`: read from the labels and field
/// values the cache keeps with it; the object is decoded (once) only for a field it does not
/// keep (a custom resource's selectable fields).
pub(super) fn selects(def: &ResourceDef, opts: &ListOptions, obj: &CachedObject) -> bool {
    if !opts.label_selector.matches_with(|k| obj.attrs.label(k)) {
        return false;
    }
    let decoded = std::cell::OnceCell::new();
    opts.field_selector.matches(|f| match f {
        "metadata.name" => Some(obj.name().to_string()),
        // Cluster-scoped kinds have no namespace in their set; their keys carry none.
        "metadata.namespace" => def.namespaced().then(|| obj.namespace().to_string()),
        _ => match obj.attrs.field(f) {
            Some(v) => Some(v.to_string()),
            None => def.strategy.field_value(decoded.get_or_init(|| obj.value()), f),
        },
    })
}

fn too_large_rv() -> ApiError {
    ApiError::timeout("Too large resource version")
        .with_details(json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}))
}

fn expired_continue(def: &ResourceDef, root: &str, start_after: Option<&str>) -> ApiError {
    let start = start_after.unwrap_or("").trim_start_matches(root).to_string();
    let token = ContinueToken {
        rv: -1,
        start: format!("{start}\u{0}"),
    }
    .encode();
    let _ = def;
    ApiError::expired(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    )
    .with_continue(token)
}

fn add_finalizer(obj: &mut Value, f: &str) -> bool {
    let m = meta_mut(obj);
    let list = m.entry("finalizers").or_insert_with(|| json!([]));
    match list.as_array_mut() {
        Some(a) if !a.iter().any(|v| v == f) => {
            a.push(json!(f));
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn registry(dir: &std::path::Path, suffix: fn() -> String) -> Registry {
        let storage: Arc<dyn Storage> = crate::storage::sqlite::SqliteStorage::open(&dir.join("db")).unwrap();
        let mut reg = crate::registry::test_registry(storage, "t").await;
        reg.name_suffix = suffix;
        reg
    }

    async fn create_generated(reg: &Registry) -> ApiResult<String> {
        let def = crate::api::builtin_row("", "configmaps").unwrap();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "web-"}});
        let created = reg.create(def, Some("t"), body, false).await?;
        Ok(created.value().str_at("/metadata/name").to_string())
    }

    /// A generated name that is taken is generated again (upstream's RetryGenerateName).
    #[tokio::test]
    async fn a_taken_generated_name_is_generated_again() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        // The first two names collide, the third is new.
        fn suffix() -> String {
            ["aaaaa", "aaaaa", "bbbbb"][CALLS.fetch_add(1, Ordering::SeqCst).min(2)].to_string()
        }
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), suffix).await;
        assert_eq!(create_generated(&reg).await.unwrap(), "web-aaaaa");
        assert_eq!(create_generated(&reg).await.unwrap(), "web-bbbbb");
        assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    }

    /// After 8 taken names the create fails with the last one's AlreadyExists, as upstream.
    #[tokio::test]
    async fn eight_taken_generated_names_are_a_conflict() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        fn suffix() -> String {
            CALLS.fetch_add(1, Ordering::SeqCst);
            "aaaaa".to_string()
        }
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), suffix).await;
        create_generated(&reg).await.unwrap();
        let err = create_generated(&reg).await.unwrap_err();
        assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
        assert_eq!(err.message, r#"configmaps "web-aaaaa" already exists"#);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1 + GENERATE_NAME_ATTEMPTS);
    }
}
