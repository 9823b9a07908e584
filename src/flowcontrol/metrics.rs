//! Upstream's `apiserver_flowcontrol_*` metrics (k8s.io/apiserver/pkg/util/flowcontrol/metrics),
//! with the same names, labels, stability markers and buckets, rendered into `/metrics`.

use crate::metrics::{esc, write_histogram, Histogram};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const DURATION_BUCKETS: &[f64] = &[0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0];
const QUEUE_LENGTH_BUCKETS: &[f64] = &[0.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
const SEATS_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 10.0];

type Pair = (String, String);

/// The configured and current seat limits of one level.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub nominal: u64,
    pub lower: u64,
    pub upper: u64,
    pub current: u64,
}

#[derive(Default)]
struct Inner {
    dispatched: BTreeMap<Pair, u64>,
    rejected: BTreeMap<(String, String, &'static str), u64>,
    executing_requests: BTreeMap<Pair, i64>,
    executing_seats: BTreeMap<Pair, i64>,
    inqueue_requests: BTreeMap<Pair, i64>,
    inqueue_seats: BTreeMap<Pair, i64>,
    wait: BTreeMap<(String, String, &'static str), Histogram>,
    execution: BTreeMap<(String, String, &'static str), Histogram>,
    work_seats: BTreeMap<Pair, Histogram>,
    queue_length: BTreeMap<Pair, Histogram>,
    limits: BTreeMap<String, Limits>,
    fair_frac: f64,
    /// `apiserver_current_inqueue_requests{request_kind}`: read-only, mutating.
    inqueue_kind: [i64; 2],
}

/// Counters and gauges of API Priority and Fairness.
#[derive(Default)]
pub struct ApfMetrics {
    inner: Mutex<Inner>,
}

fn key(level: &str, fs: &str) -> Pair {
    (level.to_string(), fs.to_string())
}

impl ApfMetrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn dispatch(&self, level: &str, fs: &str) {
        self.with(|m| *m.dispatched.entry(key(level, fs)).or_default() += 1);
    }

    pub fn reject(&self, level: &str, fs: &str, reason: &'static str) {
        self.with(|m| {
            *m.rejected
                .entry((level.to_string(), fs.to_string(), reason))
                .or_default() += 1
        });
    }

    pub fn executing(&self, level: &str, fs: &str, requests: i64, seats: i64) {
        self.with(|m| {
            *m.executing_requests.entry(key(level, fs)).or_default() += requests;
            *m.executing_seats.entry(key(level, fs)).or_default() += seats;
        });
    }

    pub fn inqueue(&self, level: &str, fs: &str, requests: i64, seats: i64) {
        self.with(|m| {
            *m.inqueue_requests.entry(key(level, fs)).or_default() += requests;
            *m.inqueue_seats.entry(key(level, fs)).or_default() += seats;
        });
    }

    /// A request of `kind` (read-only or mutating) entered (+1) or left (-1) a queue.
    pub fn inqueue_kind(&self, mutating: bool, delta: i64) {
        self.with(|m| m.inqueue_kind[usize::from(mutating)] += delta);
    }

    pub fn observe_wait(&self, level: &str, fs: &str, executed: bool, waited: Duration) {
        let execute = if executed { "true" } else { "false" };
        self.with(|m| {
            m.wait
                .entry((level.to_string(), fs.to_string(), execute))
                .or_insert_with(|| Histogram::new(DURATION_BUCKETS))
                .observe(waited.as_secs_f64())
        });
    }

    pub fn observe_execution(&self, level: &str, fs: &str, kind: &'static str, took: Duration) {
        self.with(|m| {
            m.execution
                .entry((level.to_string(), fs.to_string(), kind))
                .or_insert_with(|| Histogram::new(DURATION_BUCKETS))
                .observe(took.as_secs_f64())
        });
    }

    pub fn observe_work_seats(&self, level: &str, fs: &str, seats: u64) {
        self.with(|m| {
            m.work_seats
                .entry(key(level, fs))
                .or_insert_with(|| Histogram::new(SEATS_BUCKETS))
                .observe(seats as f64)
        });
    }

    pub fn observe_queue_length(&self, level: &str, fs: &str, len: usize) {
        self.with(|m| {
            m.queue_length
                .entry(key(level, fs))
                .or_insert_with(|| Histogram::new(QUEUE_LENGTH_BUCKETS))
                .observe(len as f64)
        });
    }

    pub fn set_limits(&self, level: &str, limits: Limits) {
        self.with(|m| {
            m.limits.insert(level.to_string(), limits);
        });
    }

    /// Forget a level that no longer exists.
    pub fn forget_level(&self, level: &str) {
        self.with(|m| {
            m.limits.remove(level);
        });
    }

    pub fn set_fair_frac(&self, f: f64) {
        self.with(|m| m.fair_frac = f);
    }

    /// Append the exposition of every APF metric.
    pub fn render(&self, out: &mut String) {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let pair = |(pl, fs): &Pair| format!("flow_schema=\"{}\",priority_level=\"{}\"", esc(fs), esc(pl));
        let header = |out: &mut String, name: &str, help: &str, ty: &str| {
            let _ = writeln!(out, "# HELP apiserver_flowcontrol_{name} {help}");
            let _ = writeln!(out, "# TYPE apiserver_flowcontrol_{name} {ty}");
        };
        let counters: [(&str, &str, &BTreeMap<Pair, i64>); 4] = [
            (
                "current_executing_requests",
                "[BETA] Number of requests in initial (for a WATCH) or any (for a non-WATCH) execution stage in the API Priority and Fairness subsystem",
                &m.executing_requests,
            ),
            (
                "current_executing_seats",
                "[BETA] Concurrency (number of seats) occupied by the currently executing (initial stage for a WATCH, any stage otherwise) requests in the API Priority and Fairness subsystem",
                &m.executing_seats,
            ),
            (
                "current_inqueue_requests",
                "[BETA] Number of requests currently pending in queues of the API Priority and Fairness subsystem",
                &m.inqueue_requests,
            ),
            (
                "current_inqueue_seats",
                "[ALPHA] Number of seats currently pending in queues of the API Priority and Fairness subsystem",
                &m.inqueue_seats,
            ),
        ];
        for (name, help, map) in counters {
            header(out, name, help, "gauge");
            for (k, v) in map {
                let _ = writeln!(out, "apiserver_flowcontrol_{name}{{{}}} {v}", pair(k));
            }
        }
        header(
            out,
            "dispatched_requests_total",
            "[BETA] Number of requests executed by API Priority and Fairness subsystem",
            "counter",
        );
        for (k, v) in &m.dispatched {
            let _ = writeln!(
                out,
                "apiserver_flowcontrol_dispatched_requests_total{{{}}} {v}",
                pair(k)
            );
        }
        header(
            out,
            "rejected_requests_total",
            "[BETA] Number of requests rejected by API Priority and Fairness subsystem",
            "counter",
        );
        for ((pl, fs, reason), v) in &m.rejected {
            let _ = writeln!(
                out,
                "apiserver_flowcontrol_rejected_requests_total{{{},reason=\"{reason}\"}} {v}",
                pair(&(pl.clone(), fs.clone()))
            );
        }
        header(
            out,
            "request_wait_duration_seconds",
            "[BETA] Length of time a request spent waiting in its queue",
            "histogram",
        );
        for ((pl, fs, execute), h) in &m.wait {
            let labels = format!("execute=\"{execute}\",{}", pair(&(pl.clone(), fs.clone())));
            write_histogram(out, "apiserver_flowcontrol_request_wait_duration_seconds", &labels, h);
        }
        header(
            out,
            "request_execution_seconds",
            "[ALPHA] Duration of initial stage (for a WATCH) or any (for a non-WATCH) stage of request execution in the API Priority and Fairness subsystem",
            "histogram",
        );
        for ((pl, fs, kind), h) in &m.execution {
            let labels = format!("{},type=\"{kind}\"", pair(&(pl.clone(), fs.clone())));
            write_histogram(out, "apiserver_flowcontrol_request_execution_seconds", &labels, h);
        }
        header(
            out,
            "work_estimated_seats",
            "[ALPHA] Number of estimated seats (maximum of initial and final seats) associated with requests in API Priority and Fairness",
            "histogram",
        );
        for (k, h) in &m.work_seats {
            write_histogram(out, "apiserver_flowcontrol_work_estimated_seats", &pair(k), h);
        }
        header(
            out,
            "request_queue_length_after_enqueue",
            "[ALPHA] Length of queue in the API Priority and Fairness subsystem, as seen by each request after it is enqueued",
            "histogram",
        );
        for (k, h) in &m.queue_length {
            write_histogram(
                out,
                "apiserver_flowcontrol_request_queue_length_after_enqueue",
                &pair(k),
                h,
            );
        }
        type Gauge = (&'static str, &'static str, fn(&Limits) -> u64);
        let limits: [Gauge; 4] = [
            (
                "nominal_limit_seats",
                "[BETA] Nominal number of execution seats configured for each priority level",
                |l| l.nominal,
            ),
            (
                "lower_limit_seats",
                "[ALPHA] Configured lower bound on number of execution seats available to each priority level",
                |l| l.lower,
            ),
            (
                "upper_limit_seats",
                "[ALPHA] Configured upper bound on number of execution seats available to each priority level",
                |l| l.upper,
            ),
            (
                "current_limit_seats",
                "[ALPHA] current derived number of execution seats available to each priority level",
                |l| l.current,
            ),
        ];
        for (name, help, get) in limits {
            header(out, name, help, "gauge");
            for (pl, l) in &m.limits {
                let _ = writeln!(
                    out,
                    "apiserver_flowcontrol_{name}{{priority_level=\"{}\"}} {}",
                    esc(pl),
                    get(l)
                );
            }
        }
        header(
            out,
            "seat_fair_frac",
            "[ALPHA] Fair fraction of server's concurrency to allocate to each priority level that can use it",
            "gauge",
        );
        let _ = writeln!(out, "apiserver_flowcontrol_seat_fair_frac {}", m.fair_frac);
        out.push_str("# HELP apiserver_current_inqueue_requests [ALPHA] Maximal number of queued requests in this apiserver per request kind in last second.\n# TYPE apiserver_current_inqueue_requests gauge\n");
        let _ = writeln!(
            out,
            "apiserver_current_inqueue_requests{{request_kind=\"mutating\"}} {}",
            m.inqueue_kind[1]
        );
        let _ = writeln!(
            out,
            "apiserver_current_inqueue_requests{{request_kind=\"readOnly\"}} {}",
            m.inqueue_kind[0]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_upstream_names_and_labels() {
        let m = ApfMetrics::default();
        m.dispatch("global-default", "global-default");
        m.reject("global-default", "global-default", "queue-full");
        m.executing("exempt", "exempt", 1, 1);
        m.observe_wait("workload-low", "service-accounts", true, Duration::from_millis(3));
        m.set_limits(
            "catch-all",
            Limits {
                nominal: 13,
                lower: 13,
                upper: 613,
                current: 13,
            },
        );
        let mut out = String::new();
        m.render(&mut out);
        for want in [
            "apiserver_flowcontrol_dispatched_requests_total{flow_schema=\"global-default\",priority_level=\"global-default\"} 1",
            "apiserver_flowcontrol_rejected_requests_total{flow_schema=\"global-default\",priority_level=\"global-default\",reason=\"queue-full\"} 1",
            "apiserver_flowcontrol_current_executing_requests{flow_schema=\"exempt\",priority_level=\"exempt\"} 1",
            "apiserver_flowcontrol_request_wait_duration_seconds_bucket{execute=\"true\",flow_schema=\"service-accounts\",priority_level=\"workload-low\",le=\"0.005\"} 1",
            "apiserver_flowcontrol_nominal_limit_seats{priority_level=\"catch-all\"} 13",
            "apiserver_flowcontrol_upper_limit_seats{priority_level=\"catch-all\"} 613",
            "# TYPE apiserver_flowcontrol_current_limit_seats gauge",
        ] {
            assert!(out.contains(want), "missing {want} in:\n{out}");
        }
    }
}
