//! The watch cache's memory (issue 22): an entry holds the object's encoded JSON and a few
//! extracted attributes, never the decoded tree (which is ~10× the JSON). Measured with a
//! counting allocator: the live heap bytes a cache adds when it loads realistic ConfigMaps from
//! the embedded store, against the sum of their encoded sizes.

use bytes::Bytes;
use capstan::storage::cache::{CacheOptions, CacheSet};
use capstan::storage::sqlite::SqliteStorage;
use capstan::storage::Storage;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

/// The system allocator, counting the bytes live through it.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the system allocator keeps the contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const OBJECTS: usize = 10_000;

/// A ConfigMap as clusters hold them: three labels, four data keys, ~1 KiB of JSON.
fn config_map(i: usize) -> Bytes {
    let v = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": format!("cm-{i:05}"),
            "namespace": "default",
            "uid": format!("6f1d2c3e-0000-4000-8000-{i:012}"),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "web", "tier": format!("t{}", i % 7), "release": "stable"},
        },
        "data": {
            "value": "x".repeat(120),
            "generation": "0",
            "key-2": "y".repeat(120),
            "key-3": "z".repeat(120),
        },
    });
    Bytes::from(serde_json::to_vec(&v).expect("encodes"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_objects_cost_little_more_than_their_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = SqliteStorage::open(&dir.path().join("db")).expect("opens");
    for chunk in (0..OBJECTS).collect::<Vec<_>>().chunks(500) {
        let writes = chunk.iter().map(|&i| {
            let storage = storage.clone();
            async move {
                storage
                    .create(&format!("/registry/configmaps/default/cm-{i:05}"), config_map(i))
                    .await
            }
        });
        for r in futures_util::future::join_all(writes).await {
            r.expect("create");
        }
    }
    let storage: Arc<dyn Storage> = storage;

    let before = LIVE.load(Ordering::SeqCst);
    let caches = CacheSet::start(storage, "/registry/", &["configmaps"], CacheOptions::default())
        .await
        .expect("cache starts");
    let held = LIVE.load(Ordering::SeqCst) - before;

    let cache = caches.cache("configmaps");
    let items = cache.snapshot("/registry/configmaps/").items;
    assert_eq!(items.len(), OBJECTS);
    let json: usize = items.iter().map(|o| o.json.len()).sum();
    let ratio = held as f64 / json as f64;
    eprintln!(
        "{OBJECTS} ConfigMaps: {json} bytes of JSON, cache holds {held} bytes ({ratio:.2}x; {} B per object)",
        held / OBJECTS as isize
    );
    // With the decoded tree kept this is ~10x; encoded bytes plus a small constant stay <1.6x.
    assert!(ratio < 1.6, "the cache holds {ratio:.2}x the JSON of its objects");
    // Selectors read the extracted labels.
    assert_eq!(items[3].attrs.label("tier"), Some("t3"));
}
