//! Mutating/ValidatingWebhookConfigurations: upstream's defaults and write-time validation
//! through kubectl 1.33 and raw JSON. Every expected text and object in `tests/fixtures/webhooks`
//! (`*.upstream.*`) was taken from upstream kube-apiserver v1.33.13 started with the same flags
//! on the same fixtures.

mod common;

use common::TestServer;
use serde_json::{json, Value};
use std::path::PathBuf;

const V: &str = "1.33";

fn fixture(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "webhooks", name]
        .iter()
        .collect();
    p.to_str().expect("utf-8 path").to_string()
}

/// Upstream's text with the one known deviation applied: after recovering from the first
/// syntax error, the Rust ANTLR runtime of the `cel` crate reports the whole follow set where
/// cel-go's reports only `']'` (the first error, and "compilation failed", are the same).
fn read(name: &str) -> String {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    text.replace(
        "mismatched input 'expression' expecting ']'",
        "mismatched input 'expression' expecting {'==', '!=', 'in', '<', '<=', '>=', '>', '&&', '||', '[', ']', '.', '-', '?', '+', '*', '/', '%'}",
    )
}

#[test]
fn invalid_configurations_are_refused_as_upstream() {
    let s = TestServer::start();
    let file = fixture("bad.yaml");
    let (ok, _, err) = s.kubectl_run(V, &["create", "-f", &file]);
    assert!(!ok);
    let expected = read("bad.upstream.txt").replace("{file}", &file);
    assert_eq!(err.trim(), expected.trim());

    // The raw 422 of a matchCondition that does not compile (upstream's e2e "should reject
    // mutating webhook configurations with invalid match conditions").
    let body = serde_json::to_string(&yaml_serde::from_str::<Value>(&read("one.yaml")).expect("yaml")).expect("json");
    let (cert, key) = s.admin_cert();
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let (code, out) = s.curl_status(
        &[
            "--cert",
            cert,
            "--key",
            key,
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
        ],
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    );
    assert_eq!(code, 422, "{out}");
    let want: Value = serde_json::from_str(&read("one.upstream.json")).expect("json");
    assert_eq!(serde_json::from_str::<Value>(&out).expect("status"), want);
}

#[test]
fn defaults_updates_and_admission_with_defaulted_hooks() {
    let s = TestServer::start();
    s.kubectl_ok(V, &["create", "-f", &fixture("minimal.yaml")]);
    let out = s.kubectl_ok(
        V,
        &[
            "get",
            "mutatingwebhookconfiguration,validatingwebhookconfiguration",
            "minimal",
            "-o",
            "json",
        ],
    );
    let list: Value = serde_json::from_str(&out).expect("json");
    let got: serde_json::Map<String, Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (i["kind"].as_str().unwrap_or("").to_string(), i["webhooks"].clone()))
        .collect();
    let want: Value = serde_json::from_str(&read("minimal.upstream.json")).expect("json");
    assert_eq!(Value::Object(got), want);

    // An update that keeps valid fields passes; a new matchCondition that does not compile is
    // refused on update too.
    let patch = |p: Value| {
        s.kubectl_run(
            V,
            &[
                "patch",
                "validatingwebhookconfiguration",
                "minimal",
                "--type=json",
                "-p",
                &p.to_string(),
            ],
        )
    };
    let (ok, _, err) = patch(json!([{"op": "replace", "path": "/webhooks/0/timeoutSeconds", "value": 5}]));
    assert!(ok, "{err}");
    let (ok, _, err) = patch(json!([{"op": "add", "path": "/webhooks/0/matchConditions",
        "value": [{"name": "c", "expression": "object.x +"}]}]));
    assert!(!ok);
    assert!(
        err.contains("webhooks[0].matchConditions[0].expression: Invalid value: \"object.x +\": compilation failed: ERROR: <input>:1:11: Syntax error:"),
        "{err}"
    );
    let (ok, _, err) = patch(json!([{"op": "add", "path": "/webhooks/0/matchConditions",
        "value": [{"name": "c", "expression": "authorizer.requestResource.check('get').allowed()"}]}]));
    assert!(ok, "{err}");

    // The defaulted hooks (failurePolicy Fail, service port 443 of a Service that does not
    // exist) reject ConfigMap creates: admission reads the defaulted objects.
    let (ok, _, err) = s.kubectl_run(V, &["create", "configmap", "cm", "-n", "default"]);
    assert!(!ok);
    assert!(err.contains("failed calling webhook \"m.example.com\""), "{err}");
}
