//! `--scenario soak`: a mixed workload for N seconds that survives the server and its storage
//! being killed and restarted (`scripts/soak.sh` and `tests/soak.rs` inject the faults), then
//! checks what must hold whatever happened:
//!
//! - kubelets (`system:node:<n>` in `system:nodes`): node status patches and lease renewals;
//! - an admin (`system:masters`, the kubeconfig's own identity): reads;
//! - controllers (a kube-system ServiceAccount): LIST then WATCH of the written namespace,
//!   resuming from the last resourceVersion (re-listing only on 410);
//! - one misbehaving tenant flooding LISTs of a namespace of `--flood-objects` ConfigMaps;
//! - writers (a ServiceAccount): creates, and read-modify-write updates of shared keys that
//!   conflict with each other.
//!
//! Afterwards: every acknowledged create exists and no shared key holds less than its last
//! acknowledged value (writes lost = 0); every watcher saw each acknowledged write's
//! resourceVersion, in increasing order per key, once (watch gaps and duplicates = 0; writes
//! inside a re-list window are covered by the list); the server's RSS over time (`--pid-file`,
//! re-read so restarts are followed); latency percentiles per traffic class. The report is
//! Markdown on stdout and JSON in `--report`.

use super::{load_target, status_kb, status_message, Args, Client, Response, Stats, Target};
use anyhow::{anyhow, bail};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FLOOD_NS: &str = "soak-flood";
const WRITE_NS: &str = "soak-writes";
const CLIENTS_GROUP: &str = "capstan-soak:clients";

/// Latencies of successful requests and counts of the others, per traffic class.
#[derive(Default)]
struct Class {
    /// When each successful request started (Unix seconds) and how long it took.
    ok: Vec<(f64, Duration)>,
    rejected: u64,
    retry_after_seen: u64,
    failed: u64,
    samples: Vec<String>,
}

#[derive(Default)]
struct Recorder {
    classes: Mutex<BTreeMap<&'static str, Class>>,
}

impl Recorder {
    fn ok(&self, class: &'static str, took: Duration) {
        let started = unix_now() - took.as_secs_f64();
        self.with(class, |c| c.ok.push((started, took)));
    }

    fn fail(&self, class: &'static str, what: String) {
        self.with(class, |c| {
            c.failed += 1;
            if c.samples.len() < 5 {
                c.samples.push(what);
            }
        });
    }

    fn rejected(&self, class: &'static str, retry_after: bool) {
        self.with(class, |c| {
            c.rejected += 1;
            c.retry_after_seen += u64::from(retry_after);
        });
    }

    fn with(&self, class: &'static str, f: impl FnOnce(&mut Class)) {
        f(self
            .classes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(class)
            .or_default())
    }

    /// Record one response: 2xx as latency, 429 as rejected, anything else as failure.
    fn response(&self, class: &'static str, what: &str, took: Duration, r: &anyhow::Result<Response>) {
        match r {
            Ok(r) if (200..300).contains(&r.status) => self.ok(class, took),
            Ok(r) if r.status == 429 => self.rejected(class, r.retry_after),
            Ok(r) => self.fail(class, format!("{what}: {}", status_message(r))),
            Err(e) => self.fail(class, format!("{what}: {e}")),
        }
    }
}

/// Writes acknowledged by the server: (name, resourceVersion, counter) of each.
#[derive(Default)]
struct Acked {
    creates: Mutex<Vec<(String, u64)>>,
    updates: Mutex<Vec<(String, u64, u64)>>,
    conflicts: AtomicU64,
}

/// What one watcher saw.
#[derive(Default, Debug)]
struct Watched {
    /// resourceVersion of the first list: writes before it are not expected as events.
    first_rv: u64,
    last_rv: u64,
    /// Per object: resourceVersions seen (events, and re-list snapshots), in arrival order.
    seen: HashMap<String, Vec<u64>>,
    /// (after, upto]: resourceVersions a re-list stood in for.
    relists: Vec<(u64, u64)>,
    /// Events whose resourceVersion was not above the object's previous one.
    duplicates: u64,
    events: u64,
    reconnects: u64,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The fault injector's windows (`START END` per line, Unix seconds); unreadable lines are
/// skipped, an unfinished window (no END) lasts to the end of the run.
fn fault_windows(path: &std::path::Path) -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|f| f.parse::<f64>().ok());
            let start = it.next().flatten()?;
            Some((start, it.next().flatten().unwrap_or(f64::INFINITY)))
        })
        .collect()
}

/// p50, p99 and max of `lat`, sorted in place.
fn percentiles(lat: &mut [Duration]) -> (Duration, Duration, Duration) {
    lat.sort();
    let max = lat.last().copied().unwrap_or_default();
    (Stats::quantile(lat, 0.5), Stats::quantile(lat, 0.99), max)
}

fn rv_num(v: &Value) -> u64 {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn name_of(v: &Value) -> String {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The identities of the traffic classes.
fn kubelet(target: &Arc<Target>, timeout: Duration, node: &str) -> Client {
    Client::impersonating(
        target.clone(),
        timeout,
        &format!("system:node:{node}"),
        &["system:nodes", "system:authenticated"],
    )
}

fn service_account(target: &Arc<Target>, timeout: Duration, ns: &str, name: &str) -> Client {
    Client::impersonating(
        target.clone(),
        timeout,
        &format!("system:serviceaccount:{ns}:{name}"),
        &[
            "system:serviceaccounts",
            &format!("system:serviceaccounts:{ns}"),
            "system:authenticated",
            CLIENTS_GROUP,
        ],
    )
}

fn tenant(target: &Arc<Target>, timeout: Duration) -> Client {
    Client::impersonating(
        target.clone(),
        timeout,
        "soak-tenant",
        &["system:authenticated", CLIENTS_GROUP],
    )
}

async fn post_ignoring_conflict(c: &mut Client, path: &str, obj: &Value) -> anyhow::Result<()> {
    let r = c.call("POST", path, Some(&serde_json::to_vec(obj)?)).await?;
    if r.status != 201 && r.status != 409 {
        bail!("POST {path}: {}", status_message(&r));
    }
    Ok(())
}

/// Namespaces, the clients' RBAC, nodes, the flood's objects and the shared keys.
async fn setup(args: &Args, target: &Arc<Target>, timeout: Duration) -> anyhow::Result<()> {
    let mut admin = Client::new(target.clone(), timeout);
    for ns in [FLOOD_NS, WRITE_NS, "kube-node-lease"] {
        post_ignoring_conflict(
            &mut admin,
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    post_ignoring_conflict(
        &mut admin,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "capstan-soak-clients"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": CLIENTS_GROUP}]}),
    )
    .await?;
    for n in 0..args.nodes {
        post_ignoring_conflict(
            &mut admin,
            "/api/v1/nodes",
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("soak-node-{n}")}}),
        )
        .await?;
    }
    for k in 0..args.write_keys {
        post_ignoring_conflict(
            &mut admin,
            &format!("/api/v1/namespaces/{WRITE_NS}/configmaps"),
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("shared-{k}")}, "data": {"counter": "0"}}),
        )
        .await?;
    }
    // The flood's objects: created once (a later run reuses them).
    let r = admin
        .call(
            "GET",
            &format!("/api/v1/namespaces/{FLOOD_NS}/configmaps?limit=1"),
            None,
        )
        .await?;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let have = v["items"].as_array().map(Vec::len).unwrap_or(0) as u64
        + v.pointer("/metadata/remainingItemCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
    if have < args.flood_objects as u64 {
        eprintln!("capstan-load: soak: creating {} flood objects", args.flood_objects);
        let next = Arc::new(AtomicU64::new(0));
        let total = args.flood_objects as u64;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (next, target) = (next.clone(), target.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = Client::new(target, timeout);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("flood-{i:05}")}, "data": {"v": "x".repeat(200)}});
                    post_ignoring_conflict(&mut c, &format!("/api/v1/namespaces/{FLOOD_NS}/configmaps"), &obj).await?;
                }
            }));
        }
        for t in tasks {
            t.await??;
        }
    }
    Ok(())
}

/// One kubelet: its node's status and its lease, every `period`.
async fn run_kubelet(
    target: Arc<Target>,
    timeout: Duration,
    node: String,
    period: Duration,
    stop: Arc<AtomicBool>,
    rec: Arc<Recorder>,
) {
    let mut c = kubelet(&target, timeout, &node);
    let lease_path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}");
    let mut beat = 0u64;
    // Spread the kubelets over the period.
    tokio::time::sleep(period.mul_f64(rand::random::<f64>())).await;
    while !stop.load(Ordering::Relaxed) {
        beat += 1;
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": format!("heartbeat {beat}")}]}});
        let t = Instant::now();
        let r = c
            .call_json(
                "PATCH",
                &format!("/api/v1/nodes/{node}/status"),
                &patch,
                "application/strategic-merge-patch+json",
            )
            .await;
        rec.response("kubelet", "node status", t.elapsed(), &r);
        let t = Instant::now();
        let r = c.call("GET", &lease_path, None).await;
        let renewed = match r {
            Ok(r) if r.status == 404 => {
                let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": node, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": node, "leaseDurationSeconds": 40}});
                c.call_json(
                    "POST",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    &lease,
                    "application/json",
                )
                .await
            }
            Ok(r) if r.status == 200 => {
                let mut l: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                l["spec"]["renewTime"] = json!(capstan::util::rfc3339_micros(std::time::SystemTime::now()));
                c.call_json("PUT", &lease_path, &l, "application/json").await
            }
            other => other,
        };
        // A lost race with our own earlier renewal is not a failure of the server.
        match &renewed {
            Ok(r) if r.status == 409 => rec.ok("kubelet", t.elapsed()),
            _ => rec.response("kubelet", "lease", t.elapsed(), &renewed),
        }
        tokio::time::sleep(period).await;
    }
}

/// The tenant: LISTs of the flood namespace, back to back.
async fn run_flood(target: Arc<Target>, timeout: Duration, stop: Arc<AtomicBool>, rec: Arc<Recorder>) {
    let mut c = tenant(&target, timeout);
    let path = format!("/api/v1/namespaces/{FLOOD_NS}/configmaps");
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = c.call("GET", &path, None).await;
        rec.response("flood", "list", t.elapsed(), &r);
        if r.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The admin: a read every `period`.
async fn run_masters(
    target: Arc<Target>,
    timeout: Duration,
    period: Duration,
    stop: Arc<AtomicBool>,
    rec: Arc<Recorder>,
) {
    let mut c = Client::new(target, timeout);
    let path = format!("/api/v1/namespaces/{WRITE_NS}/configmaps/shared-0");
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = c.call("GET", &path, None).await;
        rec.response("masters", "get", t.elapsed(), &r);
        tokio::time::sleep(period).await;
    }
}

/// One writer: a create, then a conflicting read-modify-write of a shared key, in turn.
async fn run_writer(
    target: Arc<Target>,
    timeout: Duration,
    id: usize,
    keys: usize,
    stop: Arc<AtomicBool>,
    rec: Arc<Recorder>,
    acked: Arc<Acked>,
) {
    let mut c = service_account(&target, timeout, WRITE_NS, "writer");
    let base = format!("/api/v1/namespaces/{WRITE_NS}/configmaps");
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let name = format!("w-{id}-{seq}");
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"seq": seq.to_string()}});
        let t = Instant::now();
        let r = c.call_json("POST", &base, &obj, "application/json").await;
        rec.response("writes", "create", t.elapsed(), &r);
        if let Ok(r) = &r {
            if r.status == 201 {
                let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                acked
                    .creates
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((name, rv_num(&v)));
            }
        }
        let key = format!("shared-{}", rand::random_range(0..keys.max(1)));
        let t = Instant::now();
        let got = c.call("GET", &format!("{base}/{key}"), None).await;
        let Ok(got) = got else {
            rec.response("writes", "get", t.elapsed(), &got);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if got.status != 200 {
            rec.response("writes", "get", t.elapsed(), &Ok(got));
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut v: Value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
        let counter: u64 = v
            .pointer("/data/counter")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            + 1;
        v["data"]["counter"] = json!(counter.to_string());
        let r = c
            .call_json("PUT", &format!("{base}/{key}"), &v, "application/json")
            .await;
        match &r {
            Ok(resp) if resp.status == 409 => {
                acked.conflicts.fetch_add(1, Ordering::Relaxed);
                rec.ok("writes", t.elapsed());
            }
            Ok(resp) if resp.status == 200 => {
                let nv: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                acked
                    .updates
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((key, rv_num(&nv), counter));
                rec.ok("writes", t.elapsed());
            }
            _ => rec.response("writes", "update", t.elapsed(), &r),
        }
    }
}

/// A controller: list, then watch from the list's resourceVersion; resume from the last one
/// seen after a stream ends, re-list only on 410.
async fn run_watcher(
    target: Arc<Target>,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    rec: Arc<Recorder>,
    out: Arc<Mutex<Watched>>,
) {
    let mut c = service_account(&target, timeout, "kube-system", "soak-controller");
    let base = format!("/api/v1/namespaces/{WRITE_NS}/configmaps");
    let mut need_list = true;
    while !stop.load(Ordering::Relaxed) {
        if need_list {
            let t = Instant::now();
            let r = c.call("GET", &base, None).await;
            rec.response("controller", "list", t.elapsed(), &r);
            let Ok(resp) = r.as_ref() else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            if resp.status != 200 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            let list_rv = rv_num(&v);
            let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
            if w.first_rv == 0 {
                w.first_rv = list_rv;
            } else {
                let after = w.last_rv;
                w.relists.push((after, list_rv));
            }
            for item in v["items"].as_array().cloned().unwrap_or_default() {
                let (name, rv) = (name_of(&item), rv_num(&item));
                let seen = w.seen.entry(name).or_default();
                if seen.last().is_none_or(|l| *l < rv) {
                    seen.push(rv);
                }
            }
            w.last_rv = list_rv;
            need_list = false;
        }
        let from = out.lock().unwrap_or_else(|e| e.into_inner()).last_rv;
        let path = format!("{base}?watch=true&resourceVersion={from}&allowWatchBookmarks=true&timeoutSeconds=30");
        match watch_once(&target, &c.extra, &path, timeout, &stop, &out).await {
            Ok(WatchEnd::Gone) => need_list = true,
            Ok(WatchEnd::Ended) => {}
            Err(e) => {
                rec.fail("controller", format!("watch: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        out.lock().unwrap_or_else(|e| e.into_inner()).reconnects += 1;
    }
    drop(c);
}

enum WatchEnd {
    Ended,
    Gone,
}

async fn watch_once(
    target: &Arc<Target>,
    extra: &str,
    path: &str,
    timeout: Duration,
    stop: &AtomicBool,
    out: &Mutex<Watched>,
) -> anyhow::Result<WatchEnd> {
    let mut conn = tokio::time::timeout(timeout, target.connect())
        .await
        .map_err(|_| anyhow!("connect timed out"))??;
    conn.send("GET", path, None, extra).await?;
    let head = tokio::time::timeout(timeout, conn.read_head())
        .await
        .map_err(|_| anyhow!("no response headers"))??;
    if head.status == 410 {
        return Ok(WatchEnd::Gone);
    }
    if head.status != 200 || !head.chunked {
        let body = conn.read_body(&head).await.unwrap_or_default();
        bail!("watch: {}", status_message(&Response::new(head.status, body)));
    }
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(WatchEnd::Ended);
        }
        // Bookmarks arrive at least every few seconds on an idle watch.
        let chunk = match tokio::time::timeout(Duration::from_secs(45), conn.read_chunk()).await {
            Err(_) => bail!("watch stalled for 45 s"),
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => return Ok(WatchEnd::Ended),
            Ok(Err(e)) => bail!("watch stream: {e}"),
        };
        pending.extend_from_slice(&chunk);
        while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            let Ok(ev) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let obj = &ev["object"];
            let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
            match ev["type"].as_str().unwrap_or("") {
                "ERROR" => {
                    if obj["code"].as_i64() == Some(410) {
                        return Ok(WatchEnd::Gone);
                    }
                    bail!("watch error event: {obj}");
                }
                "BOOKMARK" => {
                    let rv = rv_num(obj);
                    w.last_rv = w.last_rv.max(rv);
                }
                _ => {
                    let (name, rv) = (name_of(obj), rv_num(obj));
                    w.events += 1;
                    let seen = w.seen.entry(name).or_default();
                    if seen.last().is_some_and(|l| *l >= rv) {
                        w.duplicates += 1;
                    } else {
                        seen.push(rv);
                    }
                    w.last_rv = w.last_rv.max(rv);
                }
            }
        }
    }
}

/// The server's RSS over time, following restarts (the pid file is re-read).
async fn sample_rss(
    pid_file: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(f64, u32, u64)>>>,
    t0: Instant,
) {
    while !stop.load(Ordering::Relaxed) {
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            if let Some(kb) = status_kb(pid, "VmRSS:") {
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((t0.elapsed().as_secs_f64(), pid, kb));
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Wait for `/readyz` (the server may be restarting).
async fn wait_ready(target: &Arc<Target>, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let mut c = Client::new(target.clone(), Duration::from_secs(5));
    loop {
        if matches!(c.call("GET", "/readyz", None).await, Ok(r) if r.status == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server is not ready after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let target = Arc::new(load_target(&args.kubeconfig)?);
    let timeout = Duration::from_secs(args.request_timeout.max(1));
    wait_ready(&target, Duration::from_secs(120)).await?;
    setup(args, &target, timeout).await?;
    let rec = Arc::new(Recorder::default());
    let acked = Arc::new(Acked::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stop_watchers = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let rss = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    if let Some(pf) = &args.pid_file {
        tasks.push(tokio::spawn(sample_rss(pf.clone(), stop.clone(), rss.clone(), t0)));
    }
    let watched: Vec<Arc<Mutex<Watched>>> = (0..args.watchers.max(1)).map(|_| Arc::default()).collect();
    let mut watcher_tasks = Vec::new();
    for w in &watched {
        watcher_tasks.push(tokio::spawn(run_watcher(
            target.clone(),
            timeout,
            stop_watchers.clone(),
            rec.clone(),
            w.clone(),
        )));
    }
    // Let the watchers take their first list before writing.
    for w in &watched {
        while w.lock().unwrap_or_else(|e| e.into_inner()).first_rv == 0 {
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("the watchers could not list within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let period = Duration::from_millis(args.node_period_ms.max(10));
    for n in 0..args.nodes {
        tasks.push(tokio::spawn(run_kubelet(
            target.clone(),
            timeout,
            format!("soak-node-{n}"),
            period,
            stop.clone(),
            rec.clone(),
        )));
    }
    tasks.push(tokio::spawn(run_masters(
        target.clone(),
        timeout,
        Duration::from_millis(200),
        stop.clone(),
        rec.clone(),
    )));
    for _ in 0..args.flood_workers {
        tasks.push(tokio::spawn(run_flood(
            target.clone(),
            timeout,
            stop.clone(),
            rec.clone(),
        )));
    }
    for id in 0..args.writers {
        tasks.push(tokio::spawn(run_writer(
            target.clone(),
            timeout,
            id,
            args.write_keys,
            stop.clone(),
            rec.clone(),
            acked.clone(),
        )));
    }
    eprintln!(
        "capstan-load: soak: running for {} s ({} kubelets, {} flood workers on {} objects, {} writers, {} watchers)",
        args.duration,
        args.nodes,
        args.flood_workers,
        args.flood_objects,
        args.writers,
        watched.len()
    );
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let load_secs = t0.elapsed().as_secs_f64();
    // Verify once the server is back and the watchers have caught up with every acknowledged write.
    wait_ready(&target, Duration::from_secs(180)).await?;
    let creates = acked.creates.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let updates = acked.updates.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let max_rv = creates
        .iter()
        .map(|c| c.1)
        .chain(updates.iter().map(|u| u.1))
        .max()
        .unwrap_or(0);
    let catch_up = Instant::now();
    while watched
        .iter()
        .any(|w| w.lock().unwrap_or_else(|e| e.into_inner()).last_rv < max_rv)
    {
        if catch_up.elapsed() > Duration::from_secs(120) {
            eprintln!("capstan-load: soak: watchers did not reach resourceVersion {max_rv} within 120 s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_watchers.store(true, Ordering::Relaxed);
    for t in watcher_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
    }
    // Writes lost: acknowledged creates missing, shared keys below their last acknowledged value.
    let mut admin = Client::new(target.clone(), Duration::from_secs(60));
    let r = admin
        .call("GET", &format!("/api/v1/namespaces/{WRITE_NS}/configmaps"), None)
        .await?;
    if r.status != 200 {
        bail!("final list: {}", status_message(&r));
    }
    let v: Value = serde_json::from_slice(&r.body)?;
    let stored: HashMap<String, Value> = v["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|i| (name_of(&i), i))
        .collect();
    let mut lost = Vec::new();
    for (name, rv) in &creates {
        if !stored.contains_key(name) {
            lost.push(format!("create {name} (rv {rv}) is missing"));
        }
    }
    let mut highest: HashMap<&str, u64> = HashMap::new();
    for (key, _, counter) in &updates {
        let e = highest.entry(key.as_str()).or_default();
        *e = (*e).max(*counter);
    }
    for (key, want) in &highest {
        let have: u64 = stored
            .get(*key)
            .and_then(|o| o.pointer("/data/counter"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if have < *want {
            lost.push(format!("{key} holds counter {have}, below the acknowledged {want}"));
        }
    }
    // Watch gaps and duplicates.
    let mut gaps = Vec::new();
    let (mut duplicates, mut relists, mut events, mut reconnects) = (0u64, 0usize, 0u64, 0u64);
    for (i, w) in watched.iter().enumerate() {
        let w = w.lock().unwrap_or_else(|e| e.into_inner());
        duplicates += w.duplicates;
        relists += w.relists.len();
        events += w.events;
        reconnects += w.reconnects;
        let writes = creates
            .iter()
            .map(|(n, rv)| (n.as_str(), *rv))
            .chain(updates.iter().map(|(k, rv, _)| (k.as_str(), *rv)));
        for (name, rv) in writes {
            if rv <= w.first_rv || w.relists.iter().any(|(a, b)| rv > *a && rv <= *b) {
                continue;
            }
            if !w.seen.get(name).is_some_and(|s| s.contains(&rv)) {
                gaps.push(format!(
                    "watcher {i} never saw {name} at resourceVersion {rv} (it reached {})",
                    w.last_rv
                ));
            }
        }
    }
    let classes = rec.classes.lock().unwrap_or_else(|e| e.into_inner());
    let rss = rss.lock().unwrap_or_else(|e| e.into_inner()).clone();
    report(
        args, load_secs, &classes, &creates, &updates, &acked, &lost, &gaps, duplicates, relists, events, reconnects,
        &rss,
    )
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    load_secs: f64,
    classes: &BTreeMap<&'static str, Class>,
    creates: &[(String, u64)],
    updates: &[(String, u64, u64)],
    acked: &Acked,
    lost: &[String],
    gaps: &[String],
    duplicates: u64,
    relists: usize,
    events: u64,
    reconnects: u64,
    rss: &[(f64, u32, u64)],
) -> anyhow::Result<()> {
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let mut per_class = serde_json::Map::new();
    let windows = args.fault_log.as_deref().map(fault_windows).unwrap_or_default();
    let in_fault = |started: f64| windows.iter().any(|(a, b)| started >= *a && started <= *b);
    println!("| Traffic class | OK | 429 (with Retry-After) | Failed | p50 (ms) | p99 (ms) | max (ms) | p99 outside / inside fault windows (ms) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, c) in classes {
        let mut all: Vec<Duration> = c.ok.iter().map(|o| o.1).collect();
        let (p50, p99, max) = percentiles(&mut all);
        let (mut inside, mut outside): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        for (started, took) in &c.ok {
            if in_fault(*started) {
                inside.push(*took)
            } else {
                outside.push(*took)
            }
        }
        let (n_in, n_out) = (inside.len(), outside.len());
        let (_, p99_out, _) = percentiles(&mut outside);
        let (_, p99_in, _) = percentiles(&mut inside);
        println!(
            "| {name} | {} | {} ({}) | {} | {:.2} | {:.2} | {:.2} | {:.2} / {:.2} |",
            all.len(),
            c.rejected,
            c.retry_after_seen,
            c.failed,
            ms(p50),
            ms(p99),
            ms(max),
            ms(p99_out),
            ms(p99_in)
        );
        per_class.insert(
            name.to_string(),
            json!({"ok": all.len(), "rejected": c.rejected, "retry_after": c.retry_after_seen, "failed": c.failed,
                   "p50_ms": ms(p50), "p99_ms": ms(p99), "max_ms": ms(max), "failure_samples": c.samples,
                   "outside_faults": {"ok": n_out, "p99_ms": ms(p99_out)},
                   "inside_faults": {"ok": n_in, "p99_ms": ms(p99_in)}}),
        );
    }
    let operations: u64 = classes
        .values()
        .map(|c| c.ok.len() as u64 + c.rejected + c.failed)
        .sum();
    // RSS: the first sample after 10% of the run (warm caches) and the last, of the last process.
    let last_pid = rss.last().map(|r| r.1);
    let segment: Vec<&(f64, u32, u64)> = rss.iter().filter(|r| Some(r.1) == last_pid).collect();
    let warm = segment
        .iter()
        .find(|r| r.0 >= segment.first().map(|f| f.0).unwrap_or(0.0) + load_secs * 0.1)
        .or(segment.first());
    let (rss_start, rss_end) = (warm.map(|r| r.2), segment.last().map(|r| r.2));
    let restarts = rss.windows(2).filter(|w| w[0].1 != w[1].1).count();
    println!();
    println!(
        "Duration {load_secs:.0} s; {operations} operations; {} acknowledged creates, {} acknowledged updates, {} update conflicts; {} server restarts seen.",
        creates.len(),
        updates.len(),
        acked.conflicts.load(Ordering::Relaxed),
        restarts
    );
    println!(
        "Writes lost: {}; watch gaps: {}; watch duplicates: {duplicates}; watch events: {events}; re-lists: {relists}; watch reconnects: {reconnects}.",
        lost.len(),
        gaps.len()
    );
    if let (Some(a), Some(b)) = (rss_start, rss_end) {
        println!(
            "Server RSS: {:.1} MiB after warm-up, {:.1} MiB at the end.",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        );
    }
    for l in lost.iter().take(10) {
        println!("- LOST: {l}");
    }
    for g in gaps.iter().take(10) {
        println!("- GAP: {g}");
    }
    for (name, c) in classes {
        for s in &c.samples {
            println!("- {name} failure sample: {}", s.replace('\n', " "));
        }
    }
    let out = json!({
        "duration_s": load_secs,
        "operations": operations,
        "acked_creates": creates.len(),
        "acked_updates": updates.len(),
        "conflicts": acked.conflicts.load(Ordering::Relaxed),
        "writes_lost": lost.len(),
        "lost_samples": lost.iter().take(20).collect::<Vec<_>>(),
        "watch_gaps": gaps.len(),
        "gap_samples": gaps.iter().take(20).collect::<Vec<_>>(),
        "watch_duplicates": duplicates,
        "watch_events": events,
        "relists": relists,
        "watch_reconnects": reconnects,
        "server_restarts_seen": restarts,
        "rss_start_kib": rss_start,
        "rss_end_kib": rss_end,
        "rss_samples": rss.iter().map(|r| json!([r.0, r.1, r.2])).collect::<Vec<_>>(),
        "classes": per_class,
        "fault_windows": windows.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
        "flood_objects": args.flood_objects,
        "nodes": args.nodes,
    });
    if let Some(p) = &args.report {
        std::fs::write(p, serde_json::to_vec_pretty(&out)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_windows_read_the_injectors_log() {
        let dir = std::env::temp_dir().join(format!("capstan-load-faults-{}", std::process::id()));
        std::fs::write(&dir, "100.5 104.25\ngarbage\n200.0\n").unwrap();
        let w = fault_windows(&dir);
        let _ = std::fs::remove_file(&dir);
        // The unfinished last window lasts to the end of the run.
        assert_eq!(w, vec![(100.5, 104.25), (200.0, f64::INFINITY)]);
        assert!(fault_windows(std::path::Path::new("/nonexistent/faults")).is_empty());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut lat: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let (p50, p99, max) = percentiles(&mut lat);
        assert_eq!(
            (p50, p99, max),
            (
                Duration::from_millis(50),
                Duration::from_millis(99),
                Duration::from_millis(100)
            )
        );
    }
}
