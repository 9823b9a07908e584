//! Patches end to end: client-side `kubectl apply` (strategic merge patch), server-side apply
//! with conflicts and `--force-conflicts`, `kubectl patch --type strategic`, `set image`,
//! `edit`, and kube-rs `Patch::Apply`, against a real server.

mod common;

use common::TestServer;
use serde_json::{json, Value};

/// kubectl versions these scenarios run with.
const VERSIONS: &[&str] = &["1.27", "1.30", "1.33"];

fn ns_for(prefix: &str, version: &str) -> String {
    format!("{prefix}{}", version.replace('.', ""))
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("kubectl output is not JSON ({e}):\n{out}"))
}

fn create_ns(s: &TestServer, v: &str, ns: &str) {
    let f = s.write_file(
        &format!("ns-{ns}.yaml"),
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    );
    s.kubectl_ok(v, &["create", "-f", f.to_str().expect("utf-8 path")]);
}

fn deployment(ns: &str, replicas: u32, labels: &[(&str, &str)], containers: &[(&str, &str)]) -> String {
    let mut m =
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\n  labels:\n");
    for (k, v) in labels {
        m.push_str(&format!("    {k}: {v}\n"));
    }
    m.push_str(&format!(
        "spec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n"
    ));
    for (name, image) in containers {
        m.push_str(&format!("      - name: {name}\n        image: {image}\n"));
    }
    m
}

fn get_json(s: &TestServer, v: &str, ns: &str, what: &str) -> Value {
    json_of(&s.kubectl_ok(v, &["get", what, "-n", ns, "-o", "json", "--show-managed-fields"]))
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or("").to_string(),
                        e["operation"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn client_side_apply_removes_dropped_label() {
    let s = TestServer::start();
    for v in VERSIONS {
        let ns = ns_for("csa", v);
        create_ns(&s, v, &ns);
        let f = s.write_file(
            &format!("d1-{ns}.yaml"),
            &deployment(&ns, 1, &[("app", "web"), ("tier", "front")], &[("nginx", "nginx:1.25")]),
        );
        let out = s.kubectl_ok(v, &["apply", "-f", f.to_str().unwrap()]);
        assert_eq!(out.trim(), "deployment.apps/web created", "kubectl {v}");
        let d = get_json(&s, v, &ns, "deployment/web");
        assert_eq!(d["metadata"]["labels"], json!({"app": "web", "tier": "front"}));

        let f = s.write_file(
            &format!("d2-{ns}.yaml"),
            &deployment(&ns, 2, &[("app", "web")], &[("nginx", "nginx:1.26")]),
        );
        let out = s.kubectl_ok(v, &["apply", "-f", f.to_str().unwrap()]);
        assert_eq!(out.trim(), "deployment.apps/web configured", "kubectl {v}");
        let d = get_json(&s, v, &ns, "deployment/web");
        assert_eq!(d["metadata"]["labels"], json!({"app": "web"}), "kubectl {v}");
        assert_eq!(d["spec"]["replicas"], 2, "kubectl {v}");
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
        let last: Value = serde_json::from_str(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .expect("last-applied annotation"),
        )
        .expect("last-applied is JSON");
        assert_eq!(last["spec"]["replicas"], 2, "kubectl {v}");
        assert_eq!(last["metadata"]["labels"], json!({"app": "web"}), "kubectl {v}");
        // The patch is recorded as an Update by kubectl's manager.
        assert!(
            managers(&d).contains(&("kubectl-client-side-apply".into(), "Update".into())),
            "kubectl {v}: {:?}",
            managers(&d)
        );

        // Re-applying the same manifest changes nothing.
        let out = s.kubectl_ok(v, &["apply", "-f", f.to_str().unwrap()]);
        assert_eq!(out.trim(), "deployment.apps/web unchanged", "kubectl {v}");
    }
}

#[test]
fn server_side_apply_conflicts_and_force() {
    let s = TestServer::start();
    for v in VERSIONS {
        let ns = ns_for("ssa", v);
        create_ns(&s, v, &ns);
        let f = s.write_file(
            &format!("s1-{ns}.yaml"),
            &deployment(&ns, 1, &[("app", "web")], &[("nginx", "nginx:1.25")]),
        );
        let out = s.kubectl_ok(v, &["apply", "--server-side", "-f", f.to_str().unwrap()]);
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied", "kubectl {v}");
        let d = get_json(&s, v, &ns, "deployment/web");
        let mf = &d["metadata"]["managedFields"][0];
        assert_eq!(mf["manager"], "kubectl");
        assert_eq!(mf["operation"], "Apply");
        assert_eq!(mf["fieldsV1"]["f:spec"]["f:replicas"], json!({}));

        // Another manager changing replicas conflicts with "kubectl".
        let f2 = s.write_file(
            &format!("s2-{ns}.yaml"),
            &deployment(&ns, 3, &[("app", "web")], &[("nginx", "nginx:1.25")]),
        );
        let err = s.kubectl_err(
            v,
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                f2.to_str().unwrap(),
            ],
        );
        assert!(
            err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#),
            "kubectl {v}: {err}"
        );
        let out = s.kubectl_ok(
            v,
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "--force-conflicts",
                "-f",
                f2.to_str().unwrap(),
            ],
        );
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied", "kubectl {v}");
        let d = get_json(&s, v, &ns, "deployment/web");
        assert_eq!(d["spec"]["replicas"], 3);
        let entries = d["metadata"]["managedFields"].as_array().unwrap();
        let other = entries.iter().find(|e| e["manager"] == "other").expect("other's entry");
        assert_eq!(other["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
        let kubectl = entries
            .iter()
            .find(|e| e["manager"] == "kubectl")
            .expect("kubectl's entry");
        assert!(kubectl["fieldsV1"]["f:spec"].get("f:replicas").is_none(), "{kubectl}");

        // A non-apply change by kubectl-patch, then a conflicting apply names it with its version.
        s.kubectl_ok(
            v,
            &[
                "patch",
                "deployment/web",
                "-n",
                &ns,
                "--type",
                "merge",
                "-p",
                r#"{"metadata":{"labels":{"app":"changed"}}}"#,
            ],
        );
        let err = s.kubectl_err(
            v,
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                f2.to_str().unwrap(),
            ],
        );
        assert!(
            err.contains(r#"conflict with "kubectl-patch" using apps/v1: .metadata.labels.app"#),
            "kubectl {v}: {err}"
        );
    }
}

#[test]
fn client_side_then_server_side_apply() {
    let s = TestServer::start();
    for v in VERSIONS {
        let ns = ns_for("up", v);
        create_ns(&s, v, &ns);
        let f1 = s.write_file(
            &format!("u1-{ns}.yaml"),
            &deployment(&ns, 1, &[("app", "web")], &[("nginx", "nginx:1.25")]),
        );
        let f2 = s.write_file(
            &format!("u2-{ns}.yaml"),
            &deployment(&ns, 2, &[("app", "web")], &[("nginx", "nginx:1.25")]),
        );
        let f3 = s.write_file(
            &format!("u3-{ns}.yaml"),
            &deployment(&ns, 3, &[("app", "web")], &[("nginx", "nginx:1.26")]),
        );
        s.kubectl_ok(v, &["apply", "-f", f1.to_str().unwrap()]);
        s.kubectl_ok(v, &["apply", "-f", f2.to_str().unwrap()]);
        // Moving to server-side apply takes over the client-side-applied fields without conflicts.
        let out = s.kubectl_ok(v, &["apply", "--server-side", "-f", f3.to_str().unwrap()]);
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied", "kubectl {v}");
        let d = get_json(&s, v, &ns, "deployment/web");
        assert_eq!(d["spec"]["replicas"], 3, "kubectl {v}");
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
        assert!(
            managers(&d).contains(&("kubectl".into(), "Apply".into())),
            "kubectl {v}: {:?}",
            managers(&d)
        );
        let last: Value = serde_json::from_str(
            d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .as_str()
                .expect("last-applied annotation kept"),
        )
        .expect("last-applied is JSON");
        assert_eq!(last["spec"]["replicas"], 3, "kubectl {v}");
    }
}

#[test]
fn strategic_patch_set_image_and_edit() {
    let s = TestServer::start();
    let editor = s.write_file(
        "editor.sh",
        "#!/bin/sh\nsed -i -e 's/replicas: 1$/replicas: 4/' \"$1\"\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for v in VERSIONS {
        let ns = ns_for("smp", v);
        create_ns(&s, v, &ns);
        let f = s.write_file(
            &format!("p-{ns}.yaml"),
            &deployment(&ns, 1, &[("app", "web")], &[("a", "nginx:1.25"), ("b", "busybox:1.36")]),
        );
        s.kubectl_ok(v, &["create", "-f", f.to_str().unwrap()]);

        // Containers merge by name: b changes, a stays.
        s.kubectl_ok(
            v,
            &[
                "patch",
                "deployment/web",
                "-n",
                &ns,
                "--type",
                "strategic",
                "-p",
                r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"busybox:1.37"}]}}}}"#,
            ],
        );
        let d = get_json(&s, v, &ns, "deployment/web");
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().map(Vec::len), Some(2), "kubectl {v}: {cs}");
        assert_eq!(cs[0]["name"], "a");
        assert_eq!(cs[0]["image"], "nginx:1.25");
        assert_eq!(cs[1]["image"], "busybox:1.37");

        // $patch: delete removes one container.
        s.kubectl_ok(
            v,
            &[
                "patch",
                "deployment/web",
                "-n",
                &ns,
                "-p",
                r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","$patch":"delete"}]}}}}"#,
            ],
        );
        let d = get_json(&s, v, &ns, "deployment/web");
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().map(Vec::len), Some(1), "kubectl {v}: {cs}");

        let out = s.kubectl_ok(v, &["set", "image", "deployment/web", "-n", &ns, "a=nginx:1.27"]);
        assert!(out.contains("image updated"), "kubectl {v}: {out}");
        let d = get_json(&s, v, &ns, "deployment/web");
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");

        let mut cmd = s.kubectl_command(v, &["edit", "deployment/web", "-n", &ns]);
        cmd.env("EDITOR", &editor).env("KUBE_EDITOR", &editor);
        let out = cmd.output().expect("run kubectl edit");
        assert!(
            out.status.success(),
            "kubectl {v} edit: {}{}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        );
        let d = get_json(&s, v, &ns, "deployment/web");
        assert_eq!(d["spec"]["replicas"], 4, "kubectl {v}");
        assert!(
            managers(&d).contains(&("kubectl-edit".into(), "Update".into())),
            "kubectl {v}: {:?}",
            managers(&d)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_patch_apply() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};
    let s = TestServer::start();
    let client = s.kube_client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cfg = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "applied"},
        "data": {"a": "1", "b": "2"}
    });
    let cm = api
        .patch("applied", &PatchParams::apply("my-manager"), &Patch::Apply(&cfg))
        .await
        .expect("apply creates");
    let mf = cm.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("my-manager"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    assert_eq!(
        mf[0].fields_v1.as_ref().map(|f| f.0.clone()),
        Some(json!({"f:data": {"f:a": {}, "f:b": {}}}))
    );

    // Dropping b from the applied config removes it.
    let cfg2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}});
    let cm = api
        .patch("applied", &PatchParams::apply("my-manager"), &Patch::Apply(&cfg2))
        .await
        .expect("re-apply");
    assert_eq!(
        cm.data.unwrap_or_default().into_iter().collect::<Vec<_>>(),
        vec![("a".to_string(), "1".to_string())]
    );

    // A second manager changing a conflicts (409 with causes), unless forced.
    let cfg3 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "9"}});
    let err = api
        .patch("applied", &PatchParams::apply("second"), &Patch::Apply(&cfg3))
        .await
        .expect_err("conflict");
    match err {
        kube::Error::Api(e) => {
            assert_eq!(e.code, 409);
            assert_eq!(e.reason, "Conflict");
            assert_eq!(
                e.message,
                r#"Apply failed with 1 conflict: conflict with "my-manager": .data.a"#
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    let cm = api
        .patch("applied", &PatchParams::apply("second").force(), &Patch::Apply(&cfg3))
        .await
        .expect("forced apply");
    assert_eq!(cm.data.unwrap_or_default().get("a").map(String::as_str), Some("9"));

    // Dry run does not persist.
    let cfg4 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}, "data": {"x": "1"}});
    let mut pp = PatchParams::apply("my-manager");
    pp.dry_run = true;
    api.patch("dry", &pp, &Patch::Apply(&cfg4))
        .await
        .expect("dry-run apply");
    assert!(api.get_opt("dry").await.expect("get").is_none());

    // Apply requires a field manager.
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/applied")
        .header("content-type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&cfg3).unwrap())
        .unwrap();
    let text = client.request_text(req).await.expect_err("no fieldManager");
    match text {
        kube::Error::Api(e) => {
            assert_eq!(e.code, 422);
            assert_eq!(
                e.message,
                r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
}
