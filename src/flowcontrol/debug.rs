//! `/debug/api_priority_and_fairness/dump_priority_levels|dump_queues|dump_requests`: upstream's
//! comma-and-tab tables (`apf_controller_debug.go`), aligned as Go's `tabwriter` with minimum
//! width 8 and padding 1 aligns them.

use super::controller::Apf;
use super::queueset::RequestDump;
use std::time::SystemTime;

/// Align `rows` (cells without separators) as `tabwriter.NewWriter(w, 8, 0, 1, ' ', 0)` does for
/// cells joined by ",\t": every cell but the last of a line ends with a comma and is padded.
fn tabulate(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = (c.chars().count() + 2).max(8);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(c);
            } else {
                let cell = format!("{c},");
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `time.RFC3339Nano` in UTC (trailing zeros of the fraction dropped); the zero time when
/// unset.
fn time(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".into();
    };
    let s = humantime::format_rfc3339_nanos(t).to_string();
    match s.split_once('.') {
        Some((whole, frac)) => {
            let digits = frac.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{digits}Z")
            }
        }
        None => s,
    }
}

/// Go's `%.8fss` of seat-seconds.
fn seat_seconds(v: f64) -> String {
    format!("{v:.8}ss")
}

pub fn priority_levels(apf: &Apf) -> String {
    let mut rows = vec![[
        "PriorityLevelName",
        "ActiveQueues",
        "IsIdle",
        "IsQuiescing",
        "WaitingRequests",
        "ExecutingRequests",
        "DispatchedRequests",
        "RejectedRequests",
        "TimedoutRequests",
        "CancelledRequests",
    ]
    .map(String::from)
    .to_vec()];
    for (name, quiescing, qs) in apf.levels() {
        let d = qs.dump();
        let active = d.queues.iter().filter(|q| !q.waiting.is_empty()).count();
        rows.push(vec![
            name,
            active.to_string(),
            (d.waiting == 0 && d.executing == 0).to_string(),
            quiescing.to_string(),
            d.waiting.to_string(),
            d.executing.to_string(),
            d.dispatched.to_string(),
            d.rejected.to_string(),
            d.timed_out.to_string(),
            d.cancelled.to_string(),
        ]);
    }
    tabulate(&rows)
}

pub fn queues(apf: &Apf) -> String {
    let mut rows = vec![[
        "PriorityLevelName",
        "Index",
        "PendingRequests",
        "ExecutingRequests",
        "SeatsInUse",
        "NextDispatchR",
        "InitialSeatsSum",
        "MaxSeatsSum",
        "TotalWorkSum",
    ]
    .map(String::from)
    .to_vec()];
    for (name, _, qs) in apf.levels() {
        for (i, q) in qs.dump().queues.iter().enumerate() {
            rows.push(vec![
                name.clone(),
                i.to_string(),
                q.waiting.len().to_string(),
                q.executing.len().to_string(),
                q.seats_in_use.to_string(),
                seat_seconds(q.next_dispatch_r),
                q.initial_seats_sum.to_string(),
                q.max_seats_sum.to_string(),
                seat_seconds(q.work_sum),
            ]);
        }
    }
    tabulate(&rows)
}

pub fn requests(apf: &Apf, details: bool) -> String {
    let mut header: Vec<String> = [
        "PriorityLevelName",
        "FlowSchemaName",
        "QueueIndex",
        "RequestIndexInQueue",
        "FlowDistingsher",
        "ArriveTime",
        "InitialSeats",
        "FinalSeats",
        "AdditionalLatency",
        "StartTime",
    ]
    .map(String::from)
    .to_vec();
    if details {
        header.extend(
            [
                "UserName",
                "Verb",
                "APIPath",
                "Namespace",
                "Name",
                "APIVersion",
                "Resource",
                "SubResource",
            ]
            .map(String::from),
        );
    }
    let mut rows = vec![header];
    for (name, _, qs) in apf.levels() {
        let d = qs.dump();
        let mut row = |qi: i64, ri: i64, r: &RequestDump| {
            let mut cells = vec![
                name.clone(),
                r.flow_schema.clone(),
                qi.to_string(),
                ri.to_string(),
                r.distinguisher.clone(),
                time(Some(r.arrive)),
                r.estimate.initial_seats.to_string(),
                r.estimate.final_seats.to_string(),
                crate::util::go_duration(r.estimate.additional_latency.as_nanos() as i64),
                time(r.start),
            ];
            if details {
                let x = &r.details;
                cells.extend([
                    x.user.clone(),
                    x.verb.clone(),
                    x.path.clone(),
                    x.namespace.clone(),
                    x.name.clone(),
                    x.api_version.clone(),
                    x.resource.clone(),
                    x.subresource.clone(),
                ]);
            }
            rows.push(cells);
        };
        for (qi, q) in d.queues.iter().enumerate() {
            for (ri, r) in q.waiting.iter().enumerate() {
                row(qi as i64, ri as i64, r);
            }
            for r in &q.executing {
                row(qi as i64, -1, r);
            }
        }
        for r in &d.queueless_executing {
            row(-1, -1, r);
        }
    }
    tabulate(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_nano() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(1_500_000_000);
        assert_eq!(time(Some(t)), "1970-01-01T00:00:01.5Z");
        assert_eq!(time(Some(SystemTime::UNIX_EPOCH)), "1970-01-01T00:00:00Z");
        assert_eq!(time(None), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn columns_align_like_gos_tabwriter() {
        let rows = vec![
            vec!["PriorityLevelName".into(), "ActiveQueues".into(), "IsIdle".into()],
            vec!["catch-all".into(), "0".into(), "true".into()],
        ];
        assert_eq!(
            tabulate(&rows),
            "PriorityLevelName, ActiveQueues, IsIdle\ncatch-all,         0,            true\n"
        );
    }
}
