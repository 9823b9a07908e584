//! Raw HTTP against a real server through kube-rs' transport: status codes, content types,
//! negotiation and the non-resource endpoints.

mod common;

use common::http::{get, raw};
use common::TestServer;
use http::{Method, StatusCode};
use serde_json::{json, Value};

const CM_PATH: &str = "/api/v1/namespaces/default/configmaps";

fn cm_json(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": "v"}
    }))
    .expect("json")
}

#[tokio::test]
async fn version_and_health() {
    let server = TestServer::start();
    let c = server.kube_client().await;

    let r = get(&c, "/version", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["major"], "1", "{v}");
    assert_eq!(v["minor"], "33", "{v}");
    assert!(v["gitVersion"].as_str().is_some_and(|s| s.starts_with("v1.33.")), "{v}");
    assert_eq!(
        (&v["emulationMinor"], &v["minCompatibilityMinor"]),
        (&json!("33"), &json!("32")),
        "{v}"
    );
    // The real build: commit and tree state of this checkout, the date of the build.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(v["gitCommit"], head.as_str(), "{v}");
        assert!(matches!(v["gitTreeState"].as_str(), Some("clean" | "dirty")), "{v}");
    }
    let built = capstan::util::parse_rfc3339(v["buildDate"].as_str().unwrap_or("")).expect("buildDate");
    let age = std::time::SystemTime::now().duration_since(built).unwrap_or_default();
    assert!(age < std::time::Duration::from_secs(365 * 86_400), "buildDate {v}");
    // kubectl shows what the server reports.
    let kv: Value = serde_json::from_str(&server.kubectl_ok("1.33", &["version", "-o", "json"])).expect("json");
    assert_eq!(kv["serverVersion"]["gitCommit"], v["gitCommit"]);
    assert_eq!(kv["serverVersion"]["buildDate"], v["buildDate"]);

    let r = get(&c, "/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "ok");

    let r = get(&c, "/livez?verbose", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t = r.text();
    assert!(t.contains("[+]ping ok"), "{t}");
    assert!(t.contains("livez check passed"), "{t}");

    let r = get(&c, "/readyz?verbose", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("readyz check passed"), "{}", r.text());

    let r = get(&c, "/readyz/ping", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "ok");
}

const ACCEPT_127: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const ACCEPT_133: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[tokio::test]
async fn discovery_negotiation() {
    let server = TestServer::start();
    let c = server.kube_client().await;

    for root in ["/api", "/apis"] {
        // kubectl 1.27 asks for v2beta1 first, which 1.33 no longer serves: the legacy document.
        let r = get(&c, root, Some(ACCEPT_127)).await;
        assert_eq!(r.status, StatusCode::OK, "{root}: {}", r.text());
        assert_eq!(r.content_type(), "application/json", "{root} with kubectl 1.27 Accept");
        let want = if root == "/api" { "APIVersions" } else { "APIGroupList" };
        assert_eq!(r.json()["kind"], want, "{root}");
        let r = get(
            &c,
            root,
            Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE, "{root}: {}", r.text());

        let r = get(&c, root, Some(ACCEPT_133)).await;
        assert_eq!(r.status, StatusCode::OK, "{root}: {}", r.text());
        assert_eq!(
            r.content_type(),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            "{root} with kubectl 1.33 Accept"
        );
        // Upstream's ETag: the SHA-512 of the document, upper-case hex; a match is 304.
        let etag = r.headers["etag"].to_str().unwrap().to_string();
        assert!(etag.len() == 130 && etag.starts_with('"'), "{etag}");
        let again = raw(
            &c,
            Method::GET,
            root,
            &[("Accept", ACCEPT_133), ("If-None-Match", &etag)],
            Vec::new(),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        let v = r.json();
        assert_eq!(v["kind"], "APIGroupDiscoveryList", "{root}");
        assert_eq!(v["apiVersion"], "apidiscovery.k8s.io/v2", "{root}");
        let items = v["items"].as_array().expect("items");
        assert!(!items.is_empty(), "{root}: no groups");
    }

    // responseKind as a v1.33 server has it: group and version empty when they are the
    // resource's own; subresources answering in another group name it.
    let apis = get(&c, "/apis", Some(ACCEPT_133)).await.json();
    let core = get(&c, "/api", Some(ACCEPT_133)).await.json();
    let resource = |doc: &Value, group: &str, version: &str, plural: &str| -> Value {
        let g = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"].as_str().unwrap_or("") == group)
            .unwrap_or_else(|| panic!("group {group:?}"))
            .clone();
        let v = g["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == version)
            .unwrap()
            .clone();
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == plural)
            .unwrap()
            .clone()
    };
    let sub = |r: &Value, name: &str| -> Value {
        r["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == name)
            .unwrap()["responseKind"]
            .clone()
    };
    let pods = resource(&core, "", "v1", "pods");
    assert_eq!(pods["responseKind"], json!({"group": "", "version": "", "kind": "Pod"}));
    assert_eq!(sub(&pods, "status"), json!({"group": "", "version": "", "kind": "Pod"}));
    assert_eq!(
        sub(&pods, "eviction"),
        json!({"group": "policy", "version": "v1", "kind": "Eviction"})
    );
    let deployments = resource(&apis, "apps", "v1", "deployments");
    assert_eq!(
        deployments["responseKind"],
        json!({"group": "", "version": "", "kind": "Deployment"})
    );
    assert_eq!(
        sub(&deployments, "scale"),
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    let hpa = resource(&apis, "autoscaling", "v2", "horizontalpodautoscalers");
    assert_eq!(
        hpa["responseKind"],
        json!({"group": "", "version": "", "kind": "HorizontalPodAutoscaler"})
    );

    // The legacy (unaggregated) documents for a plain JSON client.
    let v = get(&c, "/api", Some("application/json")).await.json();
    assert_eq!(v["kind"], "APIVersions", "{v}");
    assert_eq!(v["versions"], json!(["v1"]), "{v}");
    let v = get(&c, "/apis", Some("application/json")).await.json();
    assert_eq!(v["kind"], "APIGroupList", "{v}");
    let groups: Vec<&str> = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for g in [
        "apps",
        "batch",
        "coordination.k8s.io",
        "networking.k8s.io",
        "apiextensions.k8s.io",
    ] {
        assert!(groups.contains(&g), "group {g} missing from /apis: {groups:?}");
    }
    let v = get(&c, "/api/v1", None).await.json();
    assert_eq!(v["kind"], "APIResourceList", "{v}");
    assert_eq!(v["groupVersion"], "v1", "{v}");
    assert!(
        v.get("apiVersion").is_none(),
        "upstream's /api/v1 has no apiVersion: {v}"
    );
    let v = get(&c, "/apis/apps/v1", None).await.json();
    assert_eq!(v["apiVersion"], "v1", "{v}");
}

#[tokio::test]
async fn table_and_yaml_output() {
    let server = TestServer::start();
    let c = server.kube_client().await;
    let r = raw(
        &c,
        Method::POST,
        CM_PATH,
        &[("Content-Type", "application/json")],
        cm_json("t1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    let table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let r = get(&c, CM_PATH, Some(table_accept)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["kind"], "Table", "{v}");
    assert_eq!(v["apiVersion"], "meta.k8s.io/v1", "{v}");
    let cols: Vec<&str> = v["columnDefinitions"]
        .as_array()
        .expect("columnDefinitions")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(cols, vec!["Name", "Data", "Age"], "configmap table columns");
    let rows = v["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r["cells"][0] == "t1"),
        "row for t1 missing: {rows:?}"
    );

    // YAML out.
    let r = get(&c, &format!("{CM_PATH}/t1"), Some("application/yaml")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.content_type().starts_with("application/yaml"), "{}", r.content_type());
    let t = r.text();
    assert!(t.contains("apiVersion: v1\n"), "{t}");
    assert!(t.contains("kind: ConfigMap\n"), "{t}");
    assert!(t.contains("  name: t1\n"), "{t}");
    assert!(
        serde_json::from_slice::<Value>(&r.body).is_err(),
        "YAML expected, got JSON: {t}"
    );

    // YAML in.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  answer: \"42\"\n";
    let r = raw(
        &c,
        Method::POST,
        CM_PATH,
        &[("Content-Type", "application/yaml")],
        yaml.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metadata"]["name"], "from-yaml");
    assert_eq!(v["data"]["answer"], "42");
    let v = get(&c, &format!("{CM_PATH}/from-yaml"), None).await.json();
    assert_eq!(v["data"]["answer"], "42", "{v}");
}

#[tokio::test]
async fn request_errors() {
    let server = TestServer::start();
    let c = server.kube_client().await;
    let ct_json = [("Content-Type", "application/json")];

    // Malformed JSON.
    let r = raw(
        &c,
        Method::POST,
        CM_PATH,
        &ct_json,
        b"{\"apiVersion\": \"v1\", \"kind\": ".to_vec(),
    )
    .await;
    r.expect_status(400, "BadRequest");

    // Wrong apiVersion in the body.
    let body = serde_json::to_vec(&json!({
        "apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "wrong"}
    }))
    .expect("json");
    let r = raw(&c, Method::POST, CM_PATH, &ct_json, body).await;
    r.expect_status(400, "BadRequest");
    let r = get(&c, &format!("{CM_PATH}/wrong"), None).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "object with wrong apiVersion was stored"
    );

    // A body over the 3 MiB limit.
    let big = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"blob": "x".repeat(3 * 1024 * 1024 + 1024)}
    });
    let r = raw(
        &c,
        Method::POST,
        CM_PATH,
        &ct_json,
        serde_json::to_vec(&big).expect("json"),
    )
    .await;
    r.expect_status(413, "RequestEntityTooLarge");

    // Protobuf only on a list: served in protobuf (tests/protobuf.rs covers the encodings);
    // an Accept that names nothing we serve is 406.
    let r = get(&c, CM_PATH, Some("application/vnd.kubernetes.protobuf")).await;
    assert_eq!(r.content_type(), "application/vnd.kubernetes.protobuf");
    let r = get(&c, CM_PATH, Some("application/cbor")).await;
    r.expect_status(406, "NotAcceptable");

    // Unknown resource.
    let r = get(&c, "/api/v1/namespaces/default/foos", None).await;
    r.expect_status(404, "NotFound");
    let r = get(&c, "/apis/example.com/v1/widgets", None).await;
    r.expect_status(404, "NotFound");

    // Strategic merge patch on a built-in kind merges (upstream); an unknown patch type is 415.
    let r = raw(&c, Method::POST, CM_PATH, &ct_json, cm_json("p1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = raw(
        &c,
        Method::PATCH,
        &format!("{CM_PATH}/p1"),
        &[("Content-Type", "application/strategic-merge-patch+json")],
        br#"{"data":{"extra":"x"}}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "strategic merge patch: {}", r.text());
    assert_eq!(
        r.json()["data"],
        json!({"k": "v", "extra": "x"}),
        "strategic merge patch result"
    );
    let r = raw(
        &c,
        Method::PATCH,
        &format!("{CM_PATH}/p1"),
        &[("Content-Type", "application/foo-patch+json")],
        br#"{"data":{"k":"w"}}"#.to_vec(),
    )
    .await;
    r.expect_status(415, "UnsupportedMediaType");

    // Merge patch works.
    let r = raw(
        &c,
        Method::PATCH,
        &format!("{CM_PATH}/p1"),
        &[("Content-Type", "application/merge-patch+json")],
        br#"{"data":{"k":"w"}}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["data"]["k"], "w");

    // Unsupported request body media type.
    let r = raw(
        &c,
        Method::POST,
        CM_PATH,
        &[("Content-Type", "text/plain")],
        cm_json("p2"),
    )
    .await;
    r.expect_status(415, "UnsupportedMediaType");

    // Missing object: NotFound with details.
    let r = get(&c, &format!("{CM_PATH}/missing"), None).await;
    let v = r.expect_status(404, "NotFound");
    assert_eq!(v["message"], "configmaps \"missing\" not found", "{v}");
    assert_eq!(v["details"]["name"], "missing", "{v}");
    assert_eq!(v["details"]["kind"], "configmaps", "{v}");
}
