//! The etcd3 backend end to end: real `capstan serve` processes on real etcd (one member or a
//! three-member cluster), driven with kube-rs. Every process is killed and every temp dir
//! removed at the end; each scenario is bounded in time.

mod common;

use common::{eventually_async, secs, TestEtcd, TestServer};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cm(name: &str, data: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_string());
    cm.data = Some(BTreeMap::from([("v".to_string(), data.to_string())]));
    cm
}

fn server_on(etcd: &TestEtcd) -> TestServer {
    TestServer::start_on_etcd(etcd, &[])
}

async fn configmaps(s: &TestServer) -> Api<ConfigMap> {
    Api::namespaced(s.kube_client().await, "default")
}

fn rv(o: &ConfigMap) -> String {
    o.metadata.resource_version.clone().unwrap_or_default()
}

/// Objects live under upstream's key layout, without a resourceVersion (it is the etcd mod
/// revision).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_stored_under_registry_keys() {
    let etcd = TestEtcd::start();
    let server = server_on(&etcd);
    let api = configmaps(&server).await;
    let created = api.create(&PostParams::default(), &cm("cm1", "one")).await.unwrap();
    let mut raw = etcd.client(&[0]).await;
    let got = raw
        .get(
            "/registry/configmaps/",
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    let kv = got
        .kvs()
        .iter()
        .find(|kv| kv.key() == b"/registry/configmaps/default/cm1")
        .expect("key /registry/configmaps/default/cm1 in etcd");
    assert_eq!(kv.mod_revision().to_string(), rv(&created));
    // Built-in kinds are protobuf in etcd, as upstream stores them (tests/protobuf.rs).
    let stored = capstan::protobuf::decode(kv.value()).unwrap();
    assert_eq!(stored["metadata"]["name"], "cm1");
    assert_eq!(stored["data"]["v"], "one");
    assert!(stored["metadata"].get("resourceVersion").is_none(), "{stored}");
    // Namespaces use upstream's layout too.
    let ns = raw.get("/registry/namespaces/default", None).await.unwrap();
    assert_eq!(ns.kvs().len(), 1);
}

/// Two servers on one etcd: a write through one is seen by a watch on the other, and
/// optimistic concurrency holds across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_etcd() {
    let etcd = TestEtcd::start();
    let a = server_on(&etcd);
    let b = server_on(&etcd);
    let (api_a, api_b) = (configmaps(&a).await, configmaps(&b).await);
    let start = api_b.list(&Default::default()).await.unwrap();
    let start_rv = start.metadata.resource_version.clone().unwrap();
    let mut watch = api_b
        .watch(&WatchParams::default().timeout(60), &start_rv)
        .await
        .unwrap()
        .boxed();
    let created = api_a.create(&PostParams::default(), &cm("shared", "0")).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("watch on b saw nothing within 10s")
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Added(o) => {
            assert_eq!(o.metadata.name.as_deref(), Some("shared"));
            assert_eq!(rv(&o), rv(&created));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A consistent read on b right after a write on a sees the write.
    let updated = api_a
        .replace("shared", &PostParams::default(), &{
            let mut c = created.clone();
            c.data = Some(BTreeMap::from([("v".into(), "1".into())]));
            c
        })
        .await
        .unwrap();
    let listed = api_b.list(&Default::default()).await.unwrap();
    let item = listed
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("shared"))
        .unwrap();
    assert_eq!(rv(item), rv(&updated));

    // Concurrent conflicting updates through both servers: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let api = if i % 2 == 0 { api_a.clone() } else { api_b.clone() };
        let mut obj = updated.clone();
        obj.data = Some(BTreeMap::from([("v".into(), format!("writer-{i}"))]));
        tasks.push(tokio::spawn(async move {
            api.replace("shared", &PostParams::default(), &obj).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1);
}

/// A three-member etcd cluster loses its leader (SIGKILL, then restart) while a writer and a
/// watcher run: the watcher sees every acknowledged write exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_loses_and_duplicates_nothing() {
    let mut etcd = TestEtcd::cluster(3);
    let leader = etcd.wait_healthy(secs(20)).await;
    let server = server_on(&etcd);
    let api = configmaps(&server).await;
    let start_rv = api
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    // Watcher: re-watches from the last seen resourceVersion when its stream ends.
    let watcher = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut seen: Vec<(String, i64)> = Vec::new();
            let mut last = start_rv;
            // Longer than the writer may take (120 s) plus the stop marker.
            let deadline = Instant::now() + Duration::from_secs(180);
            while Instant::now() < deadline {
                let wp = WatchParams::default().timeout(30);
                let stream = eventually_async("the watch to be re-established", secs(60), || async {
                    api.watch(&wp, &last).await
                })
                .await;
                let mut stream = stream.boxed();
                while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                    match item {
                        Ok(WatchEvent::Added(o)) => {
                            let name = o.metadata.name.clone().unwrap_or_default();
                            last = rv(&o);
                            if name == "stop" {
                                return seen;
                            }
                            seen.push((name, last.parse().unwrap()));
                        }
                        Ok(WatchEvent::Modified(o)) | Ok(WatchEvent::Deleted(o)) => last = rv(&o),
                        Ok(WatchEvent::Bookmark(b)) => last = b.metadata.resource_version,
                        Ok(WatchEvent::Error(e)) => panic!("watch error {e:?}"),
                        Err(_) => break,
                    }
                }
            }
            panic!("watcher did not see the stop marker; saw {} events", seen.len());
        })
    };

    // Writer: sequential creates; only acknowledged ones count. Each phase ends on a condition:
    // 30 writes acknowledged with the leader up; SIGKILL it; 30 more (a new leader serves); restart
    // it; then until it has rejoined (every member agrees on a leader) and 30 more were acknowledged.
    let mut acked: Vec<(String, i64)> = Vec::new();
    let mut failed = 0;
    let begin = Instant::now();
    let mut killed_at = None;
    let mut restarted_at = None;
    let mut rejoined = false;
    let mut i = 0;
    loop {
        match (killed_at, restarted_at) {
            (None, _) if acked.len() >= 30 => {
                etcd.kill_member(leader);
                killed_at = Some(acked.len());
            }
            (Some(k), None) if acked.len() >= k + 30 => {
                etcd.spawn_member(leader, "existing");
                restarted_at = Some(acked.len());
            }
            (_, Some(_)) if i % 10 == 0 && !rejoined => rejoined = etcd.leader().await.is_some(),
            (_, Some(r)) if rejoined && acked.len() >= r + 30 => break,
            _ => {}
        }
        assert!(
            begin.elapsed() < secs(120),
            "writes stalled: {} acknowledged, {failed} failed, killed after {killed_at:?}, restarted after {restarted_at:?}, rejoined {rejoined}\n{}",
            acked.len(),
            etcd.log()
        );
        let name = format!("w{i:04}");
        i += 1;
        match tokio::time::timeout(
            Duration::from_secs(10),
            api.create(&PostParams::default(), &cm(&name, "x")),
        )
        .await
        {
            Ok(Ok(o)) => acked.push((name, rv(&o).parse().unwrap())),
            _ => failed += 1,
        }
        // Pacing, not synchronisation: a steady stream of writes across the phases.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        acked.len() > 50,
        "only {} writes acknowledged ({failed} failed)",
        acked.len()
    );
    eprintln!("leader kill: {} writes acknowledged, {failed} failed", acked.len());
    // A final marker, retried until acknowledged.
    eventually_async("the stop marker to be acknowledged", secs(20), || async {
        api.create(&PostParams::default(), &cm("stop", "x")).await
    })
    .await;
    let seen = tokio::time::timeout(Duration::from_secs(60), watcher)
        .await
        .unwrap()
        .unwrap();
    // In revision order, no duplicates.
    assert!(
        seen.windows(2).all(|w| w[0].1 < w[1].1),
        "events out of order or repeated"
    );
    let mut names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), seen.len(), "duplicate events");
    // Every acknowledged write was seen, at its revision. (A write whose acknowledgement was
    // lost may be seen too: it did commit.)
    for (name, rev) in &acked {
        assert!(
            seen.contains(&(name.clone(), *rev)),
            "acknowledged {name}@{rev} never seen"
        );
    }
}

/// A stopped etcd: requests fail fast with a Status, and the server recovers on SIGCONT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_etcd_fails_fast_then_recovers() {
    let etcd = TestEtcd::start();
    let server = server_on(&etcd);
    let api = configmaps(&server).await;
    api.create(&PostParams::default(), &cm("before", "x")).await.unwrap();
    capstan::testing::stop_process(etcd.pid());
    // kubectl sends the write once (kube-rs would retry a 504 on its own).
    let manifest = server.write_file(
        "during.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"during","namespace":"default"}}"#,
    );
    let t = Instant::now();
    let out = server.kubectl("1.33", &["create", "-f", manifest.to_str().unwrap()]);
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("while etcd is stopped: {took:?} {stderr}");
    assert!(!out.status.success(), "create succeeded while etcd was stopped");
    assert!(
        stderr.contains("Timeout") && stderr.contains("etcd"),
        "a 504 Timeout naming etcd: {stderr}"
    );
    // The server gives etcd 5 s per request; a hang would run into the 60 s request timeout.
    // 20 s leaves room for a loaded machine without letting a hang pass.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // A consistent list cannot be served either.
    let t = Instant::now();
    let out = server.kubectl("1.33", &["get", "configmaps", "-n", "default"]);
    assert!(
        !out.status.success(),
        "a consistent list succeeded while etcd was stopped"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "list took {:?}", t.elapsed());
    // Readiness reflects etcd reachability.
    let out = server.kubectl("1.33", &["get", "--raw", "/readyz?verbose"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "readyz passed while etcd was stopped: {text}");
    let out = server.kubectl("1.33", &["get", "--raw", "/livez/etcd"]);
    assert!(!out.status.success(), "livez/etcd passed while etcd was stopped");
    etcd.signal_member(0, libc::SIGCONT);
    eventually_async("the server to recover after SIGCONT", secs(20), || async {
        let created = api.create(&PostParams::default(), &cm("after", "x")).await;
        created.map_err(|e| format!("{e}\nserver log:\n{}", server.log()))
    })
    .await;
    let out = server.kubectl("1.33", &["get", "--raw", "/readyz/etcd"]);
    assert!(
        out.status.success(),
        "readyz/etcd after SIGCONT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert!(names.contains(&"before".to_string()) && names.contains(&"after".to_string()));
}

/// `etcd_request_duration_seconds_count{operation=…,type=…}` from the server's `/metrics`
/// (0 when the series is not there yet).
fn storage_ops(server: &TestServer, operation: &str, ty: &str) -> u64 {
    let text = server.kubectl_ok("1.33", &["get", "--raw", "/metrics"]);
    let series = format!("etcd_request_duration_seconds_count{{operation=\"{operation}\",type=\"{ty}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map(|v| v.trim().parse::<f64>().expect("a sample value") as u64)
        .unwrap_or(0)
}

/// SIGKILL one of two Capstan servers on one etcd while a kube-rs client of the other writes
/// and watches: that client sees no error, and its one watch delivers every write, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_one_server_of_two_other_clients_see_no_error() {
    let etcd = TestEtcd::start();
    let mut a = server_on(&etcd);
    let b = server_on(&etcd);
    let (api_a, api_b) = (configmaps(&a).await, configmaps(&b).await);
    let start_rv = api_b
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    // One watch on B for the whole test: it must neither fail nor end.
    let mut stream = api_b
        .watch(&WatchParams::default().timeout(120), &start_rv)
        .await
        .unwrap()
        .boxed();
    let watcher = tokio::spawn(async move {
        let mut seen: Vec<(String, i64)> = Vec::new();
        loop {
            let item = match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => panic!("the watch on B ended after {} events", seen.len()),
                Err(_) => panic!("the watch on B was silent for 30 s after {} events", seen.len()),
            };
            match item {
                Ok(WatchEvent::Added(o)) => {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    if name == "stop" {
                        return seen;
                    }
                    seen.push((name, rv(&o).parse().unwrap()));
                }
                Ok(WatchEvent::Bookmark(_)) => {}
                Ok(other) => panic!("unexpected watch event {other:?}"),
                Err(e) => panic!("watch on B failed: {e}"),
            }
        }
    });

    // A writes too until it dies (its errors do not matter); B writes throughout.
    let a_count = Arc::new(AtomicUsize::new(0));
    let a_writer = {
        let a_count = a_count.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                match api_a
                    .create(&PostParams::default(), &cm(&format!("a{i:04}"), "x"))
                    .await
                {
                    Ok(o) => {
                        acked.push((
                            o.metadata.name.clone().unwrap_or_default(),
                            rv(&o).parse::<i64>().unwrap(),
                        ));
                        a_count.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => return acked,
                }
                // Pacing, not synchronisation: a steady stream of writes.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            acked
        })
    };
    // A is killed once both servers have acknowledged writes (B 30, A at least one); then B
    // keeps writing for 4 s, the window in which A's death could disturb B's clients.
    let mut acked: Vec<(String, i64)> = Vec::new();
    let begin = Instant::now();
    let mut killed: Option<Instant> = None;
    let mut i = 0;
    while killed.is_none_or(|k| k.elapsed() < Duration::from_secs(4)) {
        if killed.is_none() && acked.len() >= 30 && a_count.load(Ordering::Relaxed) > 0 {
            a.kill9();
            killed = Some(Instant::now());
        }
        assert!(
            killed.is_some() || begin.elapsed() < secs(60),
            "no writes through A and B: A {}, B {}",
            a_count.load(Ordering::Relaxed),
            acked.len()
        );
        let killed = killed.is_some();
        let name = format!("b{i:04}");
        i += 1;
        let created = tokio::time::timeout(
            Duration::from_secs(10),
            api_b.create(&PostParams::default(), &cm(&name, "x")),
        )
        .await
        .unwrap_or_else(|_| panic!("create {name} on B hung"))
        .unwrap_or_else(|e| panic!("create {name} on B failed after A was killed={killed}: {e}"));
        acked.push((name, rv(&created).parse().unwrap()));
        // Reads on B keep working as well.
        if i % 10 == 0 {
            api_b.get(&acked[acked.len() - 1].0).await.expect("get on B");
            api_b.list(&Default::default()).await.expect("consistent list on B");
        }
        // Pacing, not synchronisation: a steady stream of writes.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let a_acked = tokio::time::timeout(Duration::from_secs(15), a_writer)
        .await
        .expect("A's writer did not notice A died")
        .unwrap();
    api_b
        .create(&PostParams::default(), &cm("stop", "x"))
        .await
        .expect("stop marker on B");
    let seen = tokio::time::timeout(Duration::from_secs(30), watcher)
        .await
        .expect("B's watch never delivered the stop marker")
        .unwrap();
    eprintln!(
        "kill -9: B acknowledged {} writes, A acknowledged {} before it died; B's watch saw {}",
        acked.len(),
        a_acked.len(),
        seen.len()
    );
    assert!(acked.len() > 50, "only {} writes on B", acked.len());
    assert!(!a_acked.is_empty(), "A acknowledged no write before it was killed");
    // In revision order, nothing repeated, and exactly the acknowledged writes of both servers
    // (a write on A whose acknowledgement died with A may show up too: it did commit).
    assert!(
        seen.windows(2).all(|w| w[0].1 < w[1].1),
        "events out of order or repeated: {seen:?}"
    );
    let b_seen: Vec<&(String, i64)> = seen.iter().filter(|(n, _)| n.starts_with('b')).collect();
    assert_eq!(
        b_seen.len(),
        acked.len(),
        "B's watch saw B's writes {b_seen:?}, acknowledged {acked:?}"
    );
    for (s, a) in b_seen.iter().zip(&acked) {
        assert_eq!(*s, a);
    }
    for w in &a_acked {
        assert!(seen.contains(w), "A's acknowledged write {w:?} never seen on B");
    }
}

/// Lists served from the watch cache do not read etcd: `resourceVersion=0` lists touch no
/// storage at all, and consistent lists only read etcd's current revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_from_the_watch_cache_do_not_touch_etcd() {
    const N: u64 = 20;
    let etcd = TestEtcd::start();
    let server = server_on(&etcd);
    let api = configmaps(&server).await;
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let lists_before = storage_ops(&server, "list", "configmaps");
    let gets_before = storage_ops(&server, "get", "configmaps");
    let revs_before = storage_ops(&server, "getRevision", "");

    for _ in 0..N {
        let l = api.list(&ListParams::default().match_any()).await.unwrap();
        assert_eq!(l.items.len(), 5);
    }
    assert_eq!(
        storage_ops(&server, "list", "configmaps"),
        lists_before,
        "resourceVersion=0 lists hit etcd"
    );
    assert_eq!(storage_ops(&server, "get", "configmaps"), gets_before);
    assert_eq!(
        storage_ops(&server, "getRevision", ""),
        revs_before,
        "resourceVersion=0 lists asked etcd for its revision"
    );

    for _ in 0..N {
        let l = api.list(&ListParams::default()).await.unwrap();
        assert_eq!(l.items.len(), 5);
    }
    assert_eq!(
        storage_ops(&server, "list", "configmaps"),
        lists_before,
        "consistent lists ranged over etcd"
    );
    assert_eq!(storage_ops(&server, "get", "configmaps"), gets_before);
    assert_eq!(
        storage_ops(&server, "getRevision", ""),
        revs_before + N,
        "each consistent list reads etcd's current revision exactly once"
    );
    // The same holds with a selector and with pagination's first page.
    for _ in 0..N {
        api.list(&ListParams::default().labels("app=x").limit(2)).await.unwrap();
    }
    assert_eq!(storage_ops(&server, "list", "configmaps"), lists_before);
    assert_eq!(storage_ops(&server, "getRevision", ""), revs_before + 2 * N);
}

/// Custom resources written through server A before server B has noticed their CRD — B frozen
/// (SIGSTOP) while the CRD and a first burst go through A, then a second burst while B catches
/// up — all reach B's cache: a list and a watch from its resourceVersion on B together see every
/// object A created, each once, with A's resourceVersions, the watch in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_written_before_another_server_serves_their_crd_reach_it() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    const BURST: usize = 60;
    let etcd = TestEtcd::start();
    let a = server_on(&etcd);
    let b = server_on(&etcd);
    let (ca, cb) = (a.kube_client().await, b.kube_client().await);
    // B is up and caching everything there is; now it stops reading its storage feed.
    Api::<ConfigMap>::namespaced(cb.clone(), "default")
        .list(&Default::default())
        .await
        .unwrap();
    b.signal(libc::SIGSTOP);
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.race.example.com"},
        "spec": {"group": "race.example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    Api::<CustomResourceDefinition>::all(ca.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("race.example.com", "v1", "Widget"), "widgets");
    let (wa, wb) = (
        Api::<DynamicObject>::namespaced_with(ca, "default", &ar),
        Api::<DynamicObject>::namespaced_with(cb, "default", &ar),
    );
    let ar = ar.clone();
    let widget = move |i: usize| {
        let mut o = DynamicObject::new(&format!("w-{i:03}"), &ar);
        o.data = serde_json::json!({"spec": {"n": i}});
        o
    };
    // A serves the CRD; the first burst lands while B cannot know of it.
    eventually_async("A to serve widgets", Duration::from_secs(20), || async {
        wa.list(&Default::default())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    let mut created: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..BURST {
        let o = wa.create(&PostParams::default(), &widget(i)).await.unwrap();
        created.insert(
            o.metadata.name.clone().unwrap(),
            o.metadata.resource_version.clone().unwrap(),
        );
    }
    b.signal(libc::SIGCONT);
    // The second burst runs while B notices the CRD and builds the widgets cache.
    let writer = {
        let wa = wa.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for i in BURST..2 * BURST {
                let o = wa.create(&PostParams::default(), &widget(i)).await.unwrap();
                out.push((
                    o.metadata.name.clone().unwrap(),
                    o.metadata.resource_version.clone().unwrap(),
                ));
            }
            out
        })
    };
    let listed = eventually_async("B to serve widgets", Duration::from_secs(20), || async {
        wb.list(&Default::default()).await.map_err(|e| e.to_string())
    })
    .await;
    let list_rv: u64 = listed.metadata.resource_version.clone().unwrap().parse().unwrap();
    let mut seen: BTreeMap<String, String> = listed
        .items
        .iter()
        .map(|o| {
            (
                o.metadata.name.clone().unwrap(),
                o.metadata.resource_version.clone().unwrap(),
            )
        })
        .collect();
    for (name, rv) in writer.await.unwrap() {
        created.insert(name, rv);
    }
    let mut watch = wb
        .watch(&WatchParams::default().timeout(60), &list_rv.to_string())
        .await
        .unwrap()
        .boxed();
    let mut last = list_rv;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < created.len() && Instant::now() < deadline {
        let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), watch.next()).await else {
            break;
        };
        match ev.unwrap() {
            WatchEvent::Added(o) => {
                let rv = o.metadata.resource_version.clone().unwrap();
                let n: u64 = rv.parse().unwrap();
                assert!(n > last, "watch out of order: {n} after {last}");
                last = n;
                let name = o.metadata.name.clone().unwrap();
                assert!(seen.insert(name.clone(), rv).is_none(), "{name} seen twice");
            }
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen.len(),
        created.len(),
        "missing on B: {:?}",
        created.keys().filter(|k| !seen.contains_key(*k)).collect::<Vec<_>>()
    );
    assert_eq!(seen, created, "B serves A's resourceVersions");
}
