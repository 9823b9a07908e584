//! Typed values as upstream's decoder leaves them, through the clients that send them in other
//! forms: the official Python client's read-modify-write (it sends times as `…+00:00`), odd but
//! valid times and quantities (stored in upstream's canonical form), and the decode errors of
//! bad ones (400 on create/update, 422 on a patch), each as a v1.33 kube-apiserver answers.

mod common;

use common::http::{get, raw, Resp};
use common::{python, TestServer};
use http::Method;
use serde_json::{json, Value};

async fn send(c: &kube::Client, method: Method, path: &str, ct: &str, body: &Value) -> Resp {
    raw(
        c,
        method,
        path,
        &[("Content-Type", ct)],
        serde_json::to_vec(body).unwrap(),
    )
    .await
}
const JSON: &str = "application/json";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// The Python client reads objects and writes them back whole: `creationTimestamp`,
/// `managedFields[].time` and status times go out as `2026-…+00:00`. Pod, Deployment and
/// ConfigMap updates (and a Pod status update) succeed, and what comes back is in upstream's form.
#[tokio::test]
async fn python_client_read_modify_write() {
    let Some(py) = python::python() else { return };
    let s = TestServer::start();
    let out = python::run_ok(
        &py,
        &s,
        r#"
import json
from kubernetes import client, config
config.load_kube_config()
v1, apps = client.CoreV1Api(), client.AppsV1Api()
ns = "default"
sent = client.ApiClient().sanitize_for_serialization

cm = v1.create_namespaced_config_map(ns, client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="py-cm"), data={"a": "1"}))
cm = v1.read_namespaced_config_map("py-cm", ns)
assert sent(cm)["metadata"]["creationTimestamp"].endswith("+00:00"), sent(cm)["metadata"]
cm.data["b"] = "2"
cm = v1.replace_namespaced_config_map("py-cm", ns, cm)
print("configmap", cm.data["b"], cm.metadata.creationTimestamp if hasattr(cm.metadata, "creationTimestamp") else "")

pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py-pod"), spec=client.V1PodSpec(containers=[
    client.V1Container(name="c", image="busybox",
        resources=client.V1ResourceRequirements(limits={"cpu": "1000m", "memory": "1024Mi"}, requests={"cpu": "0.5"}))]))
pod = v1.create_namespaced_pod(ns, pod)
print("limits", json.dumps(pod.spec.containers[0].resources.limits, sort_keys=True))
print("requests", json.dumps(pod.spec.containers[0].resources.requests, sort_keys=True))
pod = v1.read_namespaced_pod("py-pod", ns)
pod.metadata.labels = {"edited": "yes"}
pod = v1.replace_namespaced_pod("py-pod", ns, pod)
print("pod", pod.metadata.labels["edited"])
pod.status.conditions = [client.V1PodCondition(type="Ready", status="False",
    last_transition_time=pod.metadata.creation_timestamp)]
pod = v1.replace_namespaced_pod_status("py-pod", ns, pod)
print("condition", pod.status.conditions[0].last_transition_time == pod.metadata.creation_timestamp)
pod = v1.read_namespaced_pod("py-pod", ns)
pod.metadata.annotations = {"again": "yes"}
pod = v1.replace_namespaced_pod("py-pod", ns, pod)
print("pod again", pod.metadata.annotations["again"])

dep = client.V1Deployment(metadata=client.V1ObjectMeta(name="py-dep"), spec=client.V1DeploymentSpec(
    replicas=1, selector=client.V1LabelSelector(match_labels={"app": "py"}),
    template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "py"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]))))
apps.create_namespaced_deployment(ns, dep)
dep = apps.read_namespaced_deployment("py-dep", ns)
dep.spec.replicas = 3
dep = apps.replace_namespaced_deployment("py-dep", ns, dep)
print("deployment", dep.spec.replicas, dep.metadata.generation)
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("configmap 2"), "{out}");
    assert_eq!(lines[1], r#"limits {"cpu": "1", "memory": "1Gi"}"#, "{out}");
    assert_eq!(lines[2], r#"requests {"cpu": "500m", "memory": "1Gi"}"#, "{out}");
    assert_eq!(
        &lines[3..],
        ["pod yes", "condition True", "pod again yes", "deployment 3 2"],
        "{out}"
    );

    // Stored in upstream's form: seconds, `Z`.
    let c = s.kube_client().await;
    let pod = get(&c, "/api/v1/namespaces/default/pods/py-pod", None).await.json();
    let t = pod["status"]["conditions"][0]["lastTransitionTime"].as_str().unwrap();
    assert_eq!(t, pod["metadata"]["creationTimestamp"].as_str().unwrap());
    assert!(t.ends_with('Z') && t.len() == 20, "{t}");
}

/// Times in any form Go's parser takes are stored as UTC seconds (`metav1.Time`) or
/// microseconds (`metav1.MicroTime`); an update sending the same instant in another form is no
/// change of an immutable field.
#[tokio::test]
async fn times_are_parsed_compared_and_stored_as_upstream() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let lease = json!({"metadata": {"name": "l"}, "spec": {
        "holderIdentity": "a",
        "renewTime": "2026-12-06T02:26:10.999999-05:30",
        "acquireTime": "2026-12-06T02:26:10,123456+00:00"}});
    let r = send(
        &c,
        Method::POST,
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        JSON,
        &lease,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["spec"]["renewTime"], "2026-12-06T07:56:10.999999Z");
    assert_eq!(v["spec"]["acquireTime"], "2026-12-06T02:26:10.123456Z");

    let r = send(&c, Method::POST, CMS, JSON, &json!({"metadata": {"name": "t"}})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut cm = r.json();
    let created = cm["metadata"]["creationTimestamp"].as_str().unwrap().to_string();
    // The same instant two hours east, with a fraction Go drops.
    let (date, clock) = created.trim_end_matches('Z').split_once('T').unwrap();
    let hour: u32 = clock[..2].parse().unwrap();
    if hour < 22 {
        cm["metadata"]["creationTimestamp"] = json!(format!("{date}T{:02}{}.5+02:00", hour + 2, &clock[2..]));
        cm["data"] = json!({"x": "y"});
        let r = send(&c, Method::PUT, &format!("{CMS}/t"), JSON, &cm).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["metadata"]["creationTimestamp"], created.as_str());
    }
    // A different instant is a change.
    cm = get(&c, &format!("{CMS}/t"), None).await.json();
    cm["metadata"]["creationTimestamp"] = json!("2001-01-01T00:00:00+00:00");
    let r = send(&c, Method::PUT, &format!("{CMS}/t"), JSON, &cm).await;
    let st = r.expect_status(422, "Invalid");
    assert_eq!(
        st["message"],
        "ConfigMap \"t\" is invalid: metadata.creationTimestamp: Invalid value: \"2001-01-01T00:00:00Z\": field is immutable"
    );
}

/// Quantities are stored as upstream re-serialises them (canonical unless the client's text
/// already was; ResourceLists rounded up to milli-units), checked against a v1.33 server.
#[tokio::test]
async fn quantities_are_stored_in_upstreams_form() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    // A single Quantity (not a ResourceList) keeps its nano-units.
    let pod = json!({"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "i"}],
        "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "100u"}}]}});
    let r = send(&c, Method::POST, "/api/v1/namespaces/default/pods", JSON, &pod).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["spec"]["volumes"][0]["emptyDir"]["sizeLimit"], "100u");
    let cases = [
        ("1000m", "1"),
        ("1500m", "1500m"),
        ("1.5", "1500m"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("2000000", "2M"),
        ("1e3", "1e3"),
        ("0.5Ki", "512"),
        ("01", "01"),
        ("100u", "1m"),
        ("12345.6789Mi", "12945382598247m"),
        ("8Ei", "9223372036854775807"),
    ];
    for (i, (q, want)) in cases.iter().enumerate() {
        let rq = json!({"metadata": {"name": format!("q{i}")}, "spec": {"hard": {"requests.cpu": q}}});
        let r = send(&c, Method::POST, "/api/v1/namespaces/default/resourcequotas", JSON, &rq).await;
        assert_eq!(r.status, 201, "{q}: {}", r.text());
        let stored = get(&c, &format!("/api/v1/namespaces/default/resourcequotas/q{i}"), None)
            .await
            .json();
        assert_eq!(stored["spec"]["hard"]["requests.cpu"], *want, "{q}");
    }
}

/// Bad typed values are decode errors with Go's messages: 400 on create and update, 422 on the
/// field `patch` for JSON/merge/strategic patches, the field manager's 500 for apply.
#[tokio::test]
async fn bad_typed_values_are_decode_errors() {
    let s = TestServer::start();
    let c = s.kube_client().await;
    let secrets = "/api/v1/namespaces/default/secrets";
    // Secret data that is not base64: 400, not a 422 from validation.
    let st = send(
        &c,
        Method::POST,
        secrets,
        JSON,
        &json!({"metadata": {"name": "s"}, "data": {"k": "aGVsbG8"}}),
    )
    .await
    .expect_status(400, "BadRequest");
    assert_eq!(
        st["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 4"
    );
    let st = send(
        &c,
        Method::POST,
        secrets,
        JSON,
        &json!({"metadata": {"name": "s"}, "data": {"k": 5}}),
    )
    .await
    .expect_status(400, "BadRequest");
    assert_eq!(
        st["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal number into Go struct field Secret.data of type []uint8"
    );
    // A bad time is reported even after a bad base64 value (Go stops at the time).
    let st = send(
        &c,
        Method::POST,
        secrets,
        JSON,
        &json!({"metadata": {"name": "s", "creationTimestamp": "2026-02-30T00:00:00Z"}, "data": {"k": "!"}}),
    )
    .await
    .expect_status(400, "BadRequest");
    assert_eq!(
        st["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: parsing time \"2026-02-30T00:00:00Z\": day out of range"
    );
    // Base64 is stored canonically (newlines dropped, stray bits cleared).
    let r = send(
        &c,
        Method::POST,
        secrets,
        JSON,
        &json!({"metadata": {"name": "ok"}, "data": {"k": "aGVs\nbG9="}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["data"]["k"], "aGVsbG8=");

    let st = send(
        &c,
        Method::POST,
        "/api/v1/namespaces/default/resourcequotas",
        JSON,
        &json!({"metadata": {"name": "q"}, "spec": {"hard": {"cpu": "1K"}}}),
    )
    .await
    .expect_status(400, "BadRequest");
    assert_eq!(
        st["message"],
        "ResourceQuota in version \"v1\" cannot be handled as a ResourceQuota: unable to parse quantity's suffix"
    );
    let st = send(
        &c,
        Method::POST,
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        JSON,
        &json!({"metadata": {"name": "l"}, "spec": {"renewTime": "2026-12-06T02:26:10Z"}}),
    )
    .await
    .expect_status(400, "BadRequest");
    assert_eq!(
        st["message"],
        "Lease in version \"v1\" cannot be handled as a Lease: parsing time \"2026-12-06T02:26:10Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""
    );

    let r = send(&c, Method::POST, CMS, JSON, &json!({"metadata": {"name": "p"}})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let path = format!("{CMS}/p");
    let patch = json!({"metadata": {"creationTimestamp": "bad"}});
    let st = send(
        &c,
        Method::PATCH,
        &path,
        "application/strategic-merge-patch+json",
        &patch,
    )
    .await
    .expect_status(422, "Invalid");
    assert_eq!(
        st["message"],
        " \"\" is invalid: patch: Invalid value: \"map[metadata:map[creationTimestamp:bad]]\": parsing time \"bad\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"bad\" as \"2006\""
    );
    assert_eq!(st["details"]["causes"][0]["field"], "patch");
    let st = send(
        &c,
        Method::PATCH,
        &path,
        "application/merge-patch+json",
        &json!({"binaryData": {"x": "!!"}}),
    )
    .await
    .expect_status(422, "Invalid");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .ends_with("\": illegal base64 data at input byte 0"),
        "{st}"
    );
    let applied =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p", "creationTimestamp": "bad"}});
    let r = send(
        &c,
        Method::PATCH,
        &format!("{path}?fieldManager=m"),
        "application/apply-patch+yaml",
        &applied,
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "failed to convert new object (/p; /v1, Kind=ConfigMap) to proper version: unable to convert unstructured object to /v1, Kind=ConfigMap: parsing time \"bad\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"bad\" as \"2006\""
    );
}
