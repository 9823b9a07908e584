//! How many seats a request occupies, and for how long (upstream `flowcontrol/request`): a
//! LIST takes seats in proportion to the objects it will touch (from the live object counts of
//! the watch cache), a write keeps extra seats briefly for the watch events it fans out, and
//! everything else — including a watch, whose seat is held while its initial events are
//! prepared — takes one.

use crate::request::{Query, RequestInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upstream's `DefaultWorkEstimatorConfig`.
pub const MINIMUM_SEATS: u64 = 1;
pub const MAXIMUM_SEATS_LIMIT: u64 = 10;
const OBJECTS_PER_SEAT: f64 = 100.0;
const WATCHES_PER_SEAT: f64 = 10.0;
const EVENT_ADDITIONAL_DURATION: Duration = Duration::from_millis(5);

/// Seats at the start and after the response (watch fan-out), and for how long the latter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkEstimate {
    pub initial_seats: u64,
    pub final_seats: u64,
    pub additional_latency: Duration,
}

impl WorkEstimate {
    pub fn seats(n: u64) -> WorkEstimate {
        WorkEstimate {
            initial_seats: n,
            final_seats: 0,
            additional_latency: Duration::ZERO,
        }
    }

    pub fn max_seats(&self) -> u64 {
        self.initial_seats.max(self.final_seats)
    }
}

/// Live object count of the resource a request names (None: not a stored resource).
pub type ObjectCounts = Arc<dyn Fn(&RequestInfo) -> Option<i64> + Send + Sync>;

/// Open watches by what they watch, for the cost of writes (upstream `watch_tracker.go`).
#[derive(Default)]
pub struct WatchTracker {
    counts: Mutex<HashMap<(String, String, String, String), usize>>,
}

/// Keeps a watch counted while it lives.
pub struct WatchGuard {
    tracker: Arc<WatchTracker>,
    key: (String, String, String, String),
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut c = self.tracker.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = c.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.key);
            }
        }
    }
}

impl WatchTracker {
    /// Count a watch on the group/resource, namespace and name the request names.
    pub fn register(self: &Arc<Self>, info: &RequestInfo) -> Option<WatchGuard> {
        if info.verb != "watch" {
            return None;
        }
        let key = (
            info.group.clone(),
            info.resource.clone(),
            info.namespace.clone().unwrap_or_default(),
            info.name.clone().unwrap_or_default(),
        );
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_insert(0) += 1;
        Some(WatchGuard {
            tracker: self.clone(),
            key,
        })
    }

    /// Watches that will see a change to what `info` writes: of the whole resource, of its
    /// namespace, and of the object itself.
    pub fn interested(&self, info: &RequestInfo) -> usize {
        if matches!(info.verb.as_str(), "get" | "list" | "watch" | "proxy") {
            return 0;
        }
        let c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let get = |ns: &str, name: &str| {
            c.get(&(
                info.group.clone(),
                info.resource.clone(),
                ns.to_string(),
                name.to_string(),
            ))
            .copied()
            .unwrap_or(0)
        };
        let ns = info.namespace.as_deref().unwrap_or("");
        let mut n = get("", "");
        if !ns.is_empty() {
            n += get(ns, "");
        }
        if let Some(name) = info.name.as_deref().filter(|n| !n.is_empty()) {
            n += get(ns, name);
        }
        n
    }
}

/// Whether a LIST is answered by storage rather than the watch cache (upstream's
/// `ShouldDelegateListMeta`): an exact resourceVersion with a limit, or a continuation.
fn listed_from_storage(q: &Query) -> bool {
    let rv = q.get("resourceVersion").unwrap_or("");
    let limit = q.get("limit").and_then(|l| l.parse::<i64>().ok()).unwrap_or(0);
    match q.get("resourceVersionMatch").unwrap_or("") {
        "Exact" => true,
        "NotOlderThan" => false,
        _ => (limit > 0 && !rv.is_empty() && rv != "0") || q.get("continue").is_some_and(|c| !c.is_empty()),
    }
}

/// The estimate for a request at a level whose per-request cap is `level_max_seats` (0: none).
pub fn estimate(
    info: &RequestInfo,
    query: &Query,
    level_max_seats: u64,
    counts: &ObjectCounts,
    watches: &WatchTracker,
) -> WorkEstimate {
    let max_seats = if level_max_seats == 0 || level_max_seats > MAXIMUM_SEATS_LIMIT {
        MAXIMUM_SEATS_LIMIT
    } else {
        level_max_seats
    };
    if !info.is_resource {
        return WorkEstimate::seats(MINIMUM_SEATS);
    }
    match info.verb.as_str() {
        "list" => list_estimate(info, query, max_seats, counts),
        "create" | "update" | "patch" | "delete" => mutating_estimate(info, max_seats, watches),
        // A watch (without WatchList, off in 1.33) and everything else: one seat.
        _ => WorkEstimate::seats(MINIMUM_SEATS),
    }
}

fn list_estimate(info: &RequestInfo, query: &Query, max_seats: u64, counts: &ObjectCounts) -> WorkEstimate {
    if info.name.is_some() {
        return WorkEstimate::seats(MINIMUM_SEATS);
    }
    let Some(stored) = counts(info) else {
        return WorkEstimate::seats(MINIMUM_SEATS);
    };
    let limit = match query.get("limit").map(str::parse::<i64>) {
        Some(Err(_)) => return WorkEstimate::seats(max_seats),
        Some(Ok(l)) if l > 0 && l < stored => l,
        _ => stored,
    };
    let selector = query.get("fieldSelector").is_some_and(|s| !s.is_empty())
        || query.get("labelSelector").is_some_and(|s| !s.is_empty());
    let objects = if !listed_from_storage(query) {
        stored
    } else if selector {
        stored + limit
    } else {
        2 * limit
    };
    let seats = ((objects as f64) / OBJECTS_PER_SEAT).ceil() as u64;
    WorkEstimate::seats(seats.clamp(MINIMUM_SEATS, max_seats))
}

fn mutating_estimate(info: &RequestInfo, max_seats: u64, watches: &WatchTracker) -> WorkEstimate {
    // A TokenRequest writes nothing anyone watches.
    if info.resource == "serviceaccounts" && info.subresource.as_deref() == Some("token") {
        return WorkEstimate::seats(MINIMUM_SEATS);
    }
    let n = watches.interested(info);
    if (n as f64) < WATCHES_PER_SEAT {
        return WorkEstimate::seats(1);
    }
    let wanted = ((n as f64) / WATCHES_PER_SEAT).ceil() as u64;
    // The fan-out work (seats × 5 ms) is spread over the seats the level allows.
    let work = wanted as f64 * EVENT_ADDITIONAL_DURATION.as_secs_f64();
    let final_seats = wanted.min(max_seats);
    WorkEstimate {
        initial_seats: 1,
        final_seats,
        additional_latency: Duration::from_secs_f64(work / final_seats as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: i64) -> ObjectCounts {
        Arc::new(move |_| Some(n))
    }

    fn info(method: &str, path: &str) -> RequestInfo {
        RequestInfo::parse(method, path, false)
    }

    #[test]
    fn list_width_follows_the_object_count() {
        let w = WatchTracker::default();
        let list = info("GET", "/api/v1/namespaces/t/configmaps");
        let q = Query::parse("");
        // 10,000 objects from the cache: 100 seats wanted, capped by the level and the limit.
        assert_eq!(estimate(&list, &q, 8, &counts(10_000), &w).initial_seats, 8);
        assert_eq!(estimate(&list, &q, 0, &counts(10_000), &w).initial_seats, 10);
        assert_eq!(estimate(&list, &q, 8, &counts(250), &w).initial_seats, 3);
        assert_eq!(estimate(&list, &q, 8, &counts(0), &w).initial_seats, 1);
        // A continuation is read from storage: twice the page.
        let q = Query::parse("limit=150&continue=abc");
        assert_eq!(estimate(&list, &q, 8, &counts(10_000), &w).initial_seats, 3);
        // A single GET is one seat whatever the count.
        let get = info("GET", "/api/v1/namespaces/t/configmaps/a");
        assert_eq!(
            estimate(&get, &Query::parse(""), 8, &counts(10_000), &w),
            WorkEstimate::seats(1)
        );
    }

    #[test]
    fn writes_pay_for_their_watchers() {
        let w = Arc::new(WatchTracker::default());
        let watch = RequestInfo::parse("GET", "/api/v1/namespaces/t/configmaps", true);
        assert_eq!(watch.verb, "watch");
        let guards: Vec<_> = (0..25).map(|_| w.register(&watch).unwrap()).collect();
        let put = info("PUT", "/api/v1/namespaces/t/configmaps/a");
        assert_eq!(w.interested(&put), 25);
        let e = estimate(&put, &Query::parse(""), 8, &counts(1), &w);
        assert_eq!((e.initial_seats, e.final_seats), (1, 3));
        assert_eq!(e.additional_latency, Duration::from_millis(5));
        let other_ns = info("PUT", "/api/v1/namespaces/u/configmaps/a");
        assert_eq!(w.interested(&other_ns), 0);
        drop(guards);
        assert_eq!(w.interested(&put), 0);
        assert_eq!(
            estimate(&put, &Query::parse(""), 8, &counts(1), &w),
            WorkEstimate::seats(1)
        );
    }
}
