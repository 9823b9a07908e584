//! A minimal informer: list a resource once, then follow its watch, feeding an in-memory index.
//! Authorizers answer from such indexes, never from storage. A watch that ends (timeout, slow
//! consumer, compaction) resumes from the last revision, or re-lists and resets the index.

use crate::api::ResourceDef;
use crate::registry::options::ListOptions;
use crate::registry::store::{Registry, WatchOut};
use crate::storage::cache::CacheEventType;
use crate::util::json::JsonExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

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
            sink(Change::Reset(l.items.iter().map(|o| o.value.clone()).collect()));
            Some(l.revision)
        }
        Err(e) => {
            tracing::warn!(resource = def.plural, error = %e, "authorizer index: list failed");
            None
        }
    }
}

/// List now (so the index is complete when this returns), then follow changes in the background.
pub async fn start(reg: Registry, def: &'static ResourceDef, sink: Sink) {
    let first = list(&reg, def, &sink).await;
    tokio::spawn(async move {
        let mut rev = first;
        loop {
            let Some(from) = rev else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                rev = list(&reg, def, &sink).await;
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
                            CacheEventType::Deleted => sink(Change::Delete(obj.value.clone())),
                            _ => sink(Change::Upsert(obj.value.clone())),
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
