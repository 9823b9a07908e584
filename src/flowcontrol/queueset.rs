//! Fair queuing for one priority level (upstream `fairqueuing/queueset`): requests are
//! shuffle-sharded into queues by flow, and dispatched by virtual finish time — the queue
//! whose oldest request would finish first in a system that serves every active queue at an
//! equal rate of seat-seconds — whenever enough seats are free. Queues are bounded (a full
//! queue rejects), waits are bounded by the caller, and a request holds its seats until its
//! [`Seat`] is dropped (plus the fan-out time of a write's watch events).
//!
//! A level without queues rejects when its seats are taken (`Reject`); the exempt level never
//! waits but still counts what it runs (its demand feeds the borrowing computation).

use super::alloc::{Integrator, Results};
use super::estimate::WorkEstimate;
use super::metrics::ApfMetrics;
use super::shuffle::Dealer;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// Upstream's `estimatedServiceDuration`: the initial guess of a request's run time.
const ESTIMATED_SERVICE: Duration = Duration::from_millis(3);

/// How a level queues: `queues` > 0 queues with shuffle sharding; 0 rejects when full (no
/// queues); below 0 never limits (the exempt level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuingConfig {
    pub queues: i64,
    pub hand_size: usize,
    pub queue_length_limit: usize,
}

impl QueuingConfig {
    pub const EXEMPT: QueuingConfig = QueuingConfig {
        queues: -1,
        hand_size: 0,
        queue_length_limit: 0,
    };
    pub const REJECT: QueuingConfig = QueuingConfig {
        queues: 0,
        hand_size: 0,
        queue_length_limit: 0,
    };
}

/// What the debug dump shows of a request.
#[derive(Debug, Clone, Default)]
pub struct RequestDetails {
    pub user: String,
    pub verb: String,
    pub path: String,
    pub namespace: String,
    pub name: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    /// Watches are reported apart in the execution-time metric.
    pub watch: bool,
}

#[derive(Debug, Clone, Copy)]
struct Work {
    est: WorkEstimate,
    /// Seat-seconds: initial seats × the estimated service time, plus the fan-out work.
    total: f64,
    final_work: f64,
}

#[derive(Debug)]
struct Req {
    fs: Arc<str>,
    distinguisher: String,
    queue: Option<usize>,
    arrival_wall: SystemTime,
    arrival_r: f64,
    start: Option<Instant>,
    start_wall: Option<SystemTime>,
    work: Work,
    waker: Option<oneshot::Sender<()>>,
    waiting: bool,
    details: Arc<RequestDetails>,
}

impl Req {
    fn max_seats(&self) -> u64 {
        self.work.est.max_seats()
    }
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<u64>,
    executing: BTreeSet<u64>,
    seats_in_use: u64,
    next_dispatch_r: f64,
    initial_seats_sum: u64,
    max_seats_sum: u64,
    work_sum: f64,
}

impl Queue {
    fn idle(&self) -> bool {
        self.waiting.is_empty() && self.executing.is_empty()
    }
}

#[derive(Debug)]
struct State {
    cfg: QueuingConfig,
    dealer: Option<Dealer>,
    limit: u64,
    queues: Vec<Queue>,
    reqs: HashMap<u64, Req>,
    next_id: u64,
    current_r: f64,
    last_real: Instant,
    robin: usize,
    enqueues: usize,
    waiting: usize,
    executing: usize,
    seats_in_use: u64,
    seats_waiting: u64,
    dispatched: u64,
    rejected: u64,
    timed_out: u64,
    cancelled: u64,
    queueless: BTreeSet<u64>,
    demand: Integrator,
}

/// One priority level's queues and seats.
pub struct QueueSet {
    level: String,
    inner: Mutex<State>,
    metrics: Arc<ApfMetrics>,
}

/// The outcome of [`QueueSet::start`].
pub enum Start {
    /// Rejected at once; the reason for `apiserver_flowcontrol_rejected_requests_total`.
    Rejected(&'static str),
    /// Running now.
    Running(Seat),
    /// Waiting in a queue.
    Queued(Queued),
}

/// Seats held by a running request; dropping it finishes the request.
pub struct Seat {
    qs: Arc<QueueSet>,
    id: u64,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.qs.finish(self.id);
    }
}

/// A request waiting in a queue.
pub struct Queued {
    qs: Arc<QueueSet>,
    id: u64,
    rx: Option<oneshot::Receiver<()>>,
}

impl Queued {
    /// Wait up to `limit` for dispatch: the seat, or None when the wait ran out (the request
    /// is taken out of its queue and counts as rejected for `time-out`).
    pub async fn wait(mut self, limit: Duration) -> Option<Seat> {
        let rx = self.rx.take()?;
        let dispatched = matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(())));
        let (qs, id) = (self.qs.clone(), self.id);
        // From here the seat (if any) owns the request; this value's drop does nothing.
        self.id = 0;
        if dispatched || qs.give_up(id) == GiveUp::AlreadyRunning {
            return Some(Seat { qs, id });
        }
        None
    }
}

impl Drop for Queued {
    /// Dropped while waiting (the client went away): out of the queue, or finished if it was
    /// dispatched meanwhile.
    fn drop(&mut self) {
        if self.id != 0 && self.qs.give_up(self.id) == GiveUp::AlreadyRunning {
            self.qs.finish(self.id);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum GiveUp {
    Removed,
    AlreadyRunning,
    Gone,
}

/// A snapshot for the debug endpoints.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    pub queues: Vec<QueueDump>,
    pub queueless_executing: Vec<RequestDump>,
    pub waiting: usize,
    pub executing: usize,
    pub seats_in_use: u64,
    pub dispatched: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub cancelled: u64,
}

#[derive(Debug, Clone, Default)]
pub struct QueueDump {
    pub waiting: Vec<RequestDump>,
    pub executing: Vec<RequestDump>,
    pub seats_in_use: u64,
    pub next_dispatch_r: f64,
    pub initial_seats_sum: u64,
    pub max_seats_sum: u64,
    pub work_sum: f64,
}

#[derive(Debug, Clone)]
pub struct RequestDump {
    pub flow_schema: String,
    pub distinguisher: String,
    pub arrive: SystemTime,
    pub start: Option<SystemTime>,
    pub estimate: WorkEstimate,
    pub details: Arc<RequestDetails>,
}

impl QueueSet {
    pub fn new(level: &str, cfg: QueuingConfig, limit: u64, metrics: Arc<ApfMetrics>) -> Arc<QueueSet> {
        let now = Instant::now();
        let qs = Arc::new(QueueSet {
            level: level.to_string(),
            inner: Mutex::new(State {
                cfg: QueuingConfig::REJECT,
                dealer: None,
                limit,
                queues: Vec::new(),
                reqs: HashMap::new(),
                next_id: 1,
                current_r: 0.0,
                last_real: now,
                robin: 0,
                enqueues: 0,
                waiting: 0,
                executing: 0,
                seats_in_use: 0,
                seats_waiting: 0,
                dispatched: 0,
                rejected: 0,
                timed_out: 0,
                cancelled: 0,
                queueless: BTreeSet::new(),
                demand: Integrator::new(now),
            }),
            metrics,
        });
        qs.configure(cfg, limit);
        qs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        st.sync_time(Instant::now());
        st
    }

    /// A new queuing configuration and seat limit (queues are added, never renumbered; surplus
    /// queues drain and take no new requests).
    pub fn configure(&self, cfg: QueuingConfig, limit: u64) {
        let mut st = self.lock();
        st.dealer = if cfg.queues > 0 {
            Dealer::new(cfg.queues as usize, cfg.hand_size).ok()
        } else {
            None
        };
        while cfg.queues > 0 && st.queues.len() < cfg.queues as usize {
            st.queues.push(Queue::default());
        }
        st.cfg = cfg;
        st.limit = limit;
        self.dispatch_as_much_as_possible(&mut st);
    }

    /// The seats this level may use now (after borrowing and lending).
    pub fn set_limit(&self, limit: u64) {
        let mut st = self.lock();
        st.limit = limit;
        self.dispatch_as_much_as_possible(&mut st);
    }

    pub fn is_idle(&self) -> bool {
        let st = self.lock();
        st.waiting == 0 && st.executing == 0
    }

    /// Seat demand statistics since the last call.
    pub fn reset_demand(&self) -> Results {
        self.lock().demand.reset(Instant::now())
    }

    /// Admit, queue or reject one request of flow `hash` matched by FlowSchema `fs`.
    pub fn start(
        self: &Arc<Self>,
        est: WorkEstimate,
        hash: u64,
        fs: &str,
        distinguisher: &str,
        details: Arc<RequestDetails>,
    ) -> Start {
        let mut st = self.lock();
        let final_work = est.final_seats as f64 * est.additional_latency.as_secs_f64();
        let work = Work {
            est,
            total: est.initial_seats as f64 * ESTIMATED_SERVICE.as_secs_f64() + final_work,
            final_work,
        };
        let fs: Arc<str> = Arc::from(fs);
        let id = st.next_id;
        st.next_id += 1;
        let mut req = Req {
            fs: fs.clone(),
            distinguisher: distinguisher.to_string(),
            queue: None,
            arrival_wall: SystemTime::now(),
            arrival_r: st.current_r,
            start: None,
            start_wall: None,
            work,
            waker: None,
            waiting: false,
            details,
        };
        if st.cfg.queues < 1 || st.dealer.is_none() {
            if !st.can_accommodate(req.max_seats()) {
                st.rejected += 1;
                self.metrics.reject(&self.level, &fs, "concurrency-limit");
                return Start::Rejected("concurrency-limit");
            }
            let seats = req.max_seats();
            req.start = Some(Instant::now());
            req.start_wall = Some(SystemTime::now());
            st.executing += 1;
            st.seats_in_use += seats;
            st.dispatched += 1;
            st.queueless.insert(id);
            st.reqs.insert(id, req);
            self.metrics.executing(&self.level, &fs, 1, seats as i64);
            st.note_demand();
            return Start::Running(Seat { qs: self.clone(), id });
        }
        // Shuffle shard: the least loaded queue of the flow's hand.
        let qi = st.shuffle_shard(hash);
        if st.seats_in_use >= st.limit && st.queues[qi].waiting.len() >= st.cfg.queue_length_limit {
            st.rejected += 1;
            self.metrics.reject(&self.level, &fs, "queue-full");
            return Start::Rejected("queue-full");
        }
        let (tx, rx) = oneshot::channel();
        req.waker = Some(tx);
        req.waiting = true;
        req.queue = Some(qi);
        let seats = req.max_seats();
        let current_r = st.current_r;
        let q = &mut st.queues[qi];
        if q.idle() {
            q.next_dispatch_r = current_r;
        }
        q.waiting.push_back(id);
        q.initial_seats_sum += req.work.est.initial_seats;
        q.max_seats_sum += seats;
        q.work_sum += req.work.total;
        let len = q.waiting.len();
        st.waiting += 1;
        st.seats_waiting += seats;
        st.reqs.insert(id, req);
        self.metrics.inqueue(&self.level, &fs, 1, seats as i64);
        self.metrics.observe_queue_length(&self.level, &fs, len);
        st.note_demand();
        self.dispatch_as_much_as_possible(&mut st);
        if st.reqs.get(&id).is_some_and(|r| r.start.is_some()) {
            return Start::Running(Seat { qs: self.clone(), id });
        }
        Start::Queued(Queued {
            qs: self.clone(),
            id,
            rx: Some(rx),
        })
    }

    fn dispatch_as_much_as_possible(&self, st: &mut State) {
        while st.waiting > 0 && st.seats_in_use < st.limit && self.dispatch_one(st) {}
    }

    /// Dispatch the oldest request of the queue with the earliest virtual finish, if its seats
    /// fit; false when nothing can go now.
    fn dispatch_one(&self, st: &mut State) -> bool {
        let nq = st.queues.len();
        let mut best: Option<(usize, f64)> = None;
        for _ in 0..nq {
            st.robin = (st.robin + 1) % nq;
            let q = &st.queues[st.robin];
            if let Some(oldest) = q.waiting.front() {
                let finish = q.next_dispatch_r + st.reqs[oldest].work.total;
                if best.is_none_or(|(_, f)| finish < f) {
                    best = Some((st.robin, finish));
                }
            }
        }
        let Some((qi, _)) = best else { return false };
        let id = st.queues[qi].waiting[0];
        let seats = st.reqs[&id].max_seats();
        if !st.can_accommodate(seats) {
            return false;
        }
        st.robin = qi;
        st.queues[qi].waiting.pop_front();
        let limit = st.limit;
        let req = st.reqs.get_mut(&id).expect("queued request is known");
        let (initial, total) = (req.work.est.initial_seats, req.work.total);
        // A fan-out wider than the whole level is stretched in time instead.
        if req.work.est.final_seats > limit && limit > 0 {
            req.work.est.final_seats = limit;
            req.work.est.additional_latency = Duration::from_secs_f64(req.work.final_work / limit as f64);
        }
        req.waiting = false;
        let fs = req.fs.clone();
        let woke = req.waker.take().is_some_and(|w| w.send(()).is_ok());
        {
            let q = &mut st.queues[qi];
            q.initial_seats_sum -= initial;
            q.max_seats_sum -= seats;
            q.work_sum -= total;
        }
        st.waiting -= 1;
        st.seats_waiting -= seats;
        self.metrics.inqueue(&self.level, &fs, -1, -(seats as i64));
        if !woke {
            // The waiter is gone (timed out or disconnected in the same instant).
            st.reqs.remove(&id);
            st.cancelled += 1;
            st.rejected += 1;
            self.metrics.reject(&self.level, &fs, "cancelled");
            st.bound_next_dispatch(qi);
            st.note_demand();
            return true;
        }
        let req = st.reqs.get_mut(&id).expect("queued request is known");
        req.start = Some(Instant::now());
        req.start_wall = Some(SystemTime::now());
        st.executing += 1;
        st.seats_in_use += seats;
        st.dispatched += 1;
        let q = &mut st.queues[qi];
        q.executing.insert(id);
        q.seats_in_use += seats;
        q.next_dispatch_r += total;
        st.bound_next_dispatch(qi);
        self.metrics.executing(&self.level, &fs, 1, seats as i64);
        st.note_demand();
        true
    }

    /// Take a waiting request out of its queue (its wait ran out or its client left).
    fn give_up(&self, id: u64) -> GiveUp {
        let mut st = self.lock();
        let Some(req) = st.reqs.get(&id) else {
            return GiveUp::Gone;
        };
        if !req.waiting {
            return GiveUp::AlreadyRunning;
        }
        let qi = req.queue.expect("waiting requests are in a queue");
        let (fs, seats, initial, total) = (
            req.fs.clone(),
            req.max_seats(),
            req.work.est.initial_seats,
            req.work.total,
        );
        st.reqs.remove(&id);
        let q = &mut st.queues[qi];
        q.waiting.retain(|r| *r != id);
        q.initial_seats_sum -= initial;
        q.max_seats_sum -= seats;
        q.work_sum -= total;
        st.waiting -= 1;
        st.seats_waiting -= seats;
        st.rejected += 1;
        st.cancelled += 1;
        self.metrics.inqueue(&self.level, &fs, -1, -(seats as i64));
        self.metrics.reject(&self.level, &fs, "time-out");
        st.bound_next_dispatch(qi);
        st.note_demand();
        GiveUp::Removed
    }

    /// The request ran to completion: its seats go back (after the fan-out time of its watch
    /// events, if any) and the next requests are dispatched.
    fn finish(self: &Arc<Self>, id: u64) {
        let linger = {
            let mut st = self.lock();
            let Some(req) = st.reqs.get(&id) else { return };
            let Some(start) = req.start else { return };
            let actual = start.elapsed();
            let (fs, qi, initial, latency, watch) = (
                req.fs.clone(),
                req.queue,
                req.work.est.initial_seats,
                req.work.est.additional_latency,
                req.details.watch,
            );
            st.executing -= 1;
            self.metrics.executing(&self.level, &fs, -1, 0);
            self.metrics
                .observe_execution(&self.level, &fs, if watch { "watch" } else { "regular" }, actual);
            match qi {
                Some(qi) => {
                    let q = &mut st.queues[qi];
                    q.executing.remove(&id);
                    // Charge the queue for the real service time, not the estimate.
                    let correction = initial as f64 * (ESTIMATED_SERVICE.as_secs_f64() - actual.as_secs_f64());
                    q.next_dispatch_r -= correction;
                    st.bound_next_dispatch(qi);
                }
                None => {
                    st.queueless.remove(&id);
                }
            }
            if latency.is_zero() {
                self.release_seats(&mut st, id);
                None
            } else {
                Some(latency)
            }
        };
        if let Some(latency) = linger {
            let qs = self.clone();
            let release = async move {
                tokio::time::sleep(latency).await;
                let mut st = qs.lock();
                qs.release_seats(&mut st, id);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn(release);
                }
                Err(_) => {
                    let mut st = self.lock();
                    self.release_seats(&mut st, id);
                }
            }
        }
    }

    fn release_seats(&self, st: &mut State, id: u64) {
        let Some(req) = st.reqs.remove(&id) else { return };
        let seats = req.max_seats();
        st.seats_in_use -= seats;
        if let Some(qi) = req.queue {
            st.queues[qi].seats_in_use -= seats;
        }
        self.metrics.executing(&self.level, &req.fs, 0, -(seats as i64));
        st.note_demand();
        self.dispatch_as_much_as_possible(st);
    }

    /// What the debug endpoints show.
    pub fn dump(&self) -> Dump {
        let st = self.lock();
        let req = |id: &u64| {
            let r = &st.reqs[id];
            RequestDump {
                flow_schema: r.fs.to_string(),
                distinguisher: r.distinguisher.clone(),
                arrive: r.arrival_wall,
                start: r.start_wall,
                estimate: r.work.est,
                details: r.details.clone(),
            }
        };
        Dump {
            queues: st
                .queues
                .iter()
                .map(|q| QueueDump {
                    waiting: q.waiting.iter().map(req).collect(),
                    executing: q.executing.iter().map(req).collect(),
                    seats_in_use: q.seats_in_use,
                    next_dispatch_r: q.next_dispatch_r,
                    initial_seats_sum: q.initial_seats_sum,
                    max_seats_sum: q.max_seats_sum,
                    work_sum: q.work_sum,
                })
                .collect(),
            queueless_executing: st.queueless.iter().map(req).collect(),
            waiting: st.waiting,
            executing: st.executing,
            seats_in_use: st.seats_in_use,
            dispatched: st.dispatched,
            rejected: st.rejected,
            timed_out: st.timed_out,
            cancelled: st.cancelled,
        }
    }
}

impl State {
    /// Advance virtual time: every active queue is served at an equal share of the seats in
    /// use (at most the limit).
    fn sync_time(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last_real).as_secs_f64();
        self.last_real = now;
        let (mut active, mut requested) = (0u64, 0u64);
        for q in &self.queues {
            requested += q.seats_in_use + q.max_seats_sum;
            if !q.idle() {
                active += 1;
            }
        }
        if active > 0 {
            self.current_r += (requested.min(self.limit) as f64 / active as f64) * dt;
        }
    }

    fn can_accommodate(&self, seats: u64) -> bool {
        if self.cfg.queues < 0 {
            return true;
        }
        if seats > self.limit {
            // Wider than the whole level: runs alone.
            return self.executing == 0;
        }
        self.seats_in_use + seats <= self.limit
    }

    fn shuffle_shard(&mut self, hash: u64) -> usize {
        let hand = self.dealer.as_ref().map(|d| d.deal(hash)).unwrap_or_else(|| vec![0]);
        let offset = self.enqueues % hand.len();
        self.enqueues += 1;
        let mut best = hand[offset];
        let mut best_work = f64::MAX;
        for i in 0..hand.len() {
            let qi = hand[(offset + i) % hand.len()];
            let w = self.queues[qi].work_sum;
            if w < best_work {
                best_work = w;
                best = qi;
            }
        }
        best
    }

    /// A queue's next dispatch never lags its oldest request's arrival (upstream's anti-windup).
    fn bound_next_dispatch(&mut self, qi: usize) {
        let q = &self.queues[qi];
        if let Some(oldest) = q.waiting.front() {
            let bound = self.reqs[oldest].arrival_r;
            if self.queues[qi].next_dispatch_r < bound {
                self.queues[qi].next_dispatch_r = bound;
            }
        }
    }

    fn note_demand(&mut self) {
        let x = (self.seats_in_use + self.seats_waiting) as f64;
        self.demand.set(x, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qs(cfg: QueuingConfig, limit: u64) -> Arc<QueueSet> {
        QueueSet::new("pl", cfg, limit, Arc::default())
    }

    fn start(q: &Arc<QueueSet>, seats: u64, hash: u64) -> Start {
        q.start(WorkEstimate::seats(seats), hash, "fs", "", Arc::default())
    }

    const QUEUED: QueuingConfig = QueuingConfig {
        queues: 8,
        hand_size: 2,
        queue_length_limit: 2,
    };

    #[tokio::test]
    async fn reject_levels_refuse_beyond_their_seats() {
        let q = qs(QueuingConfig::REJECT, 2);
        let a = start(&q, 1, 0);
        let b = start(&q, 1, 0);
        assert!(matches!(a, Start::Running(_)) && matches!(b, Start::Running(_)));
        assert!(matches!(start(&q, 1, 0), Start::Rejected("concurrency-limit")));
        drop(a);
        assert!(matches!(start(&q, 1, 0), Start::Running(_)));
        // A request wider than the level runs only alone.
        drop(b);
        assert!(matches!(start(&q, 5, 0), Start::Running(_)));
        let d = q.dump();
        assert_eq!((d.dispatched, d.rejected), (4, 1));
    }

    #[tokio::test]
    async fn queued_requests_run_when_seats_free_and_queues_are_bounded() {
        let one_queue_per_flow = QueuingConfig {
            queues: 8,
            hand_size: 1,
            queue_length_limit: 2,
        };
        let q = qs(one_queue_per_flow, 1);
        let Start::Running(first) = start(&q, 1, 7) else {
            panic!("first runs")
        };
        let Start::Queued(w1) = start(&q, 1, 7) else {
            panic!("second waits")
        };
        let Start::Queued(_w2) = start(&q, 1, 7) else {
            panic!("third waits")
        };
        // The flow's only queue holds its limit of 2 and every seat is taken: rejected.
        assert!(matches!(start(&q, 1, 7), Start::Rejected("queue-full")));
        let waiter = tokio::spawn(w1.wait(Duration::from_secs(10)));
        drop(first);
        let seat = waiter.await.unwrap();
        assert!(seat.is_some(), "the oldest waiter runs once the seat is free");
        let d = q.dump();
        assert_eq!((d.executing, d.waiting), (1, 1));
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_leaves_the_queue() {
        let q = qs(QUEUED, 1);
        let Start::Running(_first) = start(&q, 1, 1) else {
            panic!()
        };
        let Start::Queued(w) = start(&q, 1, 1) else { panic!() };
        assert!(w.wait(Duration::from_millis(20)).await.is_none());
        let d = q.dump();
        assert_eq!((d.waiting, d.rejected, d.cancelled), (0, 1, 1));
        // A dropped waiter leaves too.
        let Start::Queued(w) = start(&q, 1, 1) else { panic!() };
        drop(w);
        assert_eq!(q.dump().waiting, 0);
    }

    #[tokio::test]
    async fn flows_share_fairly() {
        // One seat; a heavy flow queues many requests, a light flow one. The light flow's
        // request is dispatched before most of the heavy backlog (fair queuing, not FIFO).
        let cfg = QueuingConfig {
            queues: 64,
            hand_size: 1,
            queue_length_limit: 100,
        };
        let q = qs(cfg, 1);
        let heavy = super::super::shuffle::hash_flow("fs", "heavy");
        let mut light = super::super::shuffle::hash_flow("fs", "light");
        let mut n = 0;
        while super::super::shuffle::Dealer::new(64, 1).unwrap().deal(light)
            == super::super::shuffle::Dealer::new(64, 1).unwrap().deal(heavy)
        {
            n += 1;
            light = super::super::shuffle::hash_flow("fs", &format!("light{n}"));
        }
        let Start::Running(running) = start(&q, 1, heavy) else {
            panic!()
        };
        let mut heavy_waiters = Vec::new();
        for _ in 0..20 {
            let Start::Queued(w) = start(&q, 1, heavy) else {
                panic!()
            };
            heavy_waiters.push(tokio::spawn(w.wait(Duration::from_secs(10))));
        }
        let Start::Queued(lw) = start(&q, 1, light) else {
            panic!()
        };
        let mut light_waiter = tokio::spawn(lw.wait(Duration::from_secs(10)));
        drop(running);
        // Run heavy requests one by one until the light one has run; count how many went first.
        // One seat: whichever waiter holds it is the only one ready, so waiting on both tells
        // the dispatch order whatever order the runtime polls the tasks in.
        let mut heavy_before = 0;
        let mut pending = heavy_waiters.into_iter();
        let light_seat = loop {
            let Some(h) = pending.next() else {
                break (&mut light_waiter).await.unwrap();
            };
            tokio::select! {
                biased;
                seat = &mut light_waiter => break seat.unwrap(),
                seat = h => {
                    heavy_before += 1;
                    drop(seat.unwrap());
                }
            }
        };
        assert!(light_seat.is_some());
        assert!(
            heavy_before <= 2,
            "{heavy_before} heavy requests went before the light one"
        );
    }

    #[tokio::test]
    async fn exempt_levels_never_wait() {
        let q = qs(QueuingConfig::EXEMPT, 0);
        let seats: Vec<_> = (0..100).map(|_| start(&q, 1, 0)).collect();
        assert!(seats.iter().all(|s| matches!(s, Start::Running(_))));
        assert_eq!(q.dump().executing, 100);
        drop(seats);
        assert!(q.is_idle());
        assert!(q.reset_demand().max >= 100.0);
    }
}
