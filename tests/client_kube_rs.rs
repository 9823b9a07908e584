//! kube-rs against a real server: list-then-watch consistency, error values, synthetic events.

mod common;

use common::TestServer;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
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

fn api_error(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// (type, resourceVersion, data["i"]) of one watch event.
type Seen = (&'static str, u64, Option<String>);

fn summarize(ev: &WatchEvent<ConfigMap>) -> Option<Seen> {
    let (t, obj) = match ev {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        WatchEvent::Bookmark(_) => return None,
        WatchEvent::Error(s) => panic!("watch error event: {s:?}"),
    };
    Some((t, rv_of(obj), obj.data.as_ref().and_then(|d| d.get("i").cloned())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_then_watch_sees_every_update_once() {
    let server = TestServer::start();
    let client = server.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("counter", &[("i", "start")]))
        .await
        .expect("create");
    let list = api.list(&ListParams::default()).await.expect("list");
    let list_rv = list.metadata.resource_version.clone().expect("list resourceVersion");
    let created = list
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("counter"))
        .expect("counter in list");
    assert!(rv_of(created) <= list_rv.parse::<u64>().expect("numeric list RV"));

    let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();
    let watch_api = api.clone();
    let wp = WatchParams::default().fields("metadata.name=counter").timeout(290);
    let stream = watch_api.watch(&wp, &list_rv).await.expect("start watch");
    let watcher = tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    if let Some(s) = summarize(&ev) {
                        if tx.send(s).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => panic!("watch stream error: {e}"),
            }
        }
    });

    const N: usize = 1000;
    let mut current = api.get("counter").await.expect("get");
    let mut written = Vec::with_capacity(N);
    for i in 0..N {
        let mut next = current.clone();
        next.data = Some(BTreeMap::from([("i".to_string(), i.to_string())]));
        current = api
            .replace("counter", &PostParams::default(), &next)
            .await
            .unwrap_or_else(|e| panic!("update {i}: {e}"));
        written.push(rv_of(&current));
    }
    let final_rv = rv_of(&current);
    for w in written.windows(2) {
        assert!(w[0] < w[1], "update resourceVersions not increasing: {w:?}");
    }

    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(s)) => {
                let done = s.0 == "MODIFIED" && s.1 == final_rv;
                events.push(s);
                if done {
                    break;
                }
            }
            Ok(None) => panic!("watch ended early after {} events", events.len()),
            Err(_) => panic!(
                "watcher did not see the final resourceVersion {final_rv} within 30s; saw {} events, last {:?}",
                events.len(),
                events.last()
            ),
        }
    }
    let last = api.get("counter").await.expect("get");
    assert_eq!(
        last.data.as_ref().and_then(|d| d.get("i")).map(String::as_str),
        Some("999")
    );
    assert_eq!(rv_of(&last), final_rv);

    // Anything duplicated would arrive before a later event: delete the object and read up to
    // its DELETED event, which is not one of the updates.
    api.delete("counter", &Default::default()).await.expect("delete");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(s)) if s.0 == "DELETED" => break,
            Ok(Some(s)) => events.push(s),
            Ok(None) => panic!("watch ended before the DELETED event"),
            Err(_) => panic!("watcher did not see the DELETED event within 30s"),
        }
    }
    watcher.abort();

    let modified: Vec<&Seen> = events.iter().filter(|e| e.0 == "MODIFIED").collect();
    assert_eq!(
        events.len(),
        N,
        "expected exactly {N} events (all MODIFIED); other events: {:?}",
        events.iter().filter(|e| e.0 != "MODIFIED").collect::<Vec<_>>()
    );
    assert_eq!(modified.len(), N);
    let rvs: Vec<u64> = modified.iter().map(|e| e.1).collect();
    for w in rvs.windows(2) {
        assert!(w[0] < w[1], "watch resourceVersions not strictly increasing: {w:?}");
    }
    let unique: HashSet<u64> = rvs.iter().copied().collect();
    assert_eq!(unique.len(), N, "duplicate events");
    assert_eq!(
        rvs, written,
        "watch resourceVersions differ from the ones the updates returned"
    );
    let values: Vec<String> = modified.iter().map(|e| e.2.clone().unwrap_or_default()).collect();
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(values, want, "watch carried the wrong data");
}

#[tokio::test]
async fn api_errors() {
    let server = TestServer::start();
    let client = server.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");

    // 404
    let e = api_error(api.get("missing").await.expect_err("get of a missing object"));
    assert_eq!(e.code, 404, "{e:?}");
    assert_eq!(e.reason, "NotFound", "{e:?}");
    assert_eq!(e.message, "configmaps \"missing\" not found", "{e:?}");
    let d = e.details.as_ref().expect("details");
    assert_eq!(d.name, "missing");
    assert_eq!(d.kind, "configmaps");

    // 409 AlreadyExists
    let first = api
        .create(&PostParams::default(), &cm("c1", &[("a", "1")]))
        .await
        .expect("create");
    let e = api_error(
        api.create(&PostParams::default(), &cm("c1", &[]))
            .await
            .expect_err("duplicate create"),
    );
    assert_eq!(e.code, 409, "{e:?}");
    assert_eq!(e.reason, "AlreadyExists", "{e:?}");
    assert_eq!(e.message, "configmaps \"c1\" already exists", "{e:?}");

    // 409 Conflict on a stale update.
    let mut newer = first.clone();
    newer.data = Some(BTreeMap::from([("a".to_string(), "2".to_string())]));
    let updated = api.replace("c1", &PostParams::default(), &newer).await.expect("update");
    assert!(rv_of(&updated) > rv_of(&first));
    let mut stale = first.clone();
    stale.data = Some(BTreeMap::from([("a".to_string(), "3".to_string())]));
    let e = api_error(
        api.replace("c1", &PostParams::default(), &stale)
            .await
            .expect_err("stale update"),
    );
    assert_eq!(e.code, 409, "{e:?}");
    assert_eq!(e.reason, "Conflict", "{e:?}");
    assert_eq!(
        e.message,
        "Operation cannot be fulfilled on configmaps \"c1\": the object has been modified; please apply your changes to the latest version and try again",
        "{e:?}"
    );
    let now = api.get("c1").await.expect("get");
    assert_eq!(
        now.data.as_ref().and_then(|d| d.get("a")).map(String::as_str),
        Some("2")
    );

    // 422 with causes.
    let e = api_error(
        api.create(&PostParams::default(), &cm("Bad_Name", &[]))
            .await
            .expect_err("invalid name"),
    );
    assert_eq!(e.code, 422, "{e:?}");
    assert_eq!(e.reason, "Invalid", "{e:?}");
    assert!(
        e.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"),
        "{e:?}"
    );
    let d = e.details.as_ref().expect("details on 422");
    assert_eq!(d.name, "Bad_Name", "{d:?}");
    assert_eq!(d.kind, "ConfigMap", "{d:?}");
    assert!(
        d.causes.iter().any(|c| c.field == "metadata.name"
            && c.reason == "FieldValueInvalid"
            && c.message.contains("a lowercase RFC 1123 subdomain")),
        "causes: {:?}",
        d.causes
    );

    // Creating into a missing namespace.
    let nope: Api<ConfigMap> = Api::namespaced(api.clone().into_client(), "nope");
    let e = api_error(
        nope.create(&PostParams::default(), &cm("x", &[]))
            .await
            .expect_err("missing namespace"),
    );
    assert_eq!(e.code, 404, "{e:?}");
    assert_eq!(e.reason, "NotFound", "{e:?}");
    assert_eq!(e.message, "namespaces \"nope\" not found", "{e:?}");
}

#[tokio::test]
async fn watch_from_list_rv_and_from_zero() {
    let server = TestServer::start();
    let client = server.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for n in ["a", "b", "c"] {
        api.create(&PostParams::default(), &cm(n, &[])).await.expect("create");
    }
    let wp = WatchParams::default().labels("set=w").timeout(60);
    // Label them so other objects in the namespace (kube-root-ca.crt, if any) stay out.
    for n in ["a", "b", "c"] {
        let mut o = api.get(n).await.expect("get");
        o.metadata.labels = Some(BTreeMap::from([("set".to_string(), "w".to_string())]));
        api.replace(n, &PostParams::default(), &o).await.expect("label");
    }
    let list = api.list(&ListParams::default().labels("set=w")).await.expect("list");
    assert_eq!(list.items.len(), 3);
    let list_rv = list.metadata.resource_version.clone().expect("list RV");

    // From the list RV: only what happens afterwards.
    let mut from_list = Box::pin(api.watch(&wp, &list_rv).await.expect("watch from list RV"));
    // From "0": synthetic ADDED events for what exists, then live events.
    let mut from_zero = Box::pin(api.watch(&wp, "0").await.expect("watch from 0"));

    let mut d = cm("d", &[]);
    d.metadata.labels = Some(BTreeMap::from([("set".to_string(), "w".to_string())]));
    let d = api.create(&PostParams::default(), &d).await.expect("create d");
    let d_rv = rv_of(&d);

    async fn next_event(
        s: &mut (impl futures_util::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
    ) -> Seen {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(20), s.next())
                .await
                .expect("watch event within 20s")
                .expect("watch stream ended")
                .expect("watch stream error");
            if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &ev {
                let name = o.metadata.name.clone().unwrap_or_default();
                let (t, rv, _) = summarize(&ev).expect("not a bookmark");
                return (t, rv, Some(name));
            }
        }
    }

    let first = next_event(&mut from_list).await;
    assert_eq!(first, ("ADDED", d_rv, Some("d".to_string())), "watch from the list RV");

    let mut synthetic = Vec::new();
    for _ in 0..4 {
        synthetic.push(next_event(&mut from_zero).await);
    }
    let mut names: Vec<String> = synthetic.iter().filter_map(|e| e.2.clone()).collect();
    assert!(synthetic.iter().all(|e| e.0 == "ADDED"), "{synthetic:?}");
    names.sort();
    assert_eq!(names, ["a", "b", "c", "d"], "{synthetic:?}");

    // Both see a later deletion.
    api.delete("a", &Default::default()).await.expect("delete");
    let ev = next_event(&mut from_list).await;
    assert_eq!((ev.0, ev.2.as_deref()), ("DELETED", Some("a")));
    let ev = next_event(&mut from_zero).await;
    assert_eq!((ev.0, ev.2.as_deref()), ("DELETED", Some("a")));
}

/// A watch from a resourceVersion older than the watch cache's window gets an ERROR event with
/// 410 Expired. After a restart the window starts at the current revision (as upstream's cacher,
/// which is initialised from a fresh list), so a resourceVersion from before the restart that has
/// since been superseded is too old.
#[tokio::test]
async fn watch_too_old_resource_version() {
    let mut server = TestServer::start();
    let api: Api<ConfigMap> = Api::namespaced(server.kube_client().await, "default");
    let first = api
        .create(&PostParams::default(), &cm("old", &[("i", "0")]))
        .await
        .expect("create");
    let old_rv = rv_of(&first);
    let mut cur = first;
    for i in 1..=20 {
        cur.data = Some(BTreeMap::from([("i".to_string(), i.to_string())]));
        cur = api.replace("old", &PostParams::default(), &cur).await.expect("update");
    }
    let latest = rv_of(&cur);
    server.restart();
    let api: Api<ConfigMap> = Api::namespaced(server.kube_client().await, "default");

    let wp = WatchParams::default().timeout(30);
    let mut stream = Box::pin(api.watch(&wp, &old_rv.to_string()).await.expect("start watch"));
    let ev = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("an event within 20s")
        .expect("watch stream ended without an event")
        .expect("watch stream error");
    match ev {
        WatchEvent::Error(s) => {
            assert_eq!(s.code, 410, "{s:?}");
            assert_eq!(s.reason, "Expired", "{s:?}");
            assert!(
                s.message.starts_with(&format!("too old resource version: {old_rv} (")),
                "{s:?}"
            );
        }
        other => panic!("expected a 410 ERROR event for resourceVersion {old_rv} (latest {latest}), got {other:?}"),
    }

    // The current resourceVersion is still fine.
    let mut stream = Box::pin(api.watch(&wp, &latest.to_string()).await.expect("start watch"));
    let mut cur = api.get("old").await.expect("get");
    cur.data = Some(BTreeMap::from([("i".to_string(), "after".to_string())]));
    let updated = api.replace("old", &PostParams::default(), &cur).await.expect("update");
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event within 20s")
            .expect("watch stream ended")
            .expect("watch stream error");
        match ev {
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Modified(o) => {
                assert_eq!(rv_of(&o), rv_of(&updated));
                break;
            }
            other => panic!("expected MODIFIED, got {other:?}"),
        }
    }
}
