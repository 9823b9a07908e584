//! kube-apiserver flags that change what the server publishes or how it works, end to end with
//! kubectl: `--kubernetes-service-node-port`, `--external-hostname`, `--disabled-metrics`,
//! `--delete-collection-workers`, `--feature-gates` as kube-apiserver 1.33.13 takes it, and flags
//! refused at startup rather than ignored.

mod common;

use common::TestServer;
use serde_json::Value;

const K: &str = "1.33";

fn json_of(s: &TestServer, args: &[&str]) -> Value {
    serde_json::from_str(&s.kubectl_ok(K, args)).expect("kubectl printed JSON")
}

#[test]
fn published_addresses_metrics_and_the_kubernetes_service_follow_the_flags() {
    let s = TestServer::start_with(&[
        "--kubernetes-service-node-port=30443",
        "--external-hostname=api.example.test",
        "--disabled-metrics=apiserver_request_total,apiserver_storage_objects",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    ]);
    // The kubernetes Service is a NodePort Service on that port (upstream's createPortAndServiceSpec).
    let svc = json_of(&s, &["get", "service", "kubernetes", "-n", "default", "-o", "json"]);
    assert_eq!(svc["spec"]["type"], "NodePort", "{svc}");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30443, "{svc}");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443, "{svc}");
    // Discovery and the service-account issuer's metadata name the external host.
    let api = json_of(&s, &["get", "--raw", "/api"]);
    let want = format!("api.example.test:{}", s.port());
    assert_eq!(
        api["serverAddressByClientCIDRs"][0]["serverAddress"],
        want.as_str(),
        "{api}"
    );
    let oidc = json_of(&s, &["get", "--raw", "/.well-known/openid-configuration"]);
    assert_eq!(
        oidc["jwks_uri"],
        format!("https://{want}/openid/v1/jwks").as_str(),
        "{oidc}"
    );
    // Disabled metric families are gone, the rest stays.
    s.kubectl_ok(K, &["get", "namespaces"]);
    let metrics = s.kubectl_ok(K, &["get", "--raw", "/metrics"]);
    assert!(!metrics.contains("apiserver_request_total"), "{metrics}");
    assert!(!metrics.contains("apiserver_storage_objects"), "{metrics}");
    assert!(
        metrics.contains("# TYPE apiserver_request_duration_seconds histogram"),
        "{metrics}"
    );

    // Restarted without the node port, the same data's kubernetes Service goes back to ClusterIP.
    let data = s.data_dir();
    drop(s);
    let s = TestServer::builder().data_dir(data).start();
    let svc = json_of(&s, &["get", "service", "kubernetes", "-n", "default", "-o", "json"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP", "{svc}");
    assert!(svc["spec"]["ports"][0].get("nodePort").is_none(), "{svc}");
}

#[test]
fn delete_collection_runs_with_several_workers() {
    let s = TestServer::start_with(&["--delete-collection-workers=4"]);
    s.kubectl_ok(K, &["create", "namespace", "dc"]);
    for i in 0..23 {
        s.kubectl_ok(
            K,
            &[
                "create",
                "configmap",
                &format!("c{i}"),
                "-n",
                "dc",
                "--from-literal=k=v",
            ],
        );
    }
    // One DELETE of the collection (kubectl delete --all issues per-object deletes).
    let (cert, key) = s.admin_cert();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let (code, body) = s.curl_status(
        &["-X", "DELETE", "--cert", &cert, "--key", &key],
        "/api/v1/namespaces/dc/configmaps",
    );
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(23), "{body}");
    let left = json_of(&s, &["get", "configmaps", "-n", "dc", "-o", "json"]);
    let names: Vec<&str> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    assert!(names.is_empty(), "left after the collection delete: {names:?}");
}

#[test]
fn unimplemented_flags_stop_the_server_naming_them() {
    let err = TestServer::builder()
        .args(["--watch-cache=false", "--vmodule=storage=4"])
        .start_fails();
    assert!(err.contains("--watch-cache=false"), "{err}");
    assert!(err.contains("--vmodule=storage=4"), "{err}");
}

/// Gates kube-apiserver 1.33 knows, set to their defaults (as kind and kubeadm configs do), start
/// the server, a GA one with upstream's warning; an unknown gate, a locked one set to the other
/// value, and a gate capstan does not implement set to the other value stop it, with the texts
/// kube-apiserver v1.33.13 printed for the same flags (capstan adds the nearest name).
#[test]
fn feature_gates_at_their_defaults_start_and_others_fail_as_upstream() {
    let s = TestServer::start_with(&["--feature-gates=SidecarContainers=true,APIResponseCompression=true"]);
    assert_eq!(s.curl_status(&[], "/readyz").0, 200);
    assert!(
        s.log()
            .contains("Setting GA feature gate SidecarContainers=true. It will be removed in a future release."),
        "{}",
        s.log()
    );
    for (gates, want) in [
        ("Foo=true", "--feature-gates=Foo=true: unrecognized feature gate: Foo"),
        (
            "kube:SidecarContainer=true",
            "unrecognized feature gate: SidecarContainer (did you mean SidecarContainers?)",
        ),
        (
            "SidecarContainers=false",
            "cannot set feature gate SidecarContainers to false, feature is locked to true",
        ),
        (
            "APIResponseCompression=false",
            "--feature-gates=APIResponseCompression=false: capstan does not implement the feature gate APIResponseCompression=false (it acts on PodTopologyLabelsAdmission,",
        ),
    ] {
        let out = TestServer::builder()
            .arg(format!("--feature-gates={gates}"))
            .start_fails();
        assert!(out.contains(want), "--feature-gates={gates}: want {want:?} in:\n{out}");
    }
}
