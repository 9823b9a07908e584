//! A minimal informer: list a resource once, then follow its watch, feeding an in-memory index.
//! Authorizers and the flow-control configuration answer from such indexes, never from storage.
//! A watch that ends (timeout, slow consumer, compaction) resumes from the last revision, or
//! re-lists and resets the index. [`Synced`] knows which informers have finished their first
//! list (the `informer-sync` health check).

use super::options::ListOptions;
use super::store::{Registry, WatchOut};
use crate::api::ResourceDef;
use crate::storage::cache::CacheEventType;
use crate::util::json::JsonExt;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The informers of one registry and whether each has finished its first list.
#[derive(Default)]
pub struct Synced {
    informers: Mutex<Vec<(String, Arc<AtomicBool>)>>,
}

impl Synced {
    /// Track one more informer (named like upstream's informer types, `*v1.Pod`).
    pub fn register(&self, name: String) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.informers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name, flag.clone()));
        flag
    }

    /// Informers that have not finished their first list, sorted.
    pub fn pending(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .informers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, f)| !f.load(Ordering::Acquire))
            .map(|(n, _)| n.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What an index is told.
pub enum Change {
    /// The complete current set (after a list).
    Reset(Vec<Value>),
    Upsert(Value),
    Delete(Value),
}

pub type Sink = Arc<dyn Fn(Change) + Send + Sync>;

async fn list(reg: &Registry, def: &ResourceDef, sink: &Sink) -> Option<i64> {
    match reg.list(def, None, &ListOptions::default()).await {
        Ok(l) => {
            sink(Change::Reset(l.items.iter().map(|o| o.value()).collect()));
            Some(l.revision)
        }
        Err(e) => {
            tracing::warn!(resource = def.plural, error = %e, "authorizer index: list failed");
            None
        }
    }
}

/// List now (so the index is complete when this returns), then follow changes in the background.
/// A failed first list is retried in the background; [`Synced`] tells when it succeeded.
pub async fn start(reg: Registry, def: &'static ResourceDef, sink: Sink) {
    let synced = reg.informers.register(format!("*{}.{}", def.version, def.kind));
    // Tests hold the first list back (debug builds only) to see `informer-sync` fail.
    let first = if crate::util::fault::on("informer-sync-hold") {
        None
    } else {
        list(&reg, def, &sink).await
    };
    synced.store(first.is_some(), Ordering::Release);
    tokio::spawn(async move {
        let mut rev = first;
        loop {
            let Some(from) = rev else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                crate::util::fault::wait_while("informer-sync-hold").await;
                rev = list(&reg, def, &sink).await;
                if rev.is_some() {
                    synced.store(true, Ordering::Release);
                }
                continue;
            };
            let opts = ListOptions {
                resource_version: Some(from.to_string()),
                allow_bookmarks: true,
                watch: true,
                ..Default::default()
            };
            let mut rx = match reg.watch(def, None, opts, Duration::from_secs(3600)).await {
                Ok(rx) => rx,
                Err(_) => {
                    rev = None;
                    continue;
                }
            };
            let mut last = from;
            let mut failed = false;
            while let Some(ev) = rx.recv().await {
                match ev {
                    WatchOut::Event(kind, obj) => {
                        last = last.max(obj.revision);
                        match kind {
                            CacheEventType::Deleted => sink(Change::Delete(obj.value())),
                            _ => sink(Change::Upsert(obj.value())),
                        }
                    }
                    WatchOut::Bookmark(r, _) => last = last.max(r),
                    WatchOut::Error(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            rev = if failed { None } else { Some(last) };
        }
    });
}

/// `namespace/name` (or `name` for cluster-scoped objects).
pub fn key_of(obj: &Value) -> String {
    let name = obj.str_at("/metadata/name");
    match obj.opt_str_at("/metadata/namespace") {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}
