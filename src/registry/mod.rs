//! The registry: one cloneable [`Registry`] handle on everything stored — the generic store
//! (create/get/list/update/delete/watch for any row of the resource table), the index of served
//! rows, request options, paging, the Service IP/port allocators — and the
//! registry writes with their own semantics (`pods`: binding, eviction, ephemeral containers) and
//! the informers that keep in-memory indexes of a resource (`informer`).
//! Admission plugs in through [`admission::Admission`]; the registry never calls up.

pub mod admission;
pub mod allocator;
pub mod informer;
pub mod lookup;
pub mod options;
pub mod pager;
pub mod pods;
pub mod resources;
pub mod store;
pub mod watch;

pub use store::Registry;

/// A registry over `storage` for unit tests: a watch cache for every built-in resource's
/// storage segment, and namespace `namespace` created. Panics on any failure.
#[cfg(test)]
pub(crate) async fn test_registry(storage: std::sync::Arc<dyn crate::storage::Storage>, namespace: &str) -> Registry {
    use crate::storage::cache::{CacheOptions, CacheSet};
    let mut segs: Vec<&str> = crate::api::builtin()
        .iter()
        .map(|r| r.storage)
        .filter(|s| !s.is_empty())
        .collect();
    segs.sort();
    segs.dedup();
    let caches = CacheSet::start(storage.clone(), "/registry/", &segs, CacheOptions::default())
        .await
        .expect("caches");
    let reg = Registry::new(storage, caches);
    let ns = crate::api::builtin_row("", "namespaces").expect("namespaces row");
    let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    reg.create(ns, None, body, false).await.expect("namespace");
    reg
}
