//! kubectl workflows, run once per kubectl version found.

use crate::client::{check, Ctx, Kubectl};
use crate::suite::{case, Case};
use anyhow::{Context as _, Result};
use serde_json::{json, Value};

pub fn cases(k: &Kubectl) -> Vec<Case> {
    let n = |s: &str| format!("[sig-cli] Kubectl client [kubectl {}] {s}", k.version);
    let mut v = vec![
        case(
            &n("Kubectl create should create a ConfigMap from a manifest and get it back"),
            create_get,
        ),
        case(
            &n("Kubectl apply should apply a new configuration to an existing object"),
            apply,
        ),
        case(
            &n("Kubectl apply --server-side should apply and record the kubectl field manager"),
            apply_server_side,
        ),
        case(
            &n("Kubectl patch should patch with strategic, merge and json patch types"),
            patch,
        ),
        case(
            &n("Kubectl wait should wait for a condition, a jsonpath value and deletion"),
            wait,
        ),
        case(&n("Kubectl delete should delete by name and by label selector"), delete),
    ];
    for c in &mut v {
        c.kubectl = Some(k.clone());
    }
    v
}

fn cm_yaml(name: &str, data: &[(&str, &str)]) -> String {
    let mut s =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels:\n    app: kubectl-e2e\ndata:\n");
    for (k, v) in data {
        s.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    s
}

async fn get_json(c: &Ctx, what: &str) -> Result<Value> {
    let out = c
        .kubectl_ok(&["get", what, "-o", "json", "--show-managed-fields"], None)
        .await?;
    serde_json::from_str(&out).with_context(|| format!("kubectl get {what} -o json: {out}"))
}

async fn create_get(c: Ctx) -> Result<()> {
    let out = c
        .kubectl_ok(&["create", "-f", "-"], Some(&cm_yaml("kc-create", &[("a", "1")])))
        .await?;
    check(out.contains("configmap/kc-create created"), || {
        format!("create output {out:?}")
    })?;
    let v = get_json(&c, "configmap/kc-create").await?;
    check(v["data"]["a"] == "1", || format!("data {}", v["data"]))?;
    let table = c.kubectl_ok(&["get", "configmaps"], None).await?;
    let header = table.lines().next().unwrap_or("");
    check(
        header.split_whitespace().collect::<Vec<_>>() == ["NAME", "DATA", "AGE"],
        || format!("table {table:?}"),
    )?;
    check(
        table
            .lines()
            .any(|l| l.starts_with("kc-create ") && l.split_whitespace().nth(1) == Some("1")),
        || format!("table {table:?}"),
    )?;
    let name = c
        .kubectl_ok(&["get", "configmap", "kc-create", "-o", "name"], None)
        .await?;
    check(name.trim() == "configmap/kc-create", || format!("-o name {name:?}"))?;
    let again = c
        .kubectl(&["create", "-f", "-"], Some(&cm_yaml("kc-create", &[("a", "1")])))
        .await?;
    check(again.code != 0 && again.stderr.contains("AlreadyExists"), || {
        format!("second create: {}", again.stderr)
    })
}

async fn apply(c: Ctx) -> Result<()> {
    let out = c
        .kubectl_ok(
            &["apply", "-f", "-"],
            Some(&cm_yaml("kc-apply", &[("a", "1"), ("b", "2")])),
        )
        .await?;
    check(out.contains("configmap/kc-apply created"), || {
        format!("apply output {out:?}")
    })?;
    let v = get_json(&c, "configmap/kc-apply").await?;
    check(
        v["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string(),
        || "no last-applied-configuration annotation".into(),
    )?;
    let out = c
        .kubectl_ok(
            &["apply", "-f", "-"],
            Some(&cm_yaml("kc-apply", &[("a", "1"), ("c", "3")])),
        )
        .await?;
    check(out.contains("configmap/kc-apply configured"), || {
        format!("apply output {out:?}")
    })?;
    let v = get_json(&c, "configmap/kc-apply").await?;
    check(v["data"] == json!({"a": "1", "c": "3"}), || {
        format!("3-way merge result {}", v["data"])
    })?;
    let out = c
        .kubectl_ok(
            &["apply", "-f", "-"],
            Some(&cm_yaml("kc-apply", &[("a", "1"), ("c", "3")])),
        )
        .await?;
    check(out.contains("configmap/kc-apply unchanged"), || {
        format!("apply output {out:?}")
    })
}

async fn apply_server_side(c: Ctx) -> Result<()> {
    let out = c
        .kubectl_ok(
            &["apply", "--server-side", "-f", "-"],
            Some(&cm_yaml("kc-ssa", &[("a", "1")])),
        )
        .await?;
    check(out.contains("configmap/kc-ssa serverside-applied"), || {
        format!("output {out:?}")
    })?;
    let out = c
        .kubectl_ok(
            &["apply", "--server-side", "-f", "-"],
            Some(&cm_yaml("kc-ssa", &[("a", "2")])),
        )
        .await?;
    check(out.contains("serverside-applied"), || format!("output {out:?}"))?;
    let v = get_json(&c, "configmap/kc-ssa").await?;
    check(v["data"]["a"] == "2", || format!("data {}", v["data"]))?;
    let mf = v["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    check(
        mf.iter()
            .any(|m| m["manager"] == "kubectl" && m["operation"] == "Apply"),
        || format!("managedFields {mf:?}"),
    )?;
    // Another manager changing the same field conflicts unless forced.
    let out = c
        .kubectl(
            &["apply", "--server-side", "--field-manager", "other", "-f", "-"],
            Some(&cm_yaml("kc-ssa", &[("a", "3")])),
        )
        .await?;
    check(out.code != 0 && out.stderr.contains("conflict"), || {
        format!("expected a conflict: {}", out.stderr)
    })?;
    c.kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "other",
            "-f",
            "-",
        ],
        Some(&cm_yaml("kc-ssa", &[("a", "3")])),
    )
    .await?;
    let v = get_json(&c, "configmap/kc-ssa").await?;
    check(v["data"]["a"] == "3", || format!("forced apply data {}", v["data"]))
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: kc-deploy
  labels:
    app: kc-deploy
spec:
  replicas: 0
  selector:
    matchLabels:
      app: kc-deploy
  template:
    metadata:
      labels:
        app: kc-deploy
    spec:
      containers:
      - name: main
        image: registry.k8s.io/pause:3.9
";

async fn patch(c: Ctx) -> Result<()> {
    c.kubectl_ok(&["create", "-f", "-"], Some(DEPLOYMENT)).await?;
    // Strategic merge: adding a container by merge key keeps the existing one.
    let smp =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"registry.k8s.io/pause:3.9"}]}}}}"#;
    let out = c
        .kubectl_ok(&["patch", "deployment", "kc-deploy", "-p", smp], None)
        .await?;
    check(out.contains("deployment.apps/kc-deploy patched"), || {
        format!("output {out:?}")
    })?;
    let v = get_json(&c, "deployment/kc-deploy").await?;
    let names: Vec<&str> = v["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    check(names.contains(&"main") && names.contains(&"sidecar"), || {
        format!("containers {names:?}")
    })?;
    // Merge patch replaces lists.
    let mp = r#"{"metadata":{"labels":{"patched":"merge"}}}"#;
    c.kubectl_ok(&["patch", "deployment", "kc-deploy", "--type", "merge", "-p", mp], None)
        .await?;
    // JSON patch.
    let jp = r#"[{"op":"replace","path":"/spec/replicas","value":0},{"op":"add","path":"/metadata/annotations","value":{"patched":"json"}}]"#;
    c.kubectl_ok(&["patch", "deployment", "kc-deploy", "--type", "json", "-p", jp], None)
        .await?;
    let v = get_json(&c, "deployment/kc-deploy").await?;
    check(v["metadata"]["labels"]["patched"] == "merge", || {
        format!("labels {}", v["metadata"]["labels"])
    })?;
    check(v["metadata"]["annotations"]["patched"] == "json", || {
        format!("annotations {}", v["metadata"]["annotations"])
    })?;
    let bad = c
        .kubectl(
            &[
                "patch",
                "deployment",
                "kc-deploy",
                "--type",
                "json",
                "-p",
                r#"[{"op":"test","path":"/spec/replicas","value":5}]"#,
            ],
            None,
        )
        .await?;
    check(bad.code != 0, || "failed json-patch test op was accepted".into())
}

async fn wait(c: Ctx) -> Result<()> {
    c.kubectl_ok(&["create", "-f", "-"], Some(DEPLOYMENT)).await?;
    // Without a controller-manager nothing sets conditions: set Available through the status subresource
    // (a real deployment controller sets the same condition for a 0-replica deployment).
    let status = json!({"status": {"observedGeneration": 1, "conditions": [{"type": "Available", "status": "True",
        "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.",
        "lastUpdateTime": "2024-01-01T00:00:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}});
    if !c.env.has_controller_manager {
        let path = format!("{}/kc-deploy/status", c.ns_path("apps", "v1", "deployments"));
        c.patch(&path, "application/merge-patch+json", &status)
            .await?
            .expect(200)?;
    }
    let out = c
        .kubectl_ok(
            &[
                "wait",
                "--for=condition=Available",
                "deployment/kc-deploy",
                "--timeout=30s",
            ],
            None,
        )
        .await?;
    check(out.contains("condition met"), || format!("wait output {out:?}"))?;
    c.kubectl_ok(&["create", "-f", "-"], Some(&cm_yaml("kc-wait", &[("phase", "ready")])))
        .await?;
    let out = c
        .kubectl_ok(
            &[
                "wait",
                "--for=jsonpath={.data.phase}=ready",
                "configmap/kc-wait",
                "--timeout=30s",
            ],
            None,
        )
        .await?;
    check(out.contains("condition met"), || format!("wait output {out:?}"))?;
    c.kubectl_ok(&["delete", "configmap", "kc-wait", "--wait=false"], None)
        .await?;
    c.kubectl_ok(&["wait", "--for=delete", "configmap/kc-wait", "--timeout=30s"], None)
        .await?;
    let timeout = c
        .kubectl(
            &[
                "wait",
                "--for=condition=Progressing",
                "deployment/kc-deploy",
                "--timeout=1s",
            ],
            None,
        )
        .await?;
    check(timeout.code != 0, || "wait for a missing condition succeeded".into())
}

async fn delete(c: Ctx) -> Result<()> {
    for n in ["kc-del-1", "kc-del-2", "kc-del-3"] {
        c.kubectl_ok(&["create", "-f", "-"], Some(&cm_yaml(n, &[("a", "1")])))
            .await?;
    }
    let out = c.kubectl_ok(&["delete", "configmap", "kc-del-1"], None).await?;
    check(out.contains("configmap \"kc-del-1\" deleted"), || {
        format!("delete output {out:?}")
    })?;
    let out = c
        .kubectl_ok(&["delete", "configmaps", "-l", "app=kubectl-e2e"], None)
        .await?;
    check(out.contains("kc-del-2") && out.contains("kc-del-3"), || {
        format!("delete output {out:?}")
    })?;
    let gone = c.kubectl(&["get", "configmap", "kc-del-2"], None).await?;
    check(gone.code != 0 && gone.stderr.contains("NotFound"), || {
        format!("get after delete: {}", gone.stderr)
    })?;
    let missing = c.kubectl(&["delete", "configmap", "kc-del-1"], None).await?;
    check(missing.code != 0 && missing.stderr.contains("not found"), || {
        format!("delete missing: {}", missing.stderr)
    })?;
    let ok = c
        .kubectl_ok(&["delete", "configmap", "kc-del-1", "--ignore-not-found"], None)
        .await?;
    check(ok.trim().is_empty(), || format!("--ignore-not-found output {ok:?}"))
}
