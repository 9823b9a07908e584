//! One watch: the events a cache subscription delivers, filtered by the watch's selectors
//! (objects moving in or out of the selection become ADDED/DELETED), with bookmarks and the
//! timeout. It runs in whoever reads it — the response body being written, an informer — not in
//! a task of its own: with 10,000 watchers, a task and a second queue per watcher doubled the
//! wake-ups and queue hops of every event (cache → task → queue → connection).

use super::options::ListOptions;
use super::store::{selects, WatchOut};
use crate::api::ResourceDef;
use crate::error::ApiError;
use crate::storage::cache::{CacheEvent, CacheEventType, CachedObject, Subscription, WatchMsg};
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

/// A watch's events, read with [`Watch::recv`]. Dropping it ends the watch: the cache sees the
/// closed queue and forgets the watcher.
pub struct Watch {
    def: ResourceDef,
    opts: ListOptions,
    /// Replayed history or the current objects, sent before live events.
    initial: std::vec::IntoIter<CacheEvent>,
    /// A WatchList's bookmark that ends the initial events, still to send.
    initial_end_pending: bool,
    /// The one event of a watch that could not start (410 Expired), still to send.
    error: Option<ApiError>,
    /// Live events; None once the watch has ended.
    rx: Option<mpsc::Receiver<WatchMsg>>,
    last_rev: i64,
    /// When the watch ends.
    deadline: Instant,
    /// How often a bookmark is sent (when the client allows them).
    bookmark_every: Duration,
    /// One timer per watch, for whichever comes first: the next bookmark or the deadline (one
    /// timer polled per event, not two).
    wake: Pin<Box<Sleep>>,
}

impl Watch {
    pub(crate) fn new(def: ResourceDef, opts: ListOptions, sub: Subscription, timeout: Duration) -> Self {
        let now = Instant::now();
        // Upstream sends a bookmark about once a minute, and before a short timeout ends.
        let bookmark_every = Duration::from_secs(60).min(
            timeout
                .saturating_sub(Duration::from_secs(2))
                .max(Duration::from_secs(1)),
        );
        let initial_end_pending = opts.send_initial_events == Some(true) && opts.allow_bookmarks;
        let deadline = now + timeout;
        let first_wake = if opts.allow_bookmarks {
            deadline.min(now + bookmark_every)
        } else {
            deadline
        };
        Watch {
            def,
            opts,
            initial: sub.initial.into_iter(),
            initial_end_pending,
            error: None,
            rx: Some(sub.rx),
            last_rev: sub.revision,
            deadline,
            bookmark_every,
            wake: Box::pin(tokio::time::sleep_until(first_wake)),
        }
    }

    /// A watch that sends `err` and ends.
    pub(crate) fn failed(def: ResourceDef, err: ApiError) -> Self {
        Watch {
            def,
            opts: ListOptions::default(),
            initial: Vec::new().into_iter(),
            initial_end_pending: false,
            error: Some(err),
            rx: None,
            last_rev: 0,
            deadline: Instant::now(),
            bookmark_every: Duration::ZERO,
            wake: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// The next event, or None when the watch has ended (timeout, or its cache closed it).
    pub async fn recv(&mut self) -> Option<WatchOut> {
        if let Some(out) = self.ready_without_live() {
            return Some(out);
        }
        loop {
            let rx = self.rx.as_mut()?;
            let msg = tokio::select! {
                biased;
                _ = &mut self.wake => {
                    let now = Instant::now();
                    if now >= self.deadline {
                        None
                    } else {
                        let next = self.deadline.min(now + self.bookmark_every);
                        self.wake.as_mut().reset(next);
                        return Some(WatchOut::Bookmark(self.last_rev, false));
                    }
                }
                msg = rx.recv() => msg,
            };
            let Some(msg) = msg else {
                self.rx = None;
                return None;
            };
            if let Some(out) = self.on_live(msg) {
                return Some(out);
            }
        }
    }

    /// The next event if one is ready now, without waiting (to batch what queued up).
    pub fn try_recv(&mut self) -> Option<WatchOut> {
        if let Some(out) = self.ready_without_live() {
            return Some(out);
        }
        loop {
            let msg = self.rx.as_mut()?.try_recv().ok()?;
            if let Some(out) = self.on_live(msg) {
                return Some(out);
            }
        }
    }

    /// What is sent before live events: the start error, the initial events, the bookmark
    /// ending them.
    fn ready_without_live(&mut self) -> Option<WatchOut> {
        if let Some(err) = self.error.take() {
            return Some(WatchOut::Error(err));
        }
        while let Some(ev) = self.initial.next() {
            self.last_rev = self.last_rev.max(ev.revision);
            let out = if ev.prev.is_none() && ev.kind == CacheEventType::Added {
                self.matches(&ev.object)
                    .then(|| WatchOut::Event(CacheEventType::Added, ev.object.clone()))
            } else {
                self.emit(&ev)
            };
            if out.is_some() {
                return out;
            }
        }
        if std::mem::take(&mut self.initial_end_pending) {
            return Some(WatchOut::Bookmark(self.last_rev, true));
        }
        None
    }

    fn on_live(&mut self, msg: WatchMsg) -> Option<WatchOut> {
        match msg {
            WatchMsg::Progress(r) => {
                self.last_rev = self.last_rev.max(r);
                None
            }
            WatchMsg::Event(ev) => {
                if ev.revision <= self.last_rev {
                    return None;
                }
                self.last_rev = ev.revision;
                self.emit(&ev)
            }
        }
    }

    fn matches(&self, obj: &CachedObject) -> bool {
        selects(&self.def, &self.opts, obj)
    }

    /// What a change means to this watch's selection: an object entering it is ADDED, one
    /// leaving it DELETED (in its last selected form).
    fn emit(&self, ev: &CacheEvent) -> Option<WatchOut> {
        let now_in = self.matches(&ev.object);
        let was_in = ev.prev.as_ref().is_some_and(|p| self.matches(p));
        match ev.kind {
            CacheEventType::Added if now_in => Some(WatchOut::Event(CacheEventType::Added, ev.object.clone())),
            CacheEventType::Modified if now_in && was_in => {
                Some(WatchOut::Event(CacheEventType::Modified, ev.object.clone()))
            }
            CacheEventType::Modified if now_in => Some(WatchOut::Event(CacheEventType::Added, ev.object.clone())),
            CacheEventType::Modified if was_in => {
                let prev = ev.prev.as_ref()?;
                let gone = CachedObject::decode(&prev.key, &prev.json, ev.revision)?;
                Some(WatchOut::Event(CacheEventType::Deleted, gone))
            }
            CacheEventType::Deleted if was_in || (ev.prev.is_none() && now_in) => {
                Some(WatchOut::Event(CacheEventType::Deleted, ev.object.clone()))
            }
            _ => None,
        }
    }
}
