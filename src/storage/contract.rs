//! The storage contract: one suite every backend must pass (the embedded SQLite log and
//! etcd). Each case takes a fresh, empty store as `Arc<dyn Storage>`; revisions are checked
//! relative to the store's starting revision (etcd starts at 1, SQLite at 0).
//!
//! The etcd cases run against `crate::testing::TestEtcd` (a real etcd on free loopback ports);
//! [`etcd_storage`] connects a store to it.

use super::etcd::{EtcdOptions, EtcdStorage, EtcdTuning};
use super::sqlite::{SqliteOptions, SqliteStorage};
use super::*;
use crate::testing::TestEtcd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn b(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

/// Next item within 10 s.
pub async fn next_item(rx: &mut mpsc::Receiver<StorageResult<WatchItem>>) -> StorageResult<WatchItem> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("watch timed out")
        .expect("watch closed")
}

/// Next event, skipping progress notifications.
pub async fn next_event(rx: &mut mpsc::Receiver<StorageResult<WatchItem>>) -> Event {
    loop {
        if let WatchItem::Event(ev) = next_item(rx).await.expect("watch error") {
            return ev;
        }
    }
}

fn keys(page: &ListPage) -> Vec<&str> {
    page.items.iter().map(|kv| kv.key.as_str()).collect()
}

/// create / get / CAS update / CAS delete / not found / re-create.
pub async fn crud(s: Arc<dyn Storage>) {
    let base = s.current_revision().await.unwrap();
    let k = "/registry/pods/ns/a";
    let r1 = s.create(k, b("v1")).await.unwrap();
    assert_eq!(r1, base + 1);
    assert_eq!(
        s.create(k, b("again")).await,
        Err(StorageError::KeyExists { key: k.into() })
    );
    assert_eq!(
        s.get(k, 0).await.unwrap(),
        Some(KeyValue {
            key: k.into(),
            value: b("v1"),
            create_revision: r1,
            mod_revision: r1,
            stale: false,
        })
    );
    let r2 = s.update(k, b("v2"), r1).await.unwrap();
    assert_eq!(r2, r1 + 1);
    assert_eq!(
        s.update(k, b("v3"), r1).await,
        Err(StorageError::Conflict {
            key: k.into(),
            current: Some(KeyValue {
                key: k.into(),
                value: b("v2"),
                create_revision: r1,
                mod_revision: r2,
                stale: false,
            })
        })
    );
    // A failed compare does not consume a revision.
    assert_eq!(s.current_revision().await.unwrap(), r2);
    assert_eq!(
        s.update("/registry/pods/ns/missing", b("x"), r1).await,
        Err(StorageError::NotFound {
            key: "/registry/pods/ns/missing".into()
        })
    );
    // Expected revision 0 never creates a missing key.
    assert_eq!(
        s.update("/registry/pods/ns/missing", b("x"), 0).await,
        Err(StorageError::NotFound {
            key: "/registry/pods/ns/missing".into()
        })
    );
    assert_eq!(s.get("/registry/pods/ns/missing", 0).await.unwrap(), None);
    // Reads at a past revision and in the future.
    assert_eq!(s.get(k, r1).await.unwrap().unwrap().value, b("v1"));
    assert_eq!(
        s.get(k, r2 + 10).await,
        Err(StorageError::FutureRevision {
            requested: r2 + 10,
            current: r2
        })
    );
    // Delete with a stale revision conflicts (with the current state), then succeeds.
    match s.delete(k, r1).await {
        Err(StorageError::Conflict {
            key,
            current: Some(cur),
        }) => assert_eq!((key.as_str(), cur.mod_revision, cur.value), (k, r2, b("v2"))),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let (r3, last) = s.delete(k, r2).await.unwrap();
    assert_eq!(r3, r2 + 1);
    assert_eq!(
        last,
        KeyValue {
            key: k.into(),
            value: b("v2"),
            create_revision: r1,
            mod_revision: r2,
            stale: false,
        }
    );
    assert_eq!(s.get(k, 0).await.unwrap(), None);
    assert_eq!(s.get(k, r2).await.unwrap().unwrap().value, b("v2"));
    assert_eq!(s.delete(k, 0).await, Err(StorageError::NotFound { key: k.into() }));
    assert_eq!(s.delete(k, r2).await, Err(StorageError::NotFound { key: k.into() }));
    assert_eq!(
        s.update(k, b("x"), r3).await,
        Err(StorageError::NotFound { key: k.into() })
    );
    // Re-create: a new create revision; unconditional delete returns the last state.
    let r4 = s.create(k, b("new")).await.unwrap();
    assert_eq!(r4, r3 + 1);
    assert_eq!(s.get(k, 0).await.unwrap().unwrap().create_revision, r4);
    let (r5, last) = s.delete(k, 0).await.unwrap();
    assert_eq!(
        (r5, last.mod_revision, last.create_revision, last.value),
        (r4 + 1, r4, r4, b("new"))
    );
    assert_eq!(s.current_revision().await.unwrap(), r5);
    // Values are opaque bytes.
    let raw = Bytes::from_static(&[0, 159, 146, 150, 255]);
    s.create("/registry/secrets/ns/x", raw.clone()).await.unwrap();
    assert_eq!(s.get("/registry/secrets/ns/x", 0).await.unwrap().unwrap().value, raw);
}

/// Prefix ranges, `start_after`, `limit`/`more`/`remaining`, at the latest and at a past
/// revision.
pub async fn list(s: Arc<dyn Storage>) {
    for k in ["a", "b", "c", "d"] {
        s.create(&format!("/registry/pods/ns/{k}"), b(k)).await.unwrap();
    }
    s.create("/registry/pods2/x", b("x")).await.unwrap(); // same textual prefix without the slash
    s.create("/registry/services/ns/a", b("s")).await.unwrap();
    let past = s.current_revision().await.unwrap();
    let a1 = s.get("/registry/pods/ns/a", 0).await.unwrap().unwrap();
    let r_upd = s.update("/registry/pods/ns/a", b("a2"), a1.mod_revision).await.unwrap();
    s.delete("/registry/pods/ns/b", 0).await.unwrap();
    let now = s.create("/registry/pods/ns/e", b("e")).await.unwrap();

    let page = s.list("/registry/pods/", None, 0, 0).await.unwrap();
    assert_eq!((page.revision, page.more), (now, false));
    assert_eq!(
        keys(&page),
        [
            "/registry/pods/ns/a",
            "/registry/pods/ns/c",
            "/registry/pods/ns/d",
            "/registry/pods/ns/e"
        ]
    );
    assert_eq!(page.items[0].value, b("a2"));
    assert_eq!(
        (page.items[0].create_revision, page.items[0].mod_revision),
        (a1.create_revision, r_upd)
    );

    // At the past revision, two at a time.
    let p1 = s.list("/registry/pods/", None, past, 2).await.unwrap();
    assert_eq!((p1.revision, p1.more, p1.remaining), (past, true, 2));
    let got: Vec<_> = p1.items.iter().map(|kv| (kv.key.as_str(), kv.value.clone())).collect();
    assert_eq!(got, [("/registry/pods/ns/a", b("a")), ("/registry/pods/ns/b", b("b"))]);
    let p2 = s
        .list("/registry/pods/", Some("/registry/pods/ns/b"), past, 2)
        .await
        .unwrap();
    assert_eq!((p2.revision, p2.more, p2.remaining), (past, false, 0));
    assert_eq!(keys(&p2), ["/registry/pods/ns/c", "/registry/pods/ns/d"]);
    // Exactly `limit` left: no more.
    let p3 = s
        .list("/registry/pods/", Some("/registry/pods/ns/c"), 0, 2)
        .await
        .unwrap();
    assert_eq!(
        (keys(&p3), p3.more),
        (vec!["/registry/pods/ns/d", "/registry/pods/ns/e"], false)
    );
    let p4 = s.list("/registry/pods/ns/", None, 0, 3).await.unwrap();
    assert_eq!((p4.more, p4.remaining), (true, 1), "the deleted key is not counted");
    let p5 = s
        .list("/registry/pods/ns/", Some("/registry/pods/ns/d"), 0, 1)
        .await
        .unwrap();
    assert_eq!((keys(&p5), p5.more), (vec!["/registry/pods/ns/e"], false));
    // `start_after` before the prefix is the prefix start.
    let p6 = s.list("/registry/pods/", Some("/registry/a"), 0, 1).await.unwrap();
    assert_eq!(keys(&p6), ["/registry/pods/ns/a"]);
    // The root lists every resource.
    let all = s.list("/registry/", None, 0, 0).await.unwrap();
    assert_eq!(all.items.len(), 6);
    assert_eq!(
        s.list("/registry/", None, now + 5, 0).await,
        Err(StorageError::FutureRevision {
            requested: now + 5,
            current: now
        })
    );
}

/// Compaction: old reads and watches fail with `Compacted`; the state at and after the
/// compacted revision is intact.
pub async fn compaction(s: Arc<dyn Storage>) {
    let k = "/registry/configmaps/ns/a";
    let first = s.create(k, b("a0")).await.unwrap();
    let mut rev = first;
    for i in 1..=5 {
        rev = s.update(k, b(&format!("a{i}")), rev).await.unwrap();
    }
    let c = s.create("/registry/configmaps/ns/c", b("c")).await.unwrap();
    let c2 = s.update("/registry/configmaps/ns/c", b("c1"), c).await.unwrap();
    assert_eq!(
        s.compact(c2 + 1).await,
        Err(StorageError::FutureRevision {
            requested: c2 + 1,
            current: c2
        })
    );
    s.compact(c).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), c);
    assert_eq!(
        s.get(k, first + 1).await,
        Err(StorageError::Compacted {
            requested: first + 1,
            compacted: c
        })
    );
    assert_eq!(
        s.list("/registry/configmaps/", None, c - 1, 0).await,
        Err(StorageError::Compacted {
            requested: c - 1,
            compacted: c
        })
    );
    // A watch from before the compaction fails, from the call or as its first item.
    match s.watch("/registry/configmaps/", first).await {
        Err(StorageError::Compacted { requested, compacted }) => assert_eq!((requested, compacted), (first, c)),
        Ok(mut rx) => match next_item(&mut rx).await {
            Err(StorageError::Compacted { .. }) => {}
            other => panic!("expected a compaction error, got {other:?}"),
        },
        Err(e) => panic!("expected a compaction error, got {e}"),
    }
    // Reads at the compacted revision and later work.
    let at_c = s.list("/registry/configmaps/", None, c, 0).await.unwrap();
    let got: Vec<_> = at_c
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone(), kv.mod_revision))
        .collect();
    assert_eq!(
        got,
        [
            ("/registry/configmaps/ns/a", b("a5"), rev),
            ("/registry/configmaps/ns/c", b("c"), c)
        ]
    );
    // A watch from the compacted revision sees the later update with its previous value.
    let mut w = s.watch("/registry/configmaps/", c).await.unwrap();
    let ev = next_event(&mut w).await;
    assert_eq!((ev.revision, ev.prev_value, ev.created), (c2, Some(b("c")), false));
    // Compacting to an older revision is a no-op; writes go on.
    s.compact(first).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), c);
    assert_eq!(s.update(k, b("a6"), rev).await.unwrap(), c2 + 1);
}

/// A watch from 0 replays all history, then follows live changes, with the event shapes the
/// cache relies on; progress reports the current revision when idle.
pub async fn watch_replay_then_follow(s: Arc<dyn Storage>) {
    let r1 = s.create("/registry/pods/ns/a", b("1")).await.unwrap();
    s.create("/registry/other/x", b("o")).await.unwrap();
    let r3 = s.update("/registry/pods/ns/a", b("2"), r1).await.unwrap();
    let mut w = s.watch("/registry/pods/", 0).await.unwrap();
    assert_eq!(
        next_event(&mut w).await,
        Event {
            kind: EventType::Put,
            key: "/registry/pods/ns/a".into(),
            value: b("1"),
            prev_value: None,
            revision: r1,
            created: true
        }
    );
    assert_eq!(
        next_event(&mut w).await,
        Event {
            kind: EventType::Put,
            key: "/registry/pods/ns/a".into(),
            value: b("2"),
            prev_value: Some(b("1")),
            revision: r3,
            created: false
        }
    );
    let (r4, _) = s.delete("/registry/pods/ns/a", r3).await.unwrap();
    s.create("/registry/other/y", b("o")).await.unwrap();
    let r6 = s.create("/registry/pods/ns/b", b("b")).await.unwrap();
    let deleted = Event {
        kind: EventType::Delete,
        key: "/registry/pods/ns/a".into(),
        value: b("2"),
        prev_value: Some(b("2")),
        revision: r4,
        created: false,
    };
    assert_eq!(next_event(&mut w).await, deleted);
    let ev = next_event(&mut w).await;
    assert_eq!(
        (ev.revision, ev.key.as_str(), ev.created),
        (r6, "/registry/pods/ns/b", true)
    );
    // Replay from history yields the same delete as the live path.
    let mut w2 = s.watch("/registry/pods/", r3).await.unwrap();
    assert_eq!(next_event(&mut w2).await, deleted);
    // Idle, after a write elsewhere: progress reaches the current revision.
    let r7 = s.create("/registry/other/z", b("o")).await.unwrap();
    assert_eq!(s.current_revision().await.unwrap(), r7);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, w.recv()).await {
            Ok(Some(Ok(WatchItem::Progress(p)))) if p >= r7 => {
                assert_eq!(p, r7);
                break;
            }
            Ok(Some(Ok(WatchItem::Progress(_)))) => continue,
            other => panic!("expected progress to {r7}, got {other:?}"),
        }
    }
}

/// Concurrent writers: watches started before and during the writes see every revision
/// exactly once, in order, and the current revision only grows.
pub async fn watch_concurrent_writers(s: Arc<dyn Storage>) {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 60;
    let start = s.current_revision().await.unwrap();
    let mut from_start = s.watch("/registry/c/", start).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..WRITERS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            for i in 0..PER_WRITER {
                let key = format!("/registry/c/{t}/{}", i % 5);
                let rev = match s.get(&key, 0).await.unwrap() {
                    Some(kv) => s.update(&key, b(&i.to_string()), kv.mod_revision).await.unwrap(),
                    None => s.create(&key, b(&i.to_string())).await.unwrap(),
                };
                let current = s.current_revision().await.unwrap();
                assert!(current >= rev && current >= seen, "current revision went backwards");
                seen = current;
            }
        }));
    }
    // Start the second watch once the writers are under way (a few revisions past the start).
    let mut mid = s.current_revision().await.unwrap();
    while mid < start + 5 {
        tokio::task::yield_now().await;
        mid = s.current_revision().await.unwrap();
    }
    let mut from_mid = s.watch("/registry/c/", mid).await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let end = s.current_revision().await.unwrap();
    assert_eq!(end, start + (WRITERS * PER_WRITER) as i64);
    for (w, from) in [(&mut from_start, start), (&mut from_mid, mid)] {
        let mut expect = from + 1;
        while expect <= end {
            let ev = next_event(w).await;
            assert_eq!(ev.revision, expect, "watch from {from}");
            expect += 1;
        }
    }
}

/// Dropping the receiver ends the watch (no leak, no error for the writer).
pub async fn watch_stops_when_dropped(s: Arc<dyn Storage>) {
    let w = s.watch("/registry/d/", 0).await.unwrap();
    drop(w);
    for i in 0..20 {
        s.create(&format!("/registry/d/{i}"), b("v")).await.unwrap();
    }
    let mut w = s.watch("/registry/d/", 0).await.unwrap();
    assert_eq!(next_event(&mut w).await.key, "/registry/d/0");
}

/// Keys written with a time to live are deleted once it passes, and watches see a DELETE with
/// the last value; a later write without a TTL keeps a key, and keys without one stay.
pub async fn ttl_expiry(s: Arc<dyn Storage>) {
    let start = s.current_revision().await.unwrap();
    let mut w = s.watch("/registry/events/", start).await.unwrap();
    // `kept` had a TTL first, then an update without one (an etcd put without a lease).
    let kept = "/registry/events/ns/kept";
    let r = s.create_with_ttl(kept, b("k1"), 1).await.unwrap();
    s.update(kept, b("k2"), r).await.unwrap();
    s.create("/registry/events/ns/plain", b("p")).await.unwrap();
    let gone = "/registry/events/ns/gone";
    let r = s.create_with_ttl(gone, b("g1"), 1).await.unwrap();
    // An update with a TTL keeps the key's deadline (the last write's TTL counts).
    let r = s.update_with_ttl(gone, b("g2"), r, 1).await.unwrap();
    assert_eq!(s.get(gone, 0).await.unwrap().unwrap().value, b("g2"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let deleted = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, w.recv()).await {
            Ok(Some(Ok(WatchItem::Event(ev)))) if ev.kind == EventType::Delete => break ev,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected the expiry of {gone} within 20 s, got {other:?}"),
        }
    };
    assert_eq!((deleted.key.as_str(), deleted.value.clone()), (gone, b("g2")));
    assert!(deleted.revision > r);
    assert_eq!(s.get(gone, 0).await.unwrap(), None);
    // `kept` was written before `gone`: its first deadline has passed too, yet it stays.
    assert_eq!(s.get(kept, 0).await.unwrap().unwrap().value, b("k2"));
    assert!(s.get("/registry/events/ns/plain", 0).await.unwrap().is_some());
    let listed = s.list("/registry/events/", None, 0, 0).await.unwrap();
    assert_eq!(keys(&listed), vec![kept, "/registry/events/ns/plain"]);
    // The key can be created again, and the deletion is in history for a replaying watch.
    s.create(gone, b("again")).await.unwrap();
    let mut replay = s.watch("/registry/events/ns/gone", r).await.unwrap();
    let ev = next_event(&mut replay).await;
    assert_eq!((ev.kind, ev.revision), (EventType::Delete, deleted.revision));
}

/// The health probe answers for a reachable store.
pub async fn health_ok(s: Arc<dyn Storage>) {
    s.health().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Backends under test

pub fn sqlite(dir: &Path) -> Arc<SqliteStorage> {
    SqliteStorage::open_with(
        &dir.join("db"),
        SqliteOptions {
            progress_interval: Duration::from_millis(100),
            ..SqliteOptions::default()
        },
    )
    .unwrap()
}

/// Tuning for tests: short deadlines so failures show quickly.
pub fn test_tuning() -> EtcdTuning {
    EtcdTuning {
        request_timeout: Duration::from_secs(3),
        dial_timeout: Duration::from_secs(1),
        keepalive_interval: Duration::from_secs(1),
        keepalive_timeout: Duration::from_secs(1),
        progress_interval: Duration::from_millis(100),
        watch_stall_timeout: Duration::from_secs(3),
        ..EtcdTuning::default()
    }
}

/// Client options for a test etcd.
pub fn etcd_options(etcd: &TestEtcd) -> EtcdOptions {
    EtcdOptions {
        endpoints: vec![etcd.endpoint()],
        prefix: "/registry".into(),
        ..EtcdOptions::default()
    }
}

/// Connect to a test etcd (retrying while it starts, up to 15 s).
pub async fn etcd_storage_with(etcd: &TestEtcd, opts: &EtcdOptions) -> Arc<EtcdStorage> {
    etcd_storage_tuned(etcd, opts, test_tuning()).await
}

/// [`etcd_storage_with`] with the given tuning.
pub async fn etcd_storage_tuned(etcd: &TestEtcd, opts: &EtcdOptions, tuning: EtcdTuning) -> Arc<EtcdStorage> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match EtcdStorage::connect_with(opts, tuning.clone()).await {
            Ok(s) => return s,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("etcd did not come up: {e}\n{}", etcd.log()),
        }
    }
}

pub async fn etcd_storage(etcd: &TestEtcd) -> Arc<EtcdStorage> {
    etcd_storage_with(etcd, &etcd_options(etcd)).await
}

macro_rules! contract_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(super::sqlite(dir.path())).await;
                }
            )*
        }
        mod etcd_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let etcd = super::TestEtcd::start();
                    super::$case(super::etcd_storage(&etcd).await).await;
                }
            )*
        }
    };
}

contract_tests!(
    crud,
    list,
    compaction,
    watch_replay_then_follow,
    watch_concurrent_writers,
    watch_stops_when_dropped,
    ttl_expiry,
    health_ok
);
