//! Paged lists served from the watch cache's snapshots, and the `spec.nodeName` index that
//! every kubelet's pod list and watch goes through, checked through real clients (kube-rs,
//! plain HTTP) against the real binary.

mod common;

use common::http::{get, send_json as send};
use common::TestServer;
use futures_util::StreamExt;
use http::Method;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::{json, Value};
use std::time::Duration;

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"set": "p"}},
        "data": {"k": "v"}})
}

fn pod(name: &str, node: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// A traversal sees the collection as of its first page, whatever is written meanwhile, with an
/// exact remainingItemCount on every page, namespaced and across namespaces.
#[tokio::test]
async fn a_paged_list_resumes_in_its_snapshot() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    for i in 0..25 {
        let r = send(&c, Method::POST, CMS, cm(&format!("c{i:02}"))).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let all = get(&c, CMS, None).await.json();
    let total = all["items"].as_array().unwrap().len();
    assert!(total >= 25, "{all}");

    let first = get(&c, &format!("{CMS}?limit=10"), None).await.json();
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    assert_eq!(names(&first).len(), 10);
    assert_eq!(first["metadata"]["remainingItemCount"], total - 10, "{first}");
    let mut seen = names(&first);

    // Writes after the first page: not part of this traversal.
    let second_page_name = "c12".to_string();
    let r = send(&c, Method::DELETE, &format!("{CMS}/{second_page_name}"), Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(send(&c, Method::POST, CMS, cm("zz-late")).await.status, 201);

    let mut token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let mut pages = 1;
    loop {
        let page = get(&c, &format!("{CMS}?limit=10&continue={token}"), None).await.json();
        pages += 1;
        assert_eq!(page["metadata"]["resourceVersion"], rv.as_str(), "{page}");
        seen.extend(names(&page));
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => {
                assert_eq!(page["metadata"]["remainingItemCount"], total - seen.len(), "{page}");
                token = t.to_string();
            }
            _ => {
                assert!(page["metadata"].get("remainingItemCount").is_none(), "{page}");
                break;
            }
        }
    }
    assert_eq!(pages, total.div_ceil(10));
    assert_eq!(
        seen,
        names(&all),
        "the traversal is the list at its first page's revision"
    );
    assert!(seen.contains(&second_page_name) && !seen.contains(&"zz-late".to_string()));

    // Across namespaces: the count covers every namespace, exactly.
    let everywhere = get(&c, "/api/v1/configmaps", None).await.json();
    let n = everywhere["items"].as_array().unwrap().len();
    let page = get(&c, "/api/v1/configmaps?limit=3", None).await.json();
    assert_eq!(page["metadata"]["remainingItemCount"], n - 3, "{page}");
    // A selector: no count (upstream cannot know it without reading everything).
    let page = get(&c, &format!("{CMS}?limit=3&labelSelector=set%3Dp"), None)
        .await
        .json();
    assert_eq!(names(&page).len(), 3);
    assert!(page["metadata"].get("remainingItemCount").is_none(), "{page}");
    // An exact-revision list at the traversal's revision still reads the same collection.
    let exact = get(
        &c,
        &format!("{CMS}?resourceVersion={rv}&resourceVersionMatch=Exact"),
        None,
    )
    .await
    .json();
    assert_eq!(names(&exact), names(&all));
}

async fn next_event(
    s: &mut (impl futures_util::Stream<Item = kube::Result<WatchEvent<Pod>>> + Unpin),
) -> (&'static str, String) {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), s.next())
            .await
            .expect("watch event within 20s")
            .expect("watch stream ended")
            .expect("watch stream error");
        let (t, o) = match ev {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            _ => continue,
        };
        return (t, o.metadata.name.unwrap_or_default());
    }
}

/// What a kubelet does: list and watch its node's pods by `spec.nodeName`. Served through the
/// index, it sees exactly its pods, pages through them, and sees a pod bound to its node
/// appear (and leave the unscheduled watch) as upstream's selector semantics say.
#[tokio::test]
async fn kubelet_node_selector_lists_and_watches_only_its_pods() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    for (name, node) in [("a1", "n1"), ("b1", "n2"), ("a2", "n1"), ("b2", "n2"), ("a3", "n1")] {
        let r = send(&c, Method::POST, PODS, pod(name, Some(node))).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let api: Api<Pod> = Api::namespaced(c.clone(), "default");
    let on_n1 = api
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .expect("list n1");
    let got: Vec<String> = on_n1.items.iter().filter_map(|p| p.metadata.name.clone()).collect();
    assert_eq!(got, ["a1", "a2", "a3"]);
    // The legacy label `spec.host` is the same field.
    let legacy = get(&c, &format!("{PODS}?fieldSelector=spec.host%3Dn2"), None)
        .await
        .json();
    assert_eq!(names(&legacy), ["b1", "b2"]);
    // Paged through the index.
    let p1 = get(&c, &format!("{PODS}?fieldSelector=spec.nodeName%3Dn1&limit=2"), None)
        .await
        .json();
    assert_eq!(names(&p1), ["a1", "a2"]);
    let token = p1["metadata"]["continue"].as_str().expect("a continue token");
    let p2 = get(
        &c,
        &format!("{PODS}?fieldSelector=spec.nodeName%3Dn1&limit=2&continue={token}"),
        None,
    )
    .await
    .json();
    assert_eq!(names(&p2), ["a3"]);
    // Combined with another term, and a value no pod has.
    let both = get(
        &c,
        &format!("{PODS}?fieldSelector=spec.nodeName%3Dn1,metadata.name%3Da2"),
        None,
    )
    .await
    .json();
    assert_eq!(names(&both), ["a2"]);
    let none = get(&c, &format!("{PODS}?fieldSelector=spec.nodeName%3Dn9"), None)
        .await
        .json();
    assert!(names(&none).is_empty());

    let rv = on_n1.metadata.resource_version.clone().unwrap();
    let mut n1 = Box::pin(
        api.watch(&WatchParams::default().fields("spec.nodeName=n1").timeout(60), &rv)
            .await
            .expect("watch n1"),
    );
    let mut unscheduled = Box::pin(
        api.watch(&WatchParams::default().fields("spec.nodeName=").timeout(60), &rv)
            .await
            .expect("watch unscheduled"),
    );
    let mut from_zero = Box::pin(
        api.watch(&WatchParams::default().fields("spec.nodeName=n2").timeout(60), "0")
            .await
            .expect("watch n2 from 0"),
    );
    let mut initial = vec![next_event(&mut from_zero).await, next_event(&mut from_zero).await];
    initial.sort();
    assert_eq!(initial, [("ADDED", "b1".to_string()), ("ADDED", "b2".to_string())]);

    // Another node's pod: not sent to n1's watch. An unscheduled pod: to the unscheduled one.
    assert_eq!(send(&c, Method::POST, PODS, pod("b3", Some("n2"))).await.status, 201);
    assert_eq!(send(&c, Method::POST, PODS, pod("u1", None)).await.status, 201);
    assert_eq!(next_event(&mut unscheduled).await, ("ADDED", "u1".to_string()));
    assert_eq!(next_event(&mut from_zero).await, ("ADDED", "b3".to_string()));
    // Bound to n1: it enters n1's selection and leaves the unscheduled one.
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "u1"},
        "target": {"kind": "Node", "name": "n1"}});
    let r = send(&c, Method::POST, &format!("{PODS}/u1/binding"), binding).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(next_event(&mut n1).await, ("ADDED", "u1".to_string()));
    assert_eq!(next_event(&mut unscheduled).await, ("DELETED", "u1".to_string()));
    // Removed for good: n1's watch sees it go.
    let r = send(
        &c,
        Method::DELETE,
        &format!("{PODS}/u1"),
        json!({"gracePeriodSeconds": 0}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(next_event(&mut n1).await, ("DELETED", "u1".to_string()));
    let listed = get(&c, &format!("{PODS}?fieldSelector=spec.nodeName%3Dn1"), None)
        .await
        .json();
    assert_eq!(names(&listed), ["a1", "a2", "a3"]);
}
