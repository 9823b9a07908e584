//! The API Priority and Fairness dispatcher (upstream `apf_controller.go` and `apf_filter.go`):
//! the configuration digested from the FlowSchemas and PriorityLevelConfigurations that two
//! informers keep in memory (no storage read per request), request classification and
//! admission, the periodic borrowing between levels, and the FlowSchemas' `Dangling` status.

use super::alloc::{self, DemandStats, Item};
use super::estimate::{self, ObjectCounts, WatchGuard, WatchTracker};
use super::metrics::{ApfMetrics, Limits};
use super::queueset::{QueueSet, QueuingConfig, RequestDetails, Seat, Start};
use super::retry::DroppedRequests;
use super::rules::{FlowSchema, PriorityLevel};
use super::shuffle::hash_flow;
use crate::api::strategy::flowcontrol::{bootstrap, CATCH_ALL, EXEMPT};
use crate::registry::informer::{self, key_of, Change};
use crate::registry::store::Part;
use crate::registry::Registry;
use crate::request::{Query, RequestInfo, UserInfo};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often seats are redistributed between levels (`borrowingAdjustmentPeriod`).
const BORROWING_PERIOD: Duration = Duration::from_secs(10);
/// A level's per-request seat cap is this share of its nominal seats (`priorityLevelMaxSeatsPercent`).
const MAX_SEATS_PERCENT: f64 = 0.15;
/// The field manager of the status writes (`ConfigConsumerAsFieldManager`).
const STATUS_MANAGER: &str = "api-priority-and-fairness-config-consumer-v1";
const GROUP: &str = "flowcontrol.apiserver.k8s.io";

/// Which FlowSchema and priority level a request fell into (the response headers name their
/// UIDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub flow_schema: String,
    pub flow_schema_uid: String,
    pub priority_level: String,
    pub priority_level_uid: String,
}

/// The outcome of [`Apf::admit`].
pub enum Decision {
    /// Run now; the seat is given back when dropped.
    Run(Classification, Seat),
    /// Rejected (queue full, level full, or waited too long): 429 with `Retry-After`.
    Reject(Classification, i64),
}

/// One priority level as configured now.
pub struct Level {
    pub spec: PriorityLevel,
    pub qs: Arc<QueueSet>,
    quiescing: bool,
    /// The per-request seat cap (0: none beyond the global one).
    max_seats: u64,
    limits: Mutex<LevelLimits>,
}

#[derive(Debug, Clone, Copy, Default)]
struct LevelLimits {
    nominal: u64,
    min: u64,
    max: u64,
    current: u64,
    demand: DemandStats,
}

#[derive(Default)]
struct Config {
    flow_schemas: Vec<Arc<FlowSchema>>,
    levels: BTreeMap<String, Arc<Level>>,
    nominal_sum: u64,
}

/// The stored objects, as the informers see them.
#[derive(Default, Clone)]
struct Objects {
    flow_schemas: BTreeMap<String, Value>,
    levels: BTreeMap<String, Value>,
}

/// A Dangling condition to write to a FlowSchema.
struct StatusUpdate {
    name: String,
    object: Value,
    condition: Value,
}

/// API Priority and Fairness for one server.
pub struct Apf {
    server_cl: u64,
    config: RwLock<Config>,
    objects: Mutex<Objects>,
    pub metrics: Arc<ApfMetrics>,
    watches: Arc<WatchTracker>,
    dropped: DroppedRequests,
    counts: ObjectCounts,
    changed: tokio::sync::Notify,
    /// Recent status writes (time, FlowSchema names), for upstream's rate limit.
    status_writes: Mutex<VecDeque<(Instant, HashSet<String>)>>,
}

fn queuing_of(pl: &PriorityLevel) -> QueuingConfig {
    if pl.exempt {
        return QueuingConfig::EXEMPT;
    }
    match pl.queuing {
        None => QueuingConfig::REJECT,
        Some(q) => QueuingConfig {
            queues: q.queues as i64,
            hand_size: q.hand_size,
            queue_length_limit: q.queue_length_limit,
        },
    }
}

impl Apf {
    /// A dispatcher sharing `server_cl` seats (`--max-requests-inflight` +
    /// `--max-mutating-requests-inflight`); `counts` gives LIST sizes. Until the informers have
    /// listed, only the mandatory exempt and catch-all configuration applies.
    pub fn new(server_cl: u64, counts: ObjectCounts) -> Arc<Apf> {
        let apf = Arc::new(Apf {
            server_cl,
            config: RwLock::new(Config::default()),
            objects: Mutex::new(Objects::default()),
            metrics: Arc::default(),
            watches: Arc::default(),
            dropped: DroppedRequests::default(),
            counts,
            changed: tokio::sync::Notify::new(),
            status_writes: Mutex::default(),
        });
        apf.digest();
        apf
    }

    /// Start the informers on FlowSchemas and PriorityLevelConfigurations (their first list is
    /// done when this returns), digest the configuration, and keep it current in the
    /// background together with the borrowing between levels.
    pub async fn start(self: &Arc<Self>, reg: &Registry) -> anyhow::Result<()> {
        for (plural, is_fs) in [("prioritylevelconfigurations", false), ("flowschemas", true)] {
            let def = reg
                .find(GROUP, "v1", plural)
                .ok_or_else(|| anyhow::anyhow!("resource table lacks {plural}"))?;
            let me = self.clone();
            let sink: informer::Sink = Arc::new(move |c| me.apply(is_fs, c));
            informer::start(reg.clone(), def, sink).await;
        }
        let updates = self.digest();
        self.write_statuses(reg, updates).await;
        let (me, reg2) = (self.clone(), reg.clone());
        tokio::spawn(async move {
            loop {
                me.changed.notified().await;
                let updates = me.digest();
                me.write_statuses(&reg2, updates).await;
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BORROWING_PERIOD);
            tick.tick().await;
            loop {
                tick.tick().await;
                me.update_borrowing();
            }
        });
        Ok(())
    }

    fn apply(&self, is_fs: bool, change: Change) {
        {
            let mut o = self.objects.lock().unwrap_or_else(|e| e.into_inner());
            let map = if is_fs { &mut o.flow_schemas } else { &mut o.levels };
            match change {
                Change::Reset(all) => *map = all.into_iter().map(|v| (key_of(&v), v)).collect(),
                Change::Upsert(v) => {
                    map.insert(key_of(&v), v);
                }
                Change::Delete(v) => {
                    map.remove(&key_of(&v));
                }
            }
        }
        self.changed.notify_one();
    }

    /// Rebuild the configuration from the stored objects (upstream's
    /// `lockAndDigestConfigObjects`); returns the FlowSchema statuses to correct.
    fn digest(&self) -> Vec<StatusUpdate> {
        let objects = self.objects.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut config = self.config.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::take(&mut config.levels);
        // Priority levels: every usable object, keeping the queues of levels that stay.
        let mut specs: BTreeMap<String, (PriorityLevel, bool)> = BTreeMap::new();
        for (name, v) in &objects.levels {
            match PriorityLevel::from_value(v) {
                Ok(pl) => {
                    specs.insert(name.clone(), (pl, false));
                }
                Err(e) => {
                    tracing::warn!(level = %name, error = %e, "ignoring a PriorityLevelConfiguration the dispatcher cannot use")
                }
            }
        }
        // FlowSchemas: those whose level exists, in matching order; the mandatory ones are
        // imagined when missing.
        let mut updates = Vec::new();
        let mut flow_schemas = Vec::new();
        for (name, v) in &objects.flow_schemas {
            let fs = FlowSchema::from_value(v);
            let found = specs.contains_key(&fs.level);
            if let Some(u) = dangling_update(name, v, &fs, !found) {
                updates.push(u);
            }
            if found {
                flow_schemas.push(Arc::new(fs));
            }
        }
        flow_schemas.sort_by(|a, b| (a.precedence, &a.name).cmp(&(b.precedence, &b.name)));
        let b = bootstrap();
        if !flow_schemas.iter().any(|f| f.name == EXEMPT) {
            let m = b.mandatory("FlowSchema", EXEMPT).expect("bootstrap has exempt");
            flow_schemas.insert(0, Arc::new(FlowSchema::from_value(m)));
        }
        if !flow_schemas.iter().any(|f| f.name == CATCH_ALL) {
            let m = b.mandatory("FlowSchema", CATCH_ALL).expect("bootstrap has catch-all");
            flow_schemas.push(Arc::new(FlowSchema::from_value(m)));
        }
        // Levels that went away: kept (quiescing) while they still have requests.
        for (name, level) in &old {
            if specs.contains_key(name) {
                continue;
            }
            let mandatory = name == EXEMPT || name == CATCH_ALL;
            if !mandatory && level.qs.is_idle() {
                self.metrics.forget_level(name);
                continue;
            }
            specs.insert(name.clone(), (level.spec.clone(), !mandatory));
        }
        for name in [EXEMPT, CATCH_ALL] {
            if !specs.contains_key(name) {
                let m = b
                    .mandatory("PriorityLevelConfiguration", name)
                    .expect("bootstrap has it");
                let pl = PriorityLevel::from_value(m).expect("bootstrap levels are valid");
                specs.insert(name.to_string(), (pl, false));
            }
        }
        // Seats: the server's concurrency in proportion to the shares.
        let share_sum: f64 = specs.values().map(|(pl, _)| pl.shares as f64).sum();
        let server = self.server_cl as f64;
        let mut nominal_sum = 0;
        for (name, (pl, quiescing)) in specs {
            let nominal = if share_sum > 0.0 {
                (server * pl.shares as f64 / share_sum).ceil() as u64
            } else {
                0
            };
            let lendable = pl
                .lendable_percent
                .map(|p| (nominal as f64 * p as f64 / 100.0).round() as u64)
                .unwrap_or(0);
            let borrowing = pl
                .borrowing_limit_percent
                .map(|p| (nominal as f64 * p as f64 / 100.0).round() as u64)
                .unwrap_or(self.server_cl);
            nominal_sum += nominal;
            let max_seats = match pl.queuing {
                Some(q) if !pl.exempt && q.hand_size > 0 => {
                    let by_share = (nominal as f64 * MAX_SEATS_PERCENT).ceil();
                    let by_hand = (nominal / q.hand_size as u64) as f64;
                    by_share.min(by_hand).max(1.0) as u64
                }
                _ => 0,
            };
            let previous = old.get(&name);
            let mut limits = previous
                .map(|l| *l.limits.lock().unwrap_or_else(|e| e.into_inner()))
                .unwrap_or(LevelLimits {
                    current: nominal - lendable / 2,
                    ..LevelLimits::default()
                });
            limits.nominal = nominal;
            limits.min = nominal - lendable;
            limits.max = nominal + borrowing;
            let cfg = queuing_of(&pl);
            let qs = match previous {
                Some(l) => {
                    l.qs.configure(cfg, limits.current);
                    l.qs.clone()
                }
                None => QueueSet::new(&name, cfg, limits.current, self.metrics.clone()),
            };
            config.levels.insert(
                name,
                Arc::new(Level {
                    spec: pl,
                    qs,
                    quiescing,
                    max_seats,
                    limits: Mutex::new(limits),
                }),
            );
        }
        config.flow_schemas = flow_schemas;
        config.nominal_sum = nominal_sum;
        self.borrow(&config, false);
        updates
    }

    /// Redistribute seats among levels by their recent demand.
    fn update_borrowing(&self) {
        let config = self.config.read().unwrap_or_else(|e| e.into_inner());
        self.borrow(&config, true);
    }

    /// Upstream's `updateBorrowingLocked`: each Limited level gets between what it keeps
    /// (nominal minus lendable, or its demand if smaller) and what it may borrow up to,
    /// proportional to its smoothed demand; the exempt level's demand is set aside first.
    fn borrow(&self, config: &Config, _periodic: bool) {
        let mut items = Vec::new();
        let mut non_exempt = Vec::new();
        let mut exempt_cl: HashMap<&str, u64> = HashMap::new();
        let (mut min_sum, mut min_current_sum) = (0u64, 0u64);
        let mut remaining = config.nominal_sum as i64;
        for (name, level) in &config.levels {
            let obs = level.qs.reset_demand();
            let mut l = level.limits.lock().unwrap_or_else(|e| e.into_inner());
            l.demand.update(obs);
            let hw = l.demand.high_watermark as u64;
            if level.spec.exempt {
                let c = l.min.max(hw);
                exempt_cl.insert(name, c);
                remaining -= c as i64;
            } else {
                let min_current = l.min.max(l.nominal.min(hw));
                items.push(Item {
                    lower: min_current as f64,
                    upper: l.max as f64,
                    target: (min_current as f64).max(l.demand.smoothed),
                });
                non_exempt.push((name.as_str(), min_current));
                min_sum += l.min;
                min_current_sum += min_current;
            }
        }
        let mut allocs: Option<Vec<f64>> = None;
        let mut share_frac = 0.0;
        if remaining <= min_sum as i64 {
            self.metrics.set_fair_frac(0.0);
        } else if remaining <= min_current_sum as i64 {
            share_frac = (remaining - min_sum as i64) as f64 / (min_current_sum - min_sum) as f64;
            self.metrics.set_fair_frac(0.0);
        } else {
            match alloc::compute(config.nominal_sum as usize, &items) {
                Ok((a, fair)) => {
                    self.metrics.set_fair_frac(fair);
                    allocs = Some(a);
                }
                Err(e) => tracing::warn!(error = %e, "cannot derive new concurrency limits; keeping the current ones"),
            }
        }
        let index: HashMap<&str, (usize, u64)> = non_exempt
            .iter()
            .enumerate()
            .map(|(i, (n, mc))| (*n, (i, *mc)))
            .collect();
        for (name, level) in &config.levels {
            let mut l = level.limits.lock().unwrap_or_else(|e| e.into_inner());
            let current = match (exempt_cl.get(name.as_str()), index.get(name.as_str())) {
                (Some(c), _) => *c,
                (None, Some((i, min_current))) => {
                    if remaining <= min_sum as i64 {
                        l.min
                    } else if remaining <= min_current_sum as i64 {
                        l.min + ((min_current - l.min) as f64 * share_frac).round() as u64
                    } else {
                        allocs.as_ref().map(|a| a[*i].round() as u64).unwrap_or(l.current)
                    }
                }
                (None, None) => l.current,
            };
            l.current = current;
            level.qs.set_limit(current);
            self.metrics.set_limits(
                name,
                Limits {
                    nominal: l.nominal,
                    lower: l.min,
                    upper: l.max,
                    current,
                },
            );
        }
    }

    /// The FlowSchema and level of a request: the first schema, in precedence order, that
    /// matches; catch-all otherwise.
    fn classify(&self, user: &UserInfo, info: &RequestInfo) -> (Arc<FlowSchema>, Arc<Level>) {
        let config = self.config.read().unwrap_or_else(|e| e.into_inner());
        let fs = config
            .flow_schemas
            .iter()
            .find(|f| f.matches(user, info))
            .or_else(|| config.flow_schemas.iter().find(|f| f.name == CATCH_ALL))
            .cloned()
            .expect("the catch-all FlowSchema is always configured");
        let level = config.levels[&fs.level].clone();
        (fs, level)
    }

    /// Classify a request, then run it, queue it (waiting at most `wait`) or reject it.
    pub async fn admit(&self, user: &UserInfo, info: &RequestInfo, query: &Query, wait: Duration) -> Decision {
        let (fs, level) = self.classify(user, info);
        let class = Classification {
            flow_schema: fs.name.clone(),
            flow_schema_uid: fs.uid.clone(),
            priority_level: level.spec.name.clone(),
            priority_level_uid: level.spec.uid.clone(),
        };
        let (distinguisher, hash) = match level.spec.queuing {
            Some(q) if q.queues > 1 && !level.spec.exempt => {
                let d = fs.distinguish(user, info);
                let h = hash_flow(&fs.name, &d);
                (d, h)
            }
            _ => (String::new(), 0),
        };
        let est = estimate::estimate(info, query, level.max_seats, &self.counts, &self.watches);
        let (pl, fsn) = (&class.priority_level, &class.flow_schema);
        self.metrics.observe_work_seats(pl, fsn, est.max_seats());
        let details = Arc::new(RequestDetails {
            user: user.name.clone(),
            verb: info.verb.clone(),
            path: info.path.clone(),
            namespace: info.namespace.clone().unwrap_or_default(),
            name: info.name.clone().unwrap_or_default(),
            api_version: if info.group.is_empty() {
                info.version.clone()
            } else if info.version.is_empty() {
                info.group.clone()
            } else {
                format!("{}/{}", info.group, info.version)
            },
            resource: info.resource.clone(),
            subresource: info.subresource.clone().unwrap_or_default(),
            watch: info.verb == "watch",
        });
        let arrived = Instant::now();
        let seat = match level.qs.start(est, hash, fsn, &distinguisher, details) {
            Start::Rejected(_) => None,
            Start::Running(seat) => Some(seat),
            Start::Queued(q) => {
                let mutating = !matches!(info.verb.as_str(), "get" | "list" | "watch");
                let _in_queue = InQueue::new(&self.metrics, mutating);
                q.wait(wait).await
            }
        };
        if !level.spec.exempt {
            self.metrics.observe_wait(pl, fsn, seat.is_some(), arrived.elapsed());
        }
        match seat {
            Some(seat) => {
                self.metrics.dispatch(pl, fsn);
                Decision::Run(class, seat)
            }
            None => {
                self.dropped.record(pl, crate::util::unix_now() as i64);
                let retry = self.dropped.retry_after(pl);
                Decision::Reject(class, retry)
            }
        }
    }

    /// Count an open watch (writes to what it watches cost more) until the guard drops.
    pub fn register_watch(&self, info: &RequestInfo) -> Option<WatchGuard> {
        self.watches.register(info)
    }

    /// The levels, by name, for the debug dumps.
    pub fn levels(&self) -> Vec<(String, bool, Arc<QueueSet>)> {
        let config = self.config.read().unwrap_or_else(|e| e.into_inner());
        config
            .levels
            .iter()
            .map(|(n, l)| (n.clone(), l.quiescing, l.qs.clone()))
            .collect()
    }

    /// Write the FlowSchemas' Dangling conditions, at most 5 times a minute per schema
    /// (upstream's `shouldDelayUpdate`); a delayed write is retried later.
    async fn write_statuses(self: &Arc<Self>, reg: &Registry, updates: Vec<StatusUpdate>) {
        if updates.is_empty() {
            return;
        }
        let Some(def) = reg.find(GROUP, "v1", "flowschemas") else {
            return;
        };
        let mut written = HashSet::new();
        let mut delayed = false;
        for u in updates {
            if self.too_many_writes(&u.name) {
                delayed = true;
                continue;
            }
            written.insert(u.name.clone());
            let mut obj = u.object;
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            let conds = obj
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
                .map(std::mem::take)
                .unwrap_or_default();
            let mut conds: Vec<Value> = conds
                .into_iter()
                .filter(|c| c.get("type").and_then(Value::as_str) != Some("Dangling"))
                .collect();
            conds.push(u.condition);
            if !obj.get("status").is_some_and(Value::is_object) {
                obj["status"] = json!({});
            }
            obj["status"]["conditions"] = Value::Array(conds);
            match reg
                .update(def, None, &u.name, obj, Part::Status, false, Some(STATUS_MANAGER))
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => {
                    tracing::warn!(flowschema = %u.name, error = %e.message, "cannot write the Dangling condition")
                }
            }
        }
        self.status_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_front((Instant::now(), written));
        if delayed {
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(30 + rand::random::<u64>() % 45)).await;
                me.changed.notify_one();
            });
        }
    }

    fn too_many_writes(&self, name: &str) -> bool {
        let mut w = self.status_writes.lock().unwrap_or_else(|e| e.into_inner());
        let minute_ago = Instant::now().checked_sub(Duration::from_secs(60));
        if let Some(cut) = minute_ago {
            while w.back().is_some_and(|(t, _)| *t < cut) {
                w.pop_back();
            }
        }
        w.iter().filter(|(_, names)| names.contains(name)).count() > 5
    }
}

/// The Dangling condition `fs` should have, if it differs from the stored one.
fn dangling_update(name: &str, obj: &Value, fs: &FlowSchema, dangling: bool) -> Option<StatusUpdate> {
    let (status, reason, message) = if dangling {
        (
            "True",
            "NotFound",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named \"{}\" but there is no such object",
                fs.level
            ),
        )
    } else {
        (
            "False",
            "Found",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named \"{}\" and it exists",
                fs.level
            ),
        )
    };
    let current = fs.dangling.as_ref();
    if current.is_some_and(|(s, r, m)| s == status && r == reason && *m == message) {
        return None;
    }
    Some(StatusUpdate {
        name: name.to_string(),
        object: obj.clone(),
        condition: json!({
            "type": "Dangling",
            "status": status,
            "lastTransitionTime": crate::util::now_rfc3339(),
            "reason": reason,
            "message": message,
        }),
    })
}

/// Counts a request in `apiserver_current_inqueue_requests` while it waits.
struct InQueue<'a> {
    metrics: &'a ApfMetrics,
    mutating: bool,
}

impl<'a> InQueue<'a> {
    fn new(metrics: &'a ApfMetrics, mutating: bool) -> InQueue<'a> {
        metrics.inqueue_kind(mutating, 1);
        InQueue { metrics, mutating }
    }
}

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.metrics.inqueue_kind(self.mutating, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apf_with_bootstrap(server_cl: u64) -> Arc<Apf> {
        let apf = Apf::new(server_cl, Arc::new(|_| Some(10_000)));
        let b = bootstrap();
        let uid = |v: &Value| {
            let mut v = v.clone();
            v["metadata"]["uid"] = json!(format!("uid-{}", key_of(&v)));
            v
        };
        apf.apply(
            false,
            Change::Reset(
                b.mandatory_priority_levels
                    .iter()
                    .chain(&b.suggested_priority_levels)
                    .map(uid)
                    .collect(),
            ),
        );
        apf.apply(
            true,
            Change::Reset(
                b.mandatory_flow_schemas
                    .iter()
                    .chain(&b.suggested_flow_schemas)
                    .map(uid)
                    .collect(),
            ),
        );
        apf.digest();
        apf
    }

    fn limits(apf: &Apf, name: &str) -> LevelLimits {
        *apf.config.read().unwrap().levels[name].limits.lock().unwrap()
    }

    #[test]
    fn nominal_limits_match_upstream_for_600_seats() {
        let apf = apf_with_bootstrap(600);
        // Upstream v1.33.13 with the default flags reports these nominal/lower/upper seats.
        for (name, nominal, lower, upper) in [
            ("catch-all", 13, 13, 613),
            ("exempt", 0, 0, 600),
            ("global-default", 49, 24, 649),
            ("leader-election", 25, 25, 625),
            ("node-high", 98, 73, 698),
            ("system", 74, 50, 674),
            ("workload-high", 98, 49, 698),
            ("workload-low", 245, 24, 845),
        ] {
            let l = limits(&apf, name);
            assert_eq!((l.nominal, l.min, l.max), (nominal, lower, upper), "{name}");
        }
        let cfg = apf.config.read().unwrap();
        assert_eq!(cfg.levels["global-default"].max_seats, 8);
        assert_eq!(cfg.flow_schemas.first().unwrap().name, "exempt");
        assert_eq!(cfg.flow_schemas.last().unwrap().name, "catch-all");
    }

    #[tokio::test]
    async fn classifies_and_names_the_uids() {
        let apf = apf_with_bootstrap(600);
        let u = UserInfo::new("tenant", vec!["system:authenticated".into()]);
        let info = RequestInfo::parse("GET", "/api/v1/namespaces/t/configmaps", false);
        match apf.admit(&u, &info, &Query::parse(""), Duration::from_secs(1)).await {
            Decision::Run(c, _) => {
                assert_eq!(c.flow_schema, "global-default");
                assert_eq!(c.flow_schema_uid, "uid-global-default");
                assert_eq!(c.priority_level_uid, "uid-global-default");
            }
            Decision::Reject(..) => panic!("rejected"),
        }
    }

    #[test]
    fn without_objects_the_mandatory_configuration_is_imagined() {
        let apf = Apf::new(600, Arc::new(|_| None));
        let cfg = apf.config.read().unwrap();
        let names: Vec<&str> = cfg.flow_schemas.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["exempt", "catch-all"]);
        assert_eq!(cfg.levels["catch-all"].limits.lock().unwrap().nominal, 600);
    }

    #[test]
    fn a_flow_schema_without_its_level_dangles() {
        let apf = apf_with_bootstrap(600);
        let fs = json!({"metadata": {"name": "mine", "uid": "u"}, "spec": {"matchingPrecedence": 50,
            "priorityLevelConfiguration": {"name": "nowhere"},
            "rules": [{"subjects": [{"kind": "Group", "group": {"name": "system:authenticated"}}],
                       "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}});
        apf.apply(true, Change::Upsert(fs));
        let updates = apf.digest();
        let mine: Vec<_> = updates.iter().filter(|u| u.name == "mine").collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].condition["status"], "True");
        assert_eq!(mine[0].condition["reason"], "NotFound");
        assert!(!apf.config.read().unwrap().flow_schemas.iter().any(|f| f.name == "mine"));
    }
}
