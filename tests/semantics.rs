//! Object lifecycle semantics against the real binary, as upstream kube-apiserver behaves:
//! finalizers, namespace termination, status/scale subresources, generation, generateName,
//! preconditions, deletecollection, dry run, graceful pod deletion, watch bookmarks and
//! timeouts, the legacy /watch/ prefix, exact-revision lists and expired continue tokens.

mod common;

use common::http::{get, raw, Resp};
use common::{eventually_async, secs, TestServer};
use http::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn send(c: &kube::Client, method: Method, path: &str, body: Value) -> Resp {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    raw(c, method, path, &[("Content-Type", "application/json")], bytes).await
}

fn cm(name: &str, extra_meta: Value) -> Value {
    let mut meta = json!({"name": name});
    if let (Some(m), Some(e)) = (meta.as_object_mut(), extra_meta.as_object()) {
        m.extend(e.clone());
    }
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn finalizers_hold_an_object_until_removed() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let r = send(
        &c,
        Method::POST,
        CMS,
        cm("held", json!({"finalizers": ["example.com/hold"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    let r = send(&c, Method::DELETE, &format!("{CMS}/held"), Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(v["metadata"]["deletionTimestamp"].is_string(), "{v}");
    assert_eq!(v["metadata"]["deletionGracePeriodSeconds"], 0, "{v}");

    // Still there, and a second delete changes nothing.
    let live = get(&c, &format!("{CMS}/held"), None).await.json();
    assert_eq!(live["metadata"]["finalizers"], json!(["example.com/hold"]));
    let again = send(&c, Method::DELETE, &format!("{CMS}/held"), Value::Null).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["metadata"]["resourceVersion"],
        live["metadata"]["resourceVersion"]
    );

    // New finalizers may not be added while deleting.
    let mut more = live.clone();
    more["metadata"]["finalizers"] = json!(["example.com/hold", "example.com/other"]);
    let r = send(&c, Method::PUT, &format!("{CMS}/held"), more).await;
    r.expect_status(422, "Invalid");

    // Removing the last finalizer deletes it.
    let mut done = live.clone();
    done["metadata"]["finalizers"] = json!([]);
    let r = send(&c, Method::PUT, &format!("{CMS}/held"), done).await;
    assert_eq!(r.status, 200, "{}", r.text());
    get(&c, &format!("{CMS}/held"), None)
        .await
        .expect_status(404, "NotFound");
}

#[tokio::test]
async fn namespace_termination_and_lifecycle_errors() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}});
    let r = send(&c, Method::POST, "/api/v1/namespaces", ns).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"]["phase"], "Active");
    assert_eq!(v["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(v["metadata"]["labels"]["kubernetes.io/metadata.name"], "doomed");

    let r = send(&c, Method::DELETE, "/api/v1/namespaces/doomed", Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["phase"], "Terminating");

    let r = send(
        &c,
        Method::POST,
        "/api/v1/namespaces/doomed/configmaps",
        cm("x", json!({})),
    )
    .await;
    let st = r.expect_status(403, "Forbidden");
    assert_eq!(
        st["message"],
        "configmaps \"x\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
    );

    let r = send(
        &c,
        Method::POST,
        "/api/v1/namespaces/nowhere/configmaps",
        cm("x", json!({})),
    )
    .await;
    let st = r.expect_status(404, "NotFound");
    assert_eq!(st["message"], "namespaces \"nowhere\" not found");

    // The finalize subresource clears spec.finalizers; the namespace then goes away.
    let mut fin = get(&c, "/api/v1/namespaces/doomed", None).await.json();
    fin["spec"]["finalizers"] = json!([]);
    let r = send(&c, Method::PUT, "/api/v1/namespaces/doomed/finalize", fin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    get(&c, "/api/v1/namespaces/doomed", None)
        .await
        .expect_status(404, "NotFound");

    // System namespaces and the kubernetes Service exist from the first start.
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert_eq!(
            get(&c, &format!("/api/v1/namespaces/{n}"), None).await.status,
            200,
            "{n}"
        );
    }
    let svc = get(&c, "/api/v1/namespaces/default/services/kubernetes", None)
        .await
        .json();
    assert_eq!(svc["spec"]["ports"][0]["port"], 443, "{svc}");
    assert_eq!(svc["metadata"]["labels"]["component"], "apiserver");
}

fn deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}
        },
        "status": {"replicas": 7}
    })
}

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[tokio::test]
async fn status_and_scale_subresources_and_generation() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let r = send(&c, Method::POST, DEPLOYS, deployment("web")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(
        created.get("status").is_none_or(|s| s.get("replicas").is_none()),
        "status reset on create: {created}"
    );

    // The main resource ignores status; a spec change bumps generation.
    let mut upd = created.clone();
    upd["spec"]["replicas"] = json!(2);
    upd["status"] = json!({"replicas": 9});
    let r = send(&c, Method::PUT, &format!("{DEPLOYS}/web"), upd).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metadata"]["generation"], 2);
    assert!(v["status"].get("replicas").is_none(), "{v}");

    // The status subresource writes only status and does not bump generation.
    let mut st = v.clone();
    st["status"] = json!({"replicas": 2, "readyReplicas": 1});
    st["spec"]["replicas"] = json!(99);
    let r = send(&c, Method::PUT, &format!("{DEPLOYS}/web/status"), st).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"]["readyReplicas"], 1);
    assert_eq!(v["spec"]["replicas"], 2);
    assert_eq!(v["metadata"]["generation"], 2);

    // Scale reads and writes spec.replicas as autoscaling/v1 Scale.
    let scale = get(&c, &format!("{DEPLOYS}/web/scale"), None).await.json();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");
    let mut sc = scale.clone();
    sc["spec"]["replicas"] = json!(5);
    let r = send(&c, Method::PUT, &format!("{DEPLOYS}/web/scale"), sc).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["spec"]["replicas"], 5);
    let d = get(&c, &format!("{DEPLOYS}/web"), None).await.json();
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], 3);

    // An unchanged PUT writes nothing: same resourceVersion.
    let r = send(&c, Method::PUT, &format!("{DEPLOYS}/web"), d.clone()).await;
    assert_eq!(
        r.json()["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn generate_name_immutability_preconditions_dry_run() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let mut g = cm("", json!({"generateName": "gen-"}));
    g["metadata"].as_object_mut().unwrap().remove("name");
    let r = send(&c, Method::POST, CMS, g).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let name = v["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert!(v["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));

    // uid is immutable: a PATCH that changes it is invalid (a PUT's uid is a precondition,
    // see `a_put_names_the_uid_it_replaces`); the namespace in the body must match the URL.
    let patch = json!({"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}});
    let st = raw(
        &c,
        Method::PATCH,
        &format!("{CMS}/{name}"),
        &[("Content-Type", "application/merge-patch+json")],
        serde_json::to_vec(&patch).unwrap(),
    )
    .await
    .expect_status(422, "Invalid");
    assert!(
        st["message"].as_str().unwrap().contains("metadata.uid: Invalid value"),
        "{st}"
    );
    assert!(st["message"].as_str().unwrap().contains("field is immutable"), "{st}");
    let mut other_ns = v.clone();
    other_ns["metadata"]["namespace"] = json!("kube-system");
    send(&c, Method::PUT, &format!("{CMS}/{name}"), other_ns)
        .await
        .expect_status(400, "BadRequest");

    // Preconditions on delete.
    let st = send(
        &c,
        Method::DELETE,
        &format!("{CMS}/{name}"),
        json!({"preconditions": {"uid": "nope"}}),
    )
    .await
    .expect_status(409, "Conflict");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: UID in precondition: nope"),
        "{st}"
    );

    // Dry run persists nothing.
    let r = send(&c, Method::POST, &format!("{CMS}?dryRun=All"), cm("dry", json!({}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    get(&c, &format!("{CMS}/dry"), None)
        .await
        .expect_status(404, "NotFound");
    let r = send(&c, Method::DELETE, &format!("{CMS}/{name}?dryRun=All"), Value::Null).await;
    assert_eq!(r.status, 200);
    assert_eq!(get(&c, &format!("{CMS}/{name}"), None).await.status, 200);
    // Any other dryRun value is 422 Invalid on the write's options kind, as upstream 1.33.
    let st = send(&c, Method::POST, &format!("{CMS}?dryRun=Some"), cm("dry", json!({})))
        .await
        .expect_status(422, "Invalid");
    assert_eq!(
        st["message"],
        r#"CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Some"}: supported values: "All""#
    );
    assert_eq!(st["details"]["kind"], "CreateOptions");
    assert_eq!(st["details"]["causes"][0]["field"], "dryRun");
    let st = send(&c, Method::PUT, &format!("{CMS}/{name}?dryRun="), cm(&name, json!({})))
        .await
        .expect_status(422, "Invalid");
    assert_eq!(
        st["message"],
        r#"UpdateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{""}: supported values: "All""#
    );
    let r = raw(
        &c,
        Method::PATCH,
        &format!("{CMS}/{name}?dryRun=x&force=true"),
        &[("Content-Type", "application/merge-patch+json")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        r.expect_status(422, "Invalid")["message"],
        r#"PatchOptions.meta.k8s.io "" is invalid: [force: Forbidden: may not be specified for non-apply patch, dryRun: Unsupported value: []string{"x"}: supported values: "All"]"#
    );
    let st = send(
        &c,
        Method::DELETE,
        &format!("{CMS}/{name}?dryRun=All&dryRun=x"),
        Value::Null,
    )
    .await
    .expect_status(422, "Invalid");
    assert_eq!(
        st["message"],
        r#"DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"All", "x"}: supported values: "All""#
    );
    let st = send(
        &c,
        Method::DELETE,
        &format!("{CMS}/{name}"),
        json!({"dryRun": ["Nope"]}),
    )
    .await
    .expect_status(422, "Invalid");
    assert_eq!(
        st["message"],
        r#"DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Nope"}: supported values: "All""#
    );
    assert_eq!(get(&c, &format!("{CMS}/{name}"), None).await.status, 200);
}

#[tokio::test]
async fn deletecollection_with_selector_and_graceful_pods() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    for (n, l) in [("a1", "x"), ("a2", "x"), ("a3", "x"), ("b1", "y")] {
        let r = send(&c, Method::POST, CMS, cm(n, json!({"labels": {"grp": l}}))).await;
        assert_eq!(r.status, 201);
    }
    let r = send(&c, Method::DELETE, &format!("{CMS}?labelSelector=grp%3Dx"), Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 3);
    let left = get(&c, &format!("{CMS}?labelSelector=grp"), None).await.json();
    let names: Vec<&str> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["b1"]);

    // A pod bound to a node terminates gracefully; grace 0 removes it.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}});
    let pods = "/api/v1/namespaces/default/pods";
    assert_eq!(send(&c, Method::POST, pods, pod).await.status, 201);
    let byfield = get(&c, &format!("{pods}?fieldSelector=spec.nodeName%3Dnode-1"), None)
        .await
        .json();
    assert_eq!(byfield["items"].as_array().unwrap().len(), 1);
    let none = get(&c, &format!("{pods}?fieldSelector=spec.nodeName%3Dnode-2"), None)
        .await
        .json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let r = send(&c, Method::DELETE, &format!("{pods}/p"), Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metadata"]["deletionGracePeriodSeconds"], 30, "{v}");
    assert_eq!(get(&c, &format!("{pods}/p"), None).await.status, 200);
    let r = send(
        &c,
        Method::DELETE,
        &format!("{pods}/p"),
        json!({"gracePeriodSeconds": 0}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    get(&c, &format!("{pods}/p"), None).await.expect_status(404, "NotFound");
}

#[tokio::test]
async fn watch_bookmarks_timeout_and_legacy_prefix() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    assert_eq!(send(&c, Method::POST, CMS, cm("w1", json!({}))).await.status, 201);
    let list = get(&c, CMS, None).await.json();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();

    // The server ends the watch at timeoutSeconds and sends bookmarks when allowed.
    let started = Instant::now();
    let r = get(
        &c,
        &format!("{CMS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=3"),
        None,
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(8),
        "{elapsed:?}"
    );
    let events: Vec<Value> = r.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!events.is_empty(), "expected at least one bookmark");
    for e in &events {
        assert_eq!(e["type"], "BOOKMARK", "{e}");
        assert_eq!(e["object"]["kind"], "ConfigMap");
        assert!(
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                >= rv.parse::<i64>().unwrap()
        );
    }

    // Legacy /watch/ prefix without a resourceVersion: synthetic ADDED for what exists.
    let r = get(&c, "/api/v1/watch/namespaces/default/configmaps?timeoutSeconds=1", None).await;
    let events: Vec<Value> = r.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "ADDED" && e["object"]["metadata"]["name"] == "w1"),
        "{events:?}"
    );

    // Exact-revision list: the state at `rv`, before w2 existed.
    assert_eq!(send(&c, Method::POST, CMS, cm("w2", json!({}))).await.status, 201);
    let exact = get(
        &c,
        &format!("{CMS}?resourceVersion={rv}&resourceVersionMatch=Exact"),
        None,
    )
    .await
    .json();
    let names: Vec<&str> = exact["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"w1") && !names.contains(&"w2"), "{names:?}");
    assert_eq!(exact["metadata"]["resourceVersion"], rv.as_str());
    get(&c, &format!("{CMS}?resourceVersionMatch=Exact"), None)
        .await
        .expect_status(422, "Invalid");
}

#[tokio::test]
async fn continue_token_expires_after_compaction() {
    // Upstream's compactor rule alone: history goes back to the revision seen one interval ago,
    // so one later write is enough for a token to expire within two intervals.
    let s = TestServer::start_with(&["--etcd-compaction-interval", "1s"]);
    let c = s.kube_client().await;
    for i in 0..12 {
        assert_eq!(
            send(&c, Method::POST, CMS, cm(&format!("c{i:02}"), json!({})))
                .await
                .status,
            201
        );
    }
    let page = get(&c, &format!("{CMS}?limit=5"), None).await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert!(
        page["metadata"]["remainingItemCount"].as_i64().is_some_and(|n| n >= 7),
        "{page}"
    );
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    // The next page right away is consistent with the first.
    let next = get(&c, &format!("{CMS}?limit=5&continue={token}"), None).await.json();
    assert_eq!(next["items"][0]["metadata"]["name"], "c05");
    // Move history past the token's revision and let the compactor catch up.
    for i in 0..1 {
        let mut m = get(&c, &format!("{CMS}/c00"), None).await.json();
        m["data"]["k"] = json!(format!("v{i}"));
        assert_eq!(send(&c, Method::PUT, &format!("{CMS}/c00"), m).await.status, 200);
    }
    let r = eventually_async("the continue token to expire", secs(10), || async {
        let r = get(&c, &format!("{CMS}?limit=5&continue={token}"), None).await;
        if r.status == 410 {
            Ok(r)
        } else {
            Err(r.text())
        }
    })
    .await;
    let st = r.expect_status(410, "Expired");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .starts_with("The provided continue parameter is too old"),
        "{st}"
    );
    assert!(
        st["metadata"]["continue"].is_string(),
        "a fresh inconsistent token: {st}"
    );
}

/// A second DELETE of a terminating pod may only shorten its grace period (upstream's
/// `BeforeDelete`): a longer or no period changes nothing; a shorter one moves
/// `deletionTimestamp` back and sets `deletionGracePeriodSeconds`; zero (kubectl's `--force`)
/// deletes it.
#[tokio::test]
async fn second_delete_only_shortens_a_pods_grace_period() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "g"}, "spec": {
        "nodeName": "n1", "terminationGracePeriodSeconds": 60,
        "containers": [{"name": "c", "image": "busybox"}]}});
    assert_eq!(send(&c, Method::POST, pods, pod).await.status, 201);
    let meta = |r: Resp| {
        let v = r.json();
        assert_eq!(v["kind"], "Pod", "{v}");
        (
            v["metadata"]["deletionTimestamp"].as_str().unwrap().to_string(),
            v["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap(),
            v["metadata"]["resourceVersion"].as_str().unwrap().to_string(),
        )
    };
    let secs = |t: &str| capstan::util::parse_rfc3339(t).unwrap();
    let (ts, grace, rv) = meta(send(&c, Method::DELETE, &format!("{pods}/g"), Value::Null).await);
    assert_eq!(grace, 60);
    for longer in ["?gracePeriodSeconds=100", "?gracePeriodSeconds=60", ""] {
        let again = meta(send(&c, Method::DELETE, &format!("{pods}/g{longer}"), Value::Null).await);
        assert_eq!(again, (ts.clone(), 60, rv.clone()), "{longer}");
    }
    let dry = meta(
        send(
            &c,
            Method::DELETE,
            &format!("{pods}/g?gracePeriodSeconds=20&dryRun=All"),
            Value::Null,
        )
        .await,
    );
    assert_eq!(dry.1, 20);
    let (ts2, grace2, rv2) = meta(
        send(
            &c,
            Method::DELETE,
            &format!("{pods}/g?gracePeriodSeconds=30"),
            Value::Null,
        )
        .await,
    );
    assert_eq!(grace2, 30);
    assert_ne!(rv2, rv);
    assert_eq!(secs(&ts).duration_since(secs(&ts2)).unwrap(), Duration::from_secs(30));
    let stored = get(&c, &format!("{pods}/g"), None).await.json();
    assert_eq!(stored["metadata"]["deletionGracePeriodSeconds"], 30);

    // kubectl's force delete (grace period 0) removes the terminating pod at once.
    let out = s.kubectl_ok(
        "1.33",
        &["delete", "pod", "g", "--grace-period=0", "--force", "--timeout=20s"],
    );
    assert!(out.contains("pod \"g\" force deleted"), "{out}");
    get(&c, &format!("{pods}/g"), None).await.expect_status(404, "NotFound");
}

/// kwok (like kubelets before dual-stack) patches `status.podIP` alone; upstream's v1 ⇄ internal
/// conversion fills `status.podIPs` from it, and the EndpointSlice controller reads only
/// podIPs — without it a Service never gets endpoints (found by upstream's e2e webhook tests).
#[tokio::test]
async fn pod_status_patch_with_pod_ip_alone_fills_pod_ips() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ip"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}});
    assert_eq!(send(&c, Method::POST, pods, pod).await.status, 201);
    let patch = json!({"status": {"phase": "Running", "podIP": "10.244.0.7", "hostIP": "127.0.0.1"}});
    let r = raw(
        &c,
        Method::PATCH,
        &format!("{pods}/ip/status"),
        &[("Content-Type", "application/strategic-merge-patch+json")],
        serde_json::to_vec(&patch).unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let st = get(&c, &format!("{pods}/ip"), None).await.json()["status"].clone();
    assert_eq!(st["podIP"], "10.244.0.7");
    assert_eq!(st["podIPs"], json!([{"ip": "10.244.0.7"}]), "{st}");
    // A later podIP wins over stale podIPs, as upstream's conversion decides.
    let patch = json!({"status": {"podIP": "10.244.0.8"}});
    let r = raw(
        &c,
        Method::PATCH,
        &format!("{pods}/ip/status"),
        &[("Content-Type", "application/merge-patch+json")],
        serde_json::to_vec(&patch).unwrap(),
    )
    .await;
    assert_eq!(r.json()["status"]["podIPs"], json!([{"ip": "10.244.0.8"}]));
}

/// A controller stand-in: merge-patches Deployment `name`'s status in a loop until `stop`;
/// returns how many writes it made.
fn status_writer(
    c: &kube::Client,
    name: &str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<i32> {
    let (c, path) = (c.clone(), format!("{DEPLOYS}/{name}/status"));
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            let body = serde_json::to_vec(&json!({"status": {"observedGeneration": n}})).unwrap();
            let ct = [("Content-Type", "application/merge-patch+json")];
            let r = raw(&c, Method::PATCH, &path, &ct, body).await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
        n
    })
}

/// A patch without a resourceVersion never answers 409: when a controller writes between the
/// read and the write, the patch is applied again to the fresh object (upstream's
/// GuaranteedUpdate) — on the scale subresource too (upstream's e2e StatefulSet scale test
/// patched `/scale` while the controller wrote status).
#[tokio::test]
async fn scale_patches_retry_on_concurrent_writes() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    assert_eq!(send(&c, Method::POST, DEPLOYS, deployment("busy")).await.status, 201);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = status_writer(&c, "busy", stop.clone());
    let ct = [("Content-Type", "application/strategic-merge-patch+json")];
    for i in 0..40 {
        let body = serde_json::to_vec(&json!({"spec": {"replicas": i % 5 + 1}})).unwrap();
        let r = raw(&c, Method::PATCH, &format!("{DEPLOYS}/busy/scale"), &ct, body).await;
        assert_eq!(r.status, 200, "patch {i}: {}", r.text());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.await.unwrap() > 1, "the status writer ran alongside the patches");
    // With an explicit resourceVersion a stale patch still conflicts.
    let stale = serde_json::to_vec(&json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}})).unwrap();
    let r = raw(&c, Method::PATCH, &format!("{DEPLOYS}/busy/scale"), &ct, stale).await;
    assert_eq!(r.status, 409, "{}", r.text());
}

/// A Scale PUT without a resourceVersion is unconditional: it never answers 409 while a
/// controller writes status (upstream's e2e "should get and update a ReplicationController
/// scale" clears the resourceVersion and lost that race against the RC manager); with a stale
/// resourceVersion it still conflicts.
#[tokio::test]
async fn unconditional_scale_updates_retry_on_concurrent_writes() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    assert_eq!(send(&c, Method::POST, DEPLOYS, deployment("busy")).await.status, 201);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = status_writer(&c, "busy", stop.clone());
    let scale_path = format!("{DEPLOYS}/busy/scale");
    for i in 0..40 {
        let mut scale = get(&c, &scale_path, None).await.json();
        scale["metadata"]["resourceVersion"] = json!("");
        scale["spec"]["replicas"] = json!(i % 5 + 1);
        let r = send(&c, Method::PUT, &scale_path, scale).await;
        assert_eq!(r.status, 200, "put {i}: {}", r.text());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.await.unwrap() > 1, "the status writer ran alongside the updates");
    let mut stale = get(&c, &scale_path, None).await.json();
    stale["metadata"]["resourceVersion"] = json!("1");
    let r = send(&c, Method::PUT, &scale_path, stale).await;
    assert_eq!(r.status, 409, "{}", r.text());
}

/// Upstream's legacy-token-tracking controller: kube-controller-manager's legacy token cleaner
/// reads `kube-system/kube-apiserver-legacy-service-account-token-tracking` (it logged "not
/// found" against Capstan in the e2e runs). Created on start with today's UTC date, managed by
/// kube-apiserver, and a `since` that is not a date is rewritten.
#[tokio::test]
async fn legacy_token_tracking_configmap_as_upstream() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let path = "/api/v1/namespaces/kube-system/configmaps/kube-apiserver-legacy-service-account-token-tracking";
    let is_date = |v: &Value| {
        let d = v["data"]["since"].as_str().unwrap_or("");
        d.len() == 10 && capstan::util::parse_rfc3339(&format!("{d}T00:00:00Z")).is_some()
    };
    let cm = eventually_async("the tracking ConfigMap", secs(10), || async {
        let r = get(&c, path, None).await;
        if r.status == 200 {
            Ok(r.json())
        } else {
            Err(r.text())
        }
    })
    .await;
    assert!(is_date(&cm), "{cm}");
    assert_eq!(cm["metadata"]["managedFields"][0]["manager"], "kube-apiserver", "{cm}");
    let mut bad = cm.clone();
    bad["data"]["since"] = json!("yesterday");
    assert_eq!(send(&c, Method::PUT, path, bad).await.status, 200);
    eventually_async("since rewritten to a date", secs(10), || async {
        let v = get(&c, path, None).await.json();
        if is_date(&v) {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await;
}

/// A watcher far behind gets its queued events batched into fewer writes: every event still
/// arrives once, whole and in order, in JSON (one per line) and in protobuf (length-prefixed).
#[tokio::test]
async fn a_watcher_behind_gets_every_event_framed_in_order() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let list = get(&c, CMS, None).await.json();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    const N: usize = 300;
    for i in 0..N {
        assert_eq!(
            send(&c, Method::POST, CMS, cm(&format!("b{i:03}"), json!({})))
                .await
                .status,
            201
        );
    }
    // The whole replay is queued before the first write.
    let watch = format!("{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=2");
    let r = get(&c, &watch, None).await;
    assert_eq!(r.status, 200);
    let names: Vec<String> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|e| e["type"] == "ADDED")
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    let want: Vec<String> = (0..N).map(|i| format!("b{i:03}")).collect();
    assert_eq!(names, want);
    // Protobuf: 4-byte big-endian lengths, each frame whole, one per event.
    let r = get(&c, &watch, Some("application/vnd.kubernetes.protobuf;stream=watch")).await;
    assert_eq!(r.status, 200);
    let (mut at, mut frames) = (0usize, 0usize);
    while at < r.body.len() {
        let len = u32::from_be_bytes(r.body[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len;
        frames += 1;
    }
    assert_eq!(at, r.body.len(), "frames end exactly where the body does");
    assert_eq!(frames, N);
}

/// The value of the first `/metrics` sample starting with `prefix` (0 when absent).
async fn metric(c: &kube::Client, prefix: &str) -> f64 {
    get(c, "/metrics", None)
        .await
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Upstream's `apiserver_watch_events_total` and `apiserver_watch_events_sizes`: every event a
/// watch client is sent (bookmarks too) counts once for the watched kind, and its size is the
/// encoded object's. Events are written as upstream writes them, `{"type":…,"object":…}`.
#[tokio::test]
async fn watch_events_are_counted_and_sized_per_kind() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    const TOTAL: &str = "apiserver_watch_events_total{group=\"\",kind=\"ConfigMap\",version=\"v1\"}";
    const SIZES: &str = "apiserver_watch_events_sizes_sum{group=\"\",kind=\"ConfigMap\",version=\"v1\"}";
    const BELOW_1K: &str =
        "apiserver_watch_events_sizes_bucket{group=\"\",kind=\"ConfigMap\",version=\"v1\",le=\"1024\"}";
    let rv = get(&c, CMS, None).await.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    for (name, value) in [("small", "x".to_string()), ("large", "y".repeat(3000))] {
        let r = send(
            &c,
            Method::POST,
            CMS,
            cm(name, json!({ "annotations": { "v": value } })),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let (total0, sizes0, small0) = (
        metric(&c, TOTAL).await,
        metric(&c, SIZES).await,
        metric(&c, BELOW_1K).await,
    );
    let r = get(
        &c,
        &format!("{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=2&allowWatchBookmarks=true"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let text = r.text();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end()).filter(|l| !l.is_empty()).collect();
    // Two ADDED events, then (over 2 s) perhaps a bookmark: count what was sent.
    let (mut sized, mut under_1k) = (0usize, 0.0);
    for l in &lines {
        let ev: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        let ty = ev["type"].as_str().unwrap();
        let head = format!("{{\"type\":\"{ty}\",\"object\":");
        assert!(l.starts_with(&head), "upstream's field order: {l}");
        let size = l.len() - head.len() - 1;
        sized += size;
        if size <= 1024 {
            under_1k += 1.0;
        }
    }
    assert!(lines.len() >= 2, "{lines:?}");
    let sent = lines.len() as f64;
    eventually_async("watch events counted", secs(10), || async {
        let (total, sizes) = (metric(&c, TOTAL).await, metric(&c, SIZES).await);
        if total - total0 == sent && sizes - sizes0 == sized as f64 {
            Ok(())
        } else {
            Err(format!(
                "total {total0} -> {total}, sizes {sizes0} -> {sizes}; sent {sent} of {sized} bytes"
            ))
        }
    })
    .await;
    // The 3 KB object is over the 1 KiB bucket; the small one and any bookmark are under it.
    assert!(under_1k >= 1.0 && under_1k < sent, "{lines:?}");
    assert_eq!(metric(&c, BELOW_1K).await - small0, under_1k);
}

/// PUT `body` to `path` and expect upstream's failed-UID-precondition 409 naming `resource`
/// `name` at storage key `/registry/{key}`, the `uid` sent and the `stored` one.
async fn put_fails_uid_precondition(
    c: &kube::Client,
    path: &str,
    body: Value,
    (resource, name, key): (&str, &str, &str),
    uid: &str,
    stored: &str,
) {
    let st = send(c, Method::PUT, path, body).await.expect_status(409, "Conflict");
    assert_eq!(
        st["message"],
        format!(
            "Operation cannot be fulfilled on {resource} \"{name}\": StorageError: invalid object, Code: 4, \
             Key: /registry/{key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: \
             UID in precondition: {uid}, UID in object meta: {stored}"
        ),
        "{st}"
    );
}

/// Upstream's UID precondition, word for word: a PUT whose object carries `metadata.uid` (every
/// object a client read does) replaces only the object with that UID. A controller writing an
/// object a spec deleted meanwhile gets 409, which it retries quietly (a 404 it logs as an
/// error: the e2e yardstick's control-plane log diff found this). Without a uid: 404. A PATCH
/// is not conditional on the uid.
#[tokio::test]
async fn a_put_names_the_uid_it_replaces() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let gone = ("configmaps", "gone", "configmaps/default/gone");
    let created = send(&c, Method::POST, CMS, cm("gone", json!({}))).await.json();
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    send(&c, Method::DELETE, &format!("{CMS}/gone"), Value::Null).await;

    // The object is gone: with its uid 409, without it 404, and a patch 404.
    put_fails_uid_precondition(&c, &format!("{CMS}/gone"), created.clone(), gone, &uid, "").await;
    let mut no_uid = created.clone();
    no_uid["metadata"].as_object_mut().unwrap().remove("uid");
    send(&c, Method::PUT, &format!("{CMS}/gone"), no_uid)
        .await
        .expect_status(404, "NotFound");
    raw(
        &c,
        Method::PATCH,
        &format!("{CMS}/gone"),
        &[("Content-Type", "application/merge-patch+json")],
        br#"{"data": {"x": "y"}}"#.to_vec(),
    )
    .await
    .expect_status(404, "NotFound");

    // Recreated under the same name: the old uid is not this object's.
    let again = send(&c, Method::POST, CMS, cm("gone", json!({}))).await.json();
    let new_uid = again["metadata"]["uid"].as_str().unwrap();
    let mut stale = created.clone();
    stale["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    put_fails_uid_precondition(&c, &format!("{CMS}/gone"), stale, gone, &uid, new_uid).await;

    // A status PUT of a deleted ResourceQuota (the quota controller's write), and a Scale PUT
    // of a deleted Deployment, are conditional on the uid too.
    let quotas = "/api/v1/namespaces/default/resourcequotas";
    let q = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}});
    let q = send(&c, Method::POST, quotas, q).await.json();
    send(&c, Method::DELETE, &format!("{quotas}/q"), Value::Null).await;
    let quid = q["metadata"]["uid"].as_str().unwrap();
    let quota = ("resourcequotas", "q", "resourcequotas/default/q");
    put_fails_uid_precondition(&c, &format!("{quotas}/q/status"), q.clone(), quota, quid, "").await;
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    send(&c, Method::POST, deployments, deployment("d")).await;
    let scale = get(&c, &format!("{deployments}/d/scale"), None).await.json();
    send(&c, Method::DELETE, &format!("{deployments}/d"), Value::Null).await;
    let duid = scale["metadata"]["uid"].as_str().unwrap();
    let deployment_d = ("deployments.apps", "d", "deployments/default/d");
    put_fails_uid_precondition(
        &c,
        &format!("{deployments}/d/scale"),
        scale.clone(),
        deployment_d,
        duid,
        "",
    )
    .await;
}

/// `etcd_request_duration_seconds_count{operation="<op>",type="<ty>"}`: how many times the
/// server asked its storage for that.
async fn storage_calls(c: &kube::Client, op: &str, ty: &str) -> u64 {
    let prefix = format!("etcd_request_duration_seconds_count{{operation=\"{op}\",type=\"{ty}\"}}");
    metric(c, &prefix).await as u64
}

/// Writes start from the watch cache's copy, as upstream's GuaranteedUpdate starts from the
/// cacher's: a PUT or a patch costs storage one compare-and-swap and no read (before, a PUT
/// read once and a patch twice). The answers stay a read-modify-write's: a stale
/// resourceVersion is 409, a patch lands on the newest object, a no-op PUT keeps the
/// resourceVersion.
#[tokio::test]
async fn writes_start_from_the_watch_cache() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let r = send(&c, Method::POST, CMS, cm("w", json!({}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut rv = r.json()["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let path = format!("{CMS}/w");
    // Served from the cache once it holds `rv` (it waits for that, reading no storage).
    let cached = |rv: String| {
        let (c, path) = (c.clone(), path.clone());
        async move { get(&c, &format!("{path}?resourceVersion={rv}"), None).await.json() }
    };
    cached(rv.clone()).await;
    let before = storage_calls(&c, "get", "configmaps").await;
    let merge = [("Content-Type", "application/merge-patch+json")];
    for i in 0..10 {
        let body = serde_json::to_vec(&json!({"data": {format!("p{i}"): "x"}})).unwrap();
        let r = raw(&c, Method::PATCH, &path, &merge, body).await;
        assert_eq!(r.status, 200, "patch {i}: {}", r.text());
        let mut obj = cached(r.json()["metadata"]["resourceVersion"].as_str().unwrap().to_string()).await;
        assert_eq!(
            obj["data"][format!("p{i}")],
            "x",
            "the patch landed on the newest object"
        );
        obj["data"][format!("u{i}")] = json!("y");
        let r = send(&c, Method::PUT, &path, obj).await;
        assert_eq!(r.status, 200, "put {i}: {}", r.text());
        rv = r.json()["metadata"]["resourceVersion"].as_str().unwrap().to_string();
        cached(rv.clone()).await;
    }
    let reads = storage_calls(&c, "get", "configmaps").await - before;
    assert!(reads < 5, "20 writes read storage {reads} times");
    // A no-op PUT keeps the resourceVersion; a stale one conflicts.
    let current = cached(rv.clone()).await;
    let r = send(&c, Method::PUT, &path, current.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["resourceVersion"], json!(rv));
    let mut stale = current;
    stale["metadata"]["resourceVersion"] = json!("2");
    stale["data"]["z"] = json!("z");
    let r = send(&c, Method::PUT, &path, stale).await;
    assert_eq!(r.status, 409, "{}", r.text());
    let at = storage_calls(&c, "get", "configmaps").await;
    let final_obj = get(&c, &path, None).await.json();
    assert_eq!(final_obj["data"].as_object().map(|m| m.len()), Some(21), "{final_obj}");
    // The count is real: a GET without a resourceVersion reads storage.
    assert!(storage_calls(&c, "get", "configmaps").await > at);
}
