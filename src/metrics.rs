//! `/metrics` in Prometheus text format (0.0.4) with upstream's metric names and labels.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// upstream `apiserver_request_duration_seconds` buckets (k8s.io/apiserver/pkg/endpoints/metrics).
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0,
    45.0, 60.0,
];
/// upstream `etcd_request_duration_seconds` buckets.
const STORAGE_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0,
    45.0, 60.0,
];

/// Labels of one request, as upstream's `MonitorRequest` records them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestLabels {
    pub verb: String,
    pub dry_run: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub scope: &'static str,
}

/// A Prometheus histogram (cumulative buckets, sum, count).
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(buckets: &'static [f64]) -> Self {
        Histogram {
            buckets,
            counts: vec![0; buckets.len()],
            sum: 0.0,
            count: 0,
        }
    }
    pub fn observe(&mut self, v: f64) {
        for (i, b) in self.buckets.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// upstream `apiserver_watch_events_sizes` buckets: 1 KiB doubling to 128 KiB.
const WATCH_EVENT_SIZE_BUCKETS: [u64; 8] = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

/// One kind's `apiserver_watch_events_total` and `apiserver_watch_events_sizes`: atomics, so a
/// watch holds its kind's handle and records each event it writes without a lock.
#[derive(Debug, Default)]
pub struct WatchEventStats {
    /// Events at or under each bucket's bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; WATCH_EVENT_SIZE_BUCKETS.len()],
    count: AtomicU64,
    bytes: AtomicU64,
}

impl WatchEventStats {
    /// One event sent, carrying an object of `size` bytes.
    pub fn observe(&self, size: usize) {
        let size = size as u64;
        if let Some(i) = WATCH_EVENT_SIZE_BUCKETS.iter().position(|b| size <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Events sent so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// `(group, version, kind)` of a watched resource, as upstream labels its watch metrics.
type WatchKind = (&'static str, &'static str, &'static str);

/// The audit backends' counters, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct AuditCounters {
    /// `apiserver_audit_event_total`.
    pub events: AtomicU64,
    /// `apiserver_audit_error_total{plugin}` (events that failed to be audited).
    pub errors: AtomicU64,
    /// The `plugin` label of the error counter (`log`, or `buffered` in batch mode).
    pub plugin: std::sync::OnceLock<&'static str>,
}

/// Requests handled by the exec/attach translator and the port-forward tunnel, by code
/// (`apiserver_stream_translator_requests_total`, `apiserver_stream_tunnel_requests_total`).
#[derive(Debug, Default)]
pub struct StreamCounters {
    translator: Mutex<std::collections::BTreeMap<u16, u64>>,
    tunnel: Mutex<std::collections::BTreeMap<u16, u64>>,
}

impl StreamCounters {
    pub fn translated(&self, code: u16) {
        if let Ok(mut m) = self.translator.lock() {
            *m.entry(code).or_insert(0) += 1;
        }
    }

    pub fn tunneled(&self, code: u16) {
        if let Ok(mut m) = self.tunnel.lock() {
            *m.entry(code).or_insert(0) += 1;
        }
    }

    fn render(&self, out: &mut String) {
        for (name, help, m) in [
            ("apiserver_stream_translator_requests_total", "Total number of requests that were handled by the StreamTranslatorProxy, which processes streaming RemoteCommand/V5", &self.translator),
            ("apiserver_stream_tunnel_requests_total", "Total number of requests that were handled by the StreamTunnelProxy, which processes streaming PortForward/V2", &self.tunnel),
        ] {
            let Ok(m) = m.lock() else { continue };
            if m.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} [ALPHA] {help}\n# TYPE {name} counter");
            for (code, n) in m.iter() {
                let _ = writeln!(out, "{name}{{code=\"{code}\"}} {n}");
            }
        }
    }
}

/// Automatic reloads of a configuration file (`--authentication-config`,
/// `--authorization-config`), as upstream's
/// `apiserver_<what>_config_controller_automatic_reloads_total` and
/// `..._automatic_reload_last_timestamp_seconds`, by status and the hashed apiserver identity.
#[derive(Debug)]
pub struct ConfigReloads {
    what: &'static str,
    id_hash: String,
    /// status → (count, unix time of the last one)
    state: Mutex<std::collections::BTreeMap<&'static str, (u64, f64)>>,
}

impl ConfigReloads {
    /// `what`: `authentication` or `authorization`; `apiserver_id` as [`crate::util::hash::apiserver_id`].
    pub fn new(what: &'static str, apiserver_id: &str) -> ConfigReloads {
        ConfigReloads {
            what,
            id_hash: format!("sha256:{}", crate::util::hash::sha256_hex(apiserver_id.as_bytes())),
            state: Mutex::default(),
        }
    }

    pub fn success(&self) {
        self.record("success");
    }

    pub fn failure(&self) {
        self.record("failure");
    }

    fn record(&self, status: &'static str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        if let Ok(mut m) = self.state.lock() {
            let e = m.entry(status).or_insert((0, 0.0));
            e.0 += 1;
            e.1 = now;
        }
    }

    /// Nothing until the first reload attempt (upstream's vectors start empty).
    fn render(&self, out: &mut String) {
        let Ok(m) = self.state.lock() else { return };
        if m.is_empty() {
            return;
        }
        let (what, id) = (self.what, &self.id_hash);
        let total = format!("apiserver_{what}_config_controller_automatic_reloads_total");
        let _ = writeln!(out, "# HELP {total} [ALPHA] Total number of automatic reloads of {what} configuration split by status and apiserver identity.\n# TYPE {total} counter");
        for (status, (n, _)) in m.iter() {
            let _ = writeln!(out, "{total}{{apiserver_id_hash=\"{id}\",status=\"{status}\"}} {n}");
        }
        let last = format!("apiserver_{what}_config_controller_automatic_reload_last_timestamp_seconds");
        let _ = writeln!(out, "# HELP {last} [ALPHA] Timestamp of the last automatic reload of {what} configuration split by status and apiserver identity.\n# TYPE {last} gauge");
        for (status, (_, t)) in m.iter() {
            let _ = writeln!(out, "{last}{{apiserver_id_hash=\"{id}\",status=\"{status}\"}} {t}");
        }
    }
}

pub struct Metrics {
    requests: Mutex<HashMap<(RequestLabels, u16), u64>>,
    durations: Mutex<HashMap<RequestLabels, Histogram>>,
    storage: Mutex<HashMap<(&'static str, String), Histogram>>,
    watch_events: Mutex<HashMap<WatchKind, std::sync::Arc<WatchEventStats>>>,
    pub inflight_readonly: AtomicI64,
    pub inflight_mutating: AtomicI64,
    rejected: AtomicU64,
    started: std::time::SystemTime,
    /// Audit counters, shared with the audit backend.
    pub audit: std::sync::Arc<AuditCounters>,
    /// Stream translation counters, shared with the proxy.
    pub streams: std::sync::Arc<StreamCounters>,
    /// `--authentication-config` reloads, shared with the authenticator.
    pub authn_config_reloads: std::sync::Arc<ConfigReloads>,
    /// `--authorization-config` reloads, shared with the authorizer.
    pub authz_config_reloads: std::sync::Arc<ConfigReloads>,
    /// `--disabled-metrics`: families left out of the exposition.
    pub disabled: Vec<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        let apiserver_id = crate::util::hash::apiserver_id(
            &hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        Metrics {
            requests: Mutex::default(),
            durations: Mutex::default(),
            storage: Mutex::default(),
            watch_events: Mutex::default(),
            inflight_readonly: AtomicI64::new(0),
            inflight_mutating: AtomicI64::new(0),
            rejected: AtomicU64::new(0),
            started: std::time::SystemTime::now(),
            audit: std::sync::Arc::default(),
            streams: std::sync::Arc::default(),
            authn_config_reloads: std::sync::Arc::new(ConfigReloads::new("authentication", &apiserver_id)),
            authz_config_reloads: std::sync::Arc::new(ConfigReloads::new("authorization", &apiserver_id)),
            disabled: Vec::new(),
        }
    }
}

/// A label value escaped for the exposition format.
pub fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels_text(l: &RequestLabels) -> String {
    format!(
        "component=\"apiserver\",dry_run=\"{}\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"",
        esc(&l.dry_run),
        esc(&l.group),
        esc(&l.resource),
        l.scope,
        esc(&l.subresource),
        esc(&l.verb),
        esc(&l.version)
    )
}

/// Write `h` as `name_bucket`/`_sum`/`_count` lines with `labels` (already rendered).
pub fn write_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (i, b) in h.buckets.iter().enumerate() {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {}", h.counts[i]);
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

impl Metrics {
    /// Record one finished request (watches are recorded when their stream starts).
    pub fn observe_request(&self, labels: RequestLabels, code: u16, elapsed: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((labels.clone(), code)).or_insert(0) += 1;
        }
        if let Ok(mut m) = self.durations.lock() {
            m.entry(labels)
                .or_insert_with(|| Histogram::new(DURATION_BUCKETS))
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Record one storage operation (`etcd_request_duration_seconds{operation,type}`).
    pub fn observe_storage(&self, operation: &'static str, ty: &str, elapsed: Duration) {
        if let Ok(mut m) = self.storage.lock() {
            m.entry((operation, ty.to_string()))
                .or_insert_with(|| Histogram::new(STORAGE_BUCKETS))
                .observe(elapsed.as_secs_f64());
        }
    }

    /// The watch event counters of one kind, for a watch to record what it sends.
    pub fn watch_events(
        &self,
        group: &'static str,
        version: &'static str,
        kind: &'static str,
    ) -> std::sync::Arc<WatchEventStats> {
        let mut m = self.watch_events.lock().unwrap_or_else(|e| e.into_inner());
        m.entry((group, version, kind)).or_default().clone()
    }

    fn render_watch_events(&self, out: &mut String) {
        let m = self.watch_events.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = m
            .iter()
            .map(|((group, version, kind), s)| {
                let labels = format!(
                    "group=\"{}\",kind=\"{}\",version=\"{}\"",
                    esc(group),
                    esc(kind),
                    esc(version)
                );
                (labels, s)
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        out.push_str("# HELP apiserver_watch_events_sizes [ALPHA] Watch event size distribution in bytes\n# TYPE apiserver_watch_events_sizes histogram\n");
        for (labels, s) in &rows {
            let mut cumulative = 0;
            for (bound, n) in WATCH_EVENT_SIZE_BUCKETS.iter().zip(&s.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "apiserver_watch_events_sizes_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = s.count();
            let _ = writeln!(
                out,
                "apiserver_watch_events_sizes_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "apiserver_watch_events_sizes_sum{{{labels}}} {}",
                s.bytes.load(Ordering::Relaxed)
            );
            let _ = writeln!(out, "apiserver_watch_events_sizes_count{{{labels}}} {count}");
        }
        out.push_str("# HELP apiserver_watch_events_total [ALPHA] Number of events sent in watch clients\n# TYPE apiserver_watch_events_total counter\n");
        for (labels, s) in &rows {
            let _ = writeln!(out, "apiserver_watch_events_total{{{labels}}} {}", s.count());
        }
    }

    pub fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Metrics without the `--disabled-metrics` families.
    pub fn with_disabled(disabled: Vec<String>) -> Metrics {
        Metrics {
            disabled,
            ..Metrics::default()
        }
    }

    /// The exposition without the `--disabled-metrics` families (their HELP, TYPE and every
    /// sample, histogram `_bucket`/`_sum`/`_count` included), as upstream's registry drops them.
    pub fn without_disabled(&self, text: String) -> String {
        if self.disabled.is_empty() {
            return text;
        }
        let family = |line: &str| -> String {
            let name = match line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
                Some(rest) => rest.split(' ').next().unwrap_or(""),
                None => line.split(['{', ' ']).next().unwrap_or(""),
            };
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| self.disabled.iter().any(|d| d == b)));
            base.unwrap_or(name).to_string()
        };
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            if !self.disabled.contains(&family(line)) {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// The exposition. `objects` is `apiserver_storage_objects` per resource.
    pub fn render(&self, objects: &[(String, usize)]) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str("# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        if let Ok(m) = self.requests.lock() {
            let mut rows: Vec<_> = m.iter().collect();
            rows.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
            for ((l, code), n) in rows {
                let _ = writeln!(out, "apiserver_request_total{{code=\"{code}\",{}}} {n}", labels_text(l));
            }
        }
        out.push_str("# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.\n# TYPE apiserver_request_duration_seconds histogram\n");
        if let Ok(m) = self.durations.lock() {
            let mut rows: Vec<_> = m.iter().collect();
            rows.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
            for (l, h) in rows {
                write_histogram(&mut out, "apiserver_request_duration_seconds", &labels_text(l), h);
            }
        }
        out.push_str("# HELP apiserver_current_inflight_requests [STABLE] Maximal number of currently used inflight request limit of this apiserver per request kind in last second.\n# TYPE apiserver_current_inflight_requests gauge\n");
        let _ = writeln!(
            out,
            "apiserver_current_inflight_requests{{request_kind=\"mutating\"}} {}",
            self.inflight_mutating.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "apiserver_current_inflight_requests{{request_kind=\"readOnly\"}} {}",
            self.inflight_readonly.load(Ordering::Relaxed)
        );
        out.push_str("# HELP apiserver_dropped_requests_total [ALPHA] Number of requests dropped with 'Try again later' response.\n# TYPE apiserver_dropped_requests_total counter\n");
        let _ = writeln!(
            out,
            "apiserver_dropped_requests_total {}",
            self.rejected.load(Ordering::Relaxed)
        );
        out.push_str("# HELP apiserver_audit_event_total [ALPHA] Counter of audit events generated and sent to the audit backend.\n# TYPE apiserver_audit_event_total counter\n");
        let _ = writeln!(
            out,
            "apiserver_audit_event_total {}",
            self.audit.events.load(Ordering::Relaxed)
        );
        if let Some(plugin) = self.audit.plugin.get() {
            out.push_str("# HELP apiserver_audit_error_total [ALPHA] Counter of audit events that failed to be audited properly. Plugin identifies the plugin affected by the error.\n# TYPE apiserver_audit_error_total counter\n");
            let _ = writeln!(
                out,
                "apiserver_audit_error_total{{plugin=\"{plugin}\"}} {}",
                self.audit.errors.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP apiserver_storage_objects [STABLE] Number of stored objects at the time of last check split by kind.\n# TYPE apiserver_storage_objects gauge\n");
        for (resource, n) in objects {
            let _ = writeln!(out, "apiserver_storage_objects{{resource=\"{}\"}} {n}", esc(resource));
        }
        out.push_str("# HELP etcd_request_duration_seconds [ALPHA] Etcd request latency in seconds for each operation and object type.\n# TYPE etcd_request_duration_seconds histogram\n");
        if let Ok(m) = self.storage.lock() {
            let mut rows: Vec<_> = m.iter().collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for ((op, ty), h) in rows {
                write_histogram(
                    &mut out,
                    "etcd_request_duration_seconds",
                    &format!("operation=\"{op}\",type=\"{}\"", esc(ty)),
                    h,
                );
            }
        }
        self.render_watch_events(&mut out);
        self.streams.render(&mut out);
        self.authn_config_reloads.render(&mut out);
        self.authz_config_reloads.render(&mut out);
        process_metrics(&mut out, self.started);
        out
    }
}

/// `process_*` metrics from /proc, as the Go client's process collector reports them.
fn process_metrics(out: &mut String, started: std::time::SystemTime) {
    let page = 4096u64;
    let ticks = 100f64;
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let f: Vec<u64> = statm.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if f.len() >= 2 {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {}", f[1] * page);
            out.push_str("# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\n");
            let _ = writeln!(out, "process_virtual_memory_bytes {}", f[0] * page);
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may contain spaces) start at index 2.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 13 {
                let utime: f64 = f[11].parse().unwrap_or(0.0);
                let stime: f64 = f[12].parse().unwrap_or(0.0);
                out.push_str("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n");
                let _ = writeln!(out, "process_cpu_seconds_total {}", (utime + stime) / ticks);
            }
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.push_str("# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\n");
        let _ = writeln!(out, "process_open_fds {}", fds.count());
    }
    let start = started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    out.push_str("# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n");
    let _ = writeln!(out, "process_start_time_seconds {start}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_upstream_names_and_histograms() {
        let m = Metrics::default();
        let l = RequestLabels {
            verb: "LIST".into(),
            dry_run: String::new(),
            group: String::new(),
            version: "v1".into(),
            resource: "pods".into(),
            subresource: String::new(),
            scope: "namespace",
        };
        m.observe_request(l.clone(), 200, Duration::from_millis(30));
        m.observe_request(l, 200, Duration::from_millis(3));
        let text = m.render(&[("pods".into(), 3)]);
        assert!(text.contains("apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"} 2"));
        assert!(text.contains("apiserver_request_duration_seconds_bucket{component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\",le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("apiserver_storage_objects{resource=\"pods\"} 3"));
        // --disabled-metrics drops whole families, histograms included, and nothing else.
        let m = Metrics::with_disabled(vec![
            "apiserver_storage_objects".into(),
            "apiserver_request_duration_seconds".into(),
        ]);
        let kept = m.without_disabled(text.clone());
        assert!(!kept.contains("apiserver_storage_objects"), "{kept}");
        assert!(!kept.contains("apiserver_request_duration_seconds"), "{kept}");
        assert!(kept.contains("# TYPE apiserver_request_total counter"));
        assert_eq!(
            kept.lines().count()
                + text
                    .lines()
                    .filter(
                        |l| l.contains("apiserver_storage_objects") || l.contains("apiserver_request_duration_seconds")
                    )
                    .count(),
            text.lines().count()
        );
        assert!(text.contains("process_resident_memory_bytes "));
    }
}
