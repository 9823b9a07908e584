//! Durability of the embedded store: restarts and SIGKILL must not lose acknowledged writes, and
//! the revision counter never goes backwards.

mod common;

use common::{eventually, eventually_async, secs, TestServer};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("suite".to_string(), "durability".to_string())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("value".to_string(), value.to_string())])),
        ..Default::default()
    }
}

fn rv_of(c: &ConfigMap) -> u64 {
    c.metadata
        .resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("resourceVersion is not an integer: {:?}", c.metadata.resource_version))
}

fn unlabelled(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Wait until the server's log (this run) shows a compaction pass up to at least `revision`.
fn wait_for_compaction(server: &TestServer, revision: u64) {
    eventually(&format!("a compaction up to revision {revision}"), secs(20), || {
        let log = server.log();
        let done = log
            .lines()
            .filter(|l| l.contains("compacted storage history"))
            .filter_map(|l| {
                l.split("revision=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .any(|r| r >= revision);
        done.then_some(()).ok_or("no such compaction logged yet")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data() {
    // Compaction running often with a short history must not touch the latest revision of any key.
    // (`--v=2`: the compactor logs each pass at debug level; the test waits for those lines.)
    let mut server = TestServer::start_with(&[
        "--etcd-compaction-interval",
        "1s",
        "--storage-min-history",
        "10",
        "--v=2",
    ]);
    let api: Api<ConfigMap> = Api::namespaced(server.kube_client().await, "default");
    let mut before = BTreeMap::new();
    for i in 0..50 {
        let name = format!("keep-{i:02}");
        let c = api
            .create(&PostParams::default(), &cm(&name, &format!("v{i}")))
            .await
            .expect("create");
        before.insert(name, (rv_of(&c), c.metadata.uid.clone()));
    }
    let max_before = before.values().map(|(rv, _)| *rv).max().unwrap_or(0);
    let list_rv_before: u64 = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .and_then(|s| s.parse().ok())
        .expect("list RV");
    // Overwrite one object a few times so compaction has superseded revisions to remove.
    let mut c = api.get("keep-00").await.expect("get");
    for i in 0..20 {
        c.data = Some(BTreeMap::from([("value".to_string(), format!("v0-{i}"))]));
        c = api
            .replace("keep-00", &PostParams::default(), &c)
            .await
            .expect("update");
    }
    c.data = Some(BTreeMap::from([("value".to_string(), "v0".to_string())]));
    c = api
        .replace("keep-00", &PostParams::default(), &c)
        .await
        .expect("update");
    before.insert("keep-00".to_string(), (rv_of(&c), c.metadata.uid.clone()));
    let max_before = max_before.max(rv_of(&c));
    let list_rv_before = list_rv_before.max(rv_of(&c));
    // A compaction pass up to the last writes (the history kept is 10 revisions) before the
    // restart, and another after it, over 11 more writes (to objects outside the suite).
    wait_for_compaction(&server, max_before - 10);

    server.restart();
    let api: Api<ConfigMap> = Api::namespaced(server.kube_client().await, "default");
    let other: Api<ConfigMap> = Api::namespaced(server.kube_client().await, "kube-system");
    let mut churn = other
        .create(&PostParams::default(), &unlabelled("churn"))
        .await
        .expect("create churn");
    for i in 0..10 {
        churn.data = Some(BTreeMap::from([("value".to_string(), format!("c{i}"))]));
        churn = other
            .replace("churn", &PostParams::default(), &churn)
            .await
            .expect("update churn");
    }
    wait_for_compaction(&server, rv_of(&churn) - 10);
    let list = api
        .list(&ListParams::default().labels("suite=durability"))
        .await
        .expect("list after restart");
    assert_eq!(list.items.len(), 50, "objects after restart");
    for c in &list.items {
        let name = c.metadata.name.clone().unwrap_or_default();
        let (rv, uid) = before.get(&name).unwrap_or_else(|| panic!("unexpected object {name}"));
        assert_eq!(rv_of(c), *rv, "{name}: resourceVersion changed across restart");
        assert_eq!(&c.metadata.uid, uid, "{name}: uid changed across restart");
        let i = name.trim_start_matches("keep-").parse::<u32>().expect("index");
        assert_eq!(
            c.data.as_ref().and_then(|d| d.get("value")).cloned(),
            Some(format!("v{i}")),
            "{name}: data"
        );
    }
    let list_rv_after: u64 = list
        .metadata
        .resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("list RV");
    assert!(
        list_rv_after >= list_rv_before,
        "list resourceVersion went backwards across restart: {list_rv_before} -> {list_rv_after}"
    );

    let after = api
        .create(&PostParams::default(), &cm("after-restart", "x"))
        .await
        .expect("create after restart");
    assert!(
        rv_of(&after) > max_before && rv_of(&after) > list_rv_before,
        "revision not monotonic across restart: new object got {} but {max_before} / {list_rv_before} existed before",
        rv_of(&after)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_write() {
    let mut server = TestServer::start();
    let api: Api<ConfigMap> = Api::namespaced(server.kube_client().await, "default");
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let acked = acked.clone();
        let api = api.clone();
        tokio::spawn(async move {
            for i in 0u32.. {
                let name = format!("w-{i:06}");
                match api
                    .create(&PostParams::default(), &cm(&name, &format!("data-{i}")))
                    .await
                {
                    Ok(c) => {
                        if let Ok(mut a) = acked.lock() {
                            a.push((name, rv_of(&c)));
                        }
                    }
                    // The server is gone: stop writing.
                    Err(_) => return,
                }
            }
        })
    };
    // Kill once the stream of writes is flowing; the writer keeps going while the process dies.
    eventually_async("10 acknowledged creates", secs(20), || async {
        acked.lock().map(|a| a.len() >= 10).unwrap_or(false)
    })
    .await;
    server.kill9();
    let _ = tokio::time::timeout(Duration::from_secs(20), writer).await;
    let acked: Vec<(String, u64)> = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(
        acked.len() >= 10,
        "only {} creates acknowledged; the test needs a stream of writes",
        acked.len()
    );
    let max_before = acked.iter().map(|(_, rv)| *rv).max().unwrap_or(0);
    eprintln!("{} creates acknowledged before SIGKILL", acked.len());

    server.restart();
    let api: Api<ConfigMap> = Api::namespaced(server.kube_client().await, "default");
    let mut missing = Vec::new();
    for (name, rv) in &acked {
        match api.get_opt(name).await.expect("get after restart") {
            Some(c) => {
                let i = name.trim_start_matches("w-").parse::<u32>().expect("index");
                assert_eq!(
                    c.data.as_ref().and_then(|d| d.get("value")).cloned(),
                    Some(format!("data-{i}")),
                    "{name}: data after kill -9"
                );
                assert_eq!(rv_of(&c), *rv, "{name}: resourceVersion after kill -9");
            }
            None => missing.push(name.clone()),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged creates lost after kill -9: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(20)]
    );

    let list = api
        .list(&ListParams::default().labels("suite=durability"))
        .await
        .expect("list");
    assert!(
        list.items.len() >= acked.len(),
        "list shows fewer objects than were acknowledged"
    );
    // At most the one in-flight create may have landed without an acknowledgement.
    assert!(
        list.items.len() <= acked.len() + 1,
        "{} objects stored but only {} creates were sent before the kill",
        list.items.len(),
        acked.len()
    );

    let after = api
        .create(&PostParams::default(), &cm("after-kill", "x"))
        .await
        .expect("create after restart");
    let stored_max = list.items.iter().map(rv_of).max().unwrap_or(0);
    assert!(
        rv_of(&after) > max_before && rv_of(&after) > stored_max,
        "revision not monotonic after kill -9: new object got {}, before: acked max {max_before}, stored max {stored_max}",
        rv_of(&after)
    );
}
