//! `--event-ttl` on both backends: Events (core/v1 and events.k8s.io/v1, one storage) disappear
//! once their time to live has passed since their last write; a watcher sees them DELETED,
//! lists no longer show them, and other kinds stay.

mod common;

use common::{eventually, eventually_async, matching, secs, TestEtcd, TestServer, TestServerBuilder};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, WatchEvent, WatchParams};

const K: &str = "1.33";

const CORE_EVENT: &str = r#"apiVersion: v1
kind: Event
metadata: {name: core-event, namespace: default}
involvedObject: {kind: Pod, name: web, namespace: default}
reason: Started
message: started the container
type: Normal
"#;

const EVENTS_V1: &str = r#"apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: new-event, namespace: default}
regarding: {kind: Pod, name: web, namespace: default}
reason: Pulled
note: pulled the image
type: Normal
action: Pull
reportingController: test/ttl
reportingInstance: test-1
eventTime: "2026-01-01T00:00:00.000000Z"
"#;

async fn events_expire(builder: TestServerBuilder) {
    let ts = builder.arg("--event-ttl=3s").start();
    let client = ts.kube_client().await;
    let api: Api<Event> = Api::namespaced(client, "default");
    let start_rv = api
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut watch = api
        .watch(&WatchParams::default().timeout(60), &start_rv)
        .await
        .unwrap()
        .boxed();
    for (file, body) in [("core.yaml", CORE_EVENT), ("v1.yaml", EVENTS_V1)] {
        let p = ts.write_file(file, body);
        ts.kubectl_ok(K, &["create", "-f", p.to_str().unwrap()]);
    }
    ts.kubectl_ok(K, &["create", "configmap", "stays", "--from-literal=a=b"]);
    let listed = ts.kubectl_ok(K, &["get", "events", "-o", "name"]);
    assert!(
        listed.contains("core-event") && listed.contains("new-event"),
        "{listed}"
    );
    // Both expire: the watch sees them deleted, in time.
    let mut deleted = Vec::new();
    let t0 = std::time::Instant::now();
    while deleted.len() < 2 {
        let ev = tokio::time::timeout(secs(30), watch.try_next())
            .await
            .unwrap_or_else(|_| panic!("no expiry within 30 s; deleted so far {deleted:?}\n{}", ts.log()))
            .expect("watch error")
            .expect("watch ended");
        if let WatchEvent::Deleted(e) = ev {
            deleted.push(e.metadata.name.unwrap_or_default());
        }
    }
    deleted.sort();
    assert_eq!(deleted, ["core-event", "new-event"]);
    assert!(t0.elapsed() >= secs(2), "expired too early: {:?}", t0.elapsed());
    eventually("the events to be gone from lists", secs(10), || {
        let out = ts.kubectl_ok(K, &["get", "events", "-A", "-o", "name"]);
        matching(out, |o| !o.contains("core-event") && !o.contains("new-event"))
    });
    let out = ts.kubectl(K, &["get", "events.v1.events.k8s.io", "new-event"]);
    assert!(!out.status.success(), "new-event still served");
    assert!(ts.kubectl(K, &["get", "configmap", "stays"]).status.success());
    // The watch cache dropped them: a fresh watch from now sees no ADDED for them.
    let client = ts.kube_client().await;
    let api: Api<Event> = Api::namespaced(client, "default");
    eventually_async("a consistent list without the events", secs(10), || async {
        let l = api.list(&Default::default()).await.map_err(|e| e.to_string())?;
        let names: Vec<String> = l.items.into_iter().filter_map(|e| e.metadata.name).collect();
        matching(names, |n| n.is_empty()).map_err(|e| e.to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_expire_on_the_embedded_store() {
    events_expire(TestServer::builder()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_expire_on_etcd() {
    if !common::require_tool("etcd") {
        return;
    }
    let etcd = TestEtcd::start();
    events_expire(TestServer::builder().etcd(&etcd)).await;
}

/// Events keep the default TTL of one hour: they are still there after a restart, and other
/// kinds never expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_ttl_keeps_events_for_an_hour() {
    let mut ts = TestServer::start();
    let p = ts.write_file("core.yaml", CORE_EVENT);
    ts.kubectl_ok(K, &["create", "-f", p.to_str().unwrap()]);
    ts.restart();
    assert!(ts.kubectl(K, &["get", "event", "core-event"]).status.success());
    let db = ts.data_dir().join("capstan.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    let expires: i64 = conn
        .query_row(
            "SELECT expires FROM expiry WHERE name = '/registry/events/default/core-event'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let left = expires - capstan::util::unix_millis();
    assert!((3_500_000..=3_600_000).contains(&left), "expires in {left} ms");
}
