//! Protobuf on the wire and in etcd, end to end: a real client-go (v0.33) program
//! (`tests/clients/go`) that talks protobuf the way kubelet and the controllers do, content
//! negotiation through raw HTTP, and the values Capstan leaves in etcd.

mod common;

use common::http::{get, raw};
use common::{TestEtcd, TestServer};
use http::Method;
use std::process::Command;

const PB: &str = "application/vnd.kubernetes.protobuf";

/// client-go with `ContentType: application/vnd.kubernetes.protobuf` (the default of kubelet,
/// kube-scheduler, kube-controller-manager): create, list, watch frames, update, delete,
/// NotFound as a protobuf Status, a protobuf-only Accept, the metadata client — and every
/// response it got was protobuf. On etcd, so the stored values are protobuf too.
#[test]
fn client_go_speaks_protobuf() {
    let Some(client) = common::go::program("protobuf") else {
        return;
    };
    let etcd = TestEtcd::start();
    let server = TestServer::start_on_etcd(&etcd, &[]);
    let out = Command::new(&client)
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(["--namespace", "default"])
        .output()
        .expect("run the client-go program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("PASS"),
        "client-go program failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(stdout.contains("ok watch MODIFIED:2,DELETED:2"), "{stdout}");
}

/// Negotiation as upstream: protobuf alone or first for built-ins; custom resources get JSON
/// when JSON is acceptable and 406 when not; watches stream `;stream=watch` frames; errors are
/// protobuf Status when protobuf was negotiated; Table stays JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation() {
    let server = TestServer::start();
    let c = server.kube_client().await;
    let r = get(&c, "/api/v1/namespaces/default", Some(PB)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), PB);
    let ns = capstan::protobuf::decode(&r.body).expect("a protobuf Namespace");
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "default");
    // A list, and the same list in JSON decodes to the same items.
    let r = get(&c, "/api/v1/namespaces", Some(&format!("{PB}, application/json"))).await;
    assert_eq!(r.content_type(), PB);
    let list = capstan::protobuf::decode(&r.body).unwrap();
    assert_eq!(list["kind"], "NamespaceList");
    let mut json = get(&c, "/api/v1/namespaces", None).await.json();
    // Items in a protobuf list carry no TypeMeta.
    for i in json["items"].as_array_mut().unwrap() {
        let o = i.as_object_mut().unwrap();
        o.remove("apiVersion");
        o.remove("kind");
    }
    assert_eq!(list["items"], json["items"]);
    // Errors: a protobuf Status.
    let r = get(&c, "/api/v1/namespaces/default/configmaps/missing", Some(PB)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), PB);
    let st = capstan::protobuf::decode(&r.body).unwrap();
    assert_eq!(
        (st["kind"].as_str(), st["reason"].as_str(), st["code"].as_i64()),
        (Some("Status"), Some("NotFound"), Some(404))
    );
    // Discovery documents in protobuf (upstream serves all four kinds so); /version is JSON
    // only: a protobuf-only Accept gets 406 with a protobuf Status, as upstream.
    for (path, kind) in [
        ("/api", "APIVersions"),
        ("/apis", "APIGroupList"),
        ("/apis/apps", "APIGroup"),
        ("/api/v1", "APIResourceList"),
        ("/apis/apps/v1", "APIResourceList"),
    ] {
        let r = get(&c, path, Some(PB)).await;
        assert_eq!((r.status.as_u16(), r.content_type()), (200, PB.to_string()), "{path}");
        let doc = capstan::protobuf::decode(&r.body).expect("a protobuf discovery document");
        let json = get(&c, path, None).await.json();
        assert_eq!(doc["kind"], kind, "{path}");
        assert_eq!(doc, json, "{path}: protobuf and JSON documents differ");
    }
    let r = get(&c, "/version", Some(PB)).await;
    assert_eq!((r.status.as_u16(), r.content_type()), (406, PB.to_string()));
    assert_eq!(capstan::protobuf::decode(&r.body).unwrap()["reason"], "NotAcceptable");
    let r = get(&c, "/version", Some(&format!("{PB}, */*"))).await;
    assert_eq!(
        (r.status.as_u16(), r.content_type()),
        (200, "application/json".to_string())
    );
    // Table stays JSON even when protobuf is listed first.
    let table =
        "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1,application/json;as=Table;g=meta.k8s.io;v=v1";
    let r = get(&c, "/api/v1/namespaces", Some(table)).await;
    assert_eq!(r.json()["kind"], "Table");
    // PartialObjectMetadataList in protobuf.
    let meta = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
    let r = get(&c, "/api/v1/namespaces", Some(meta)).await;
    assert_eq!(r.content_type(), PB);
    assert_eq!(
        capstan::protobuf::decode(&r.body).unwrap()["kind"],
        "PartialObjectMetadataList"
    );
    // A protobuf POST answered in protobuf.
    let body = capstan::protobuf::encode(&serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pb", "namespace": "default"}, "data": {"k": "v"},
    }))
    .unwrap();
    let r = raw(
        &c,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        &[("Content-Type", PB), ("Accept", PB)],
        body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = capstan::protobuf::decode(&r.body).unwrap();
    assert_eq!(created["data"]["k"], "v");
    // A watch: length-prefixed WatchEvent frames.
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let rv_before: i64 = rv.parse::<i64>().unwrap() - 1;
    let r = get(
        &c,
        &format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv_before}&timeoutSeconds=1&fieldSelector=metadata.name%3Dpb"),
        Some(PB),
    )
    .await;
    assert_eq!(r.content_type(), "application/vnd.kubernetes.protobuf;stream=watch");
    let n = u32::from_be_bytes(r.body[..4].try_into().unwrap()) as usize;
    let ev =
        capstan::protobuf::decode_message_json("io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent", &r.body[4..4 + n])
            .unwrap();
    assert_eq!(ev["type"], "ADDED");
    // Custom resources: JSON when acceptable, else 406.
    let crd = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    let r = raw(
        &c,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[("Content-Type", PB), ("Accept", PB)],
        capstan::protobuf::encode(&crd).unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let path = "/apis/example.com/v1/namespaces/default/gizmos";
    common::eventually_async(
        "the custom resource is served",
        std::time::Duration::from_secs(20),
        || async { get(&c, path, None).await.status == 200 },
    )
    .await;
    let r = get(&c, path, Some(&format!("{PB}, application/json"))).await;
    assert_eq!(
        (r.status.as_u16(), r.content_type().as_str()),
        (200, "application/json")
    );
    get(&c, path, Some(PB)).await.expect_status(406, "NotAcceptable");
}

/// Built-in kinds are stored in etcd as upstream stores them (`k8s\0` protobuf), custom
/// resources and CRDs as JSON (CRDs in their v1beta1 storage version); `--storage-media-type=
/// application/json` stores JSON; values of either encoding are read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_values_are_upstreams() {
    let etcd = TestEtcd::start();
    let server = TestServer::start_on_etcd(&etcd, &[]);
    let c = server.kube_client().await;
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
    let r = raw(
        &c,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        &[("Content-Type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut kv = etcd.client(&[0]).await;
    let stored = kv.get("/registry/configmaps/default/a", None).await.unwrap();
    let value = stored.kvs()[0].value().to_vec();
    assert!(value.starts_with(b"k8s\0"), "{}", String::from_utf8_lossy(&value));
    let v = capstan::protobuf::decode(&value).unwrap();
    assert_eq!(v["data"]["k"], "v");
    assert!(v["metadata"].get("resourceVersion").is_none());
    let ranges = kv.get("/registry/ranges/serviceips", None).await.unwrap();
    assert!(ranges.kvs()[0].value().starts_with(b"k8s\0"));
    // A JSON value an earlier Capstan wrote is still read.
    let old = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "default", "uid": "0b1f7d8c-0000-4000-8000-000000000001", "creationTimestamp": "2024-01-01T00:00:00Z"}, "data": {"x": "y"}});
    kv.put(
        "/registry/configmaps/default/old",
        serde_json::to_vec(&old).unwrap(),
        None,
    )
    .await
    .unwrap();
    common::eventually_async(
        "the JSON value is served",
        std::time::Duration::from_secs(10),
        || async { get(&c, "/api/v1/namespaces/default/configmaps/old", None).await.status == 200 },
    )
    .await;
    drop(server);
    let json = TestServer::start_on_etcd(&etcd, &["--storage-media-type=application/json"]);
    let c = json.kube_client().await;
    let r = raw(
        &c,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        &[("Content-Type", "application/json")],
        serde_json::to_vec(&serde_json::json!({"metadata": {"name": "j"}})).unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let stored = kv.get("/registry/configmaps/default/j", None).await.unwrap();
    assert!(stored.kvs()[0].value().starts_with(b"{"));
    assert_eq!(
        get(&c, "/api/v1/namespaces/default/configmaps/a", None).await.json()["data"]["k"],
        "v"
    );
}
