//! Real kubectl binaries (the oldest and newest supported) against a real server.
//! Every scenario runs with each version in [`common::KUBECTL_VERSIONS`], in its own namespace.

mod common;

use common::{TestServer, KUBECTL_VERSIONS};
use serde_json::Value;
use std::time::Duration;

/// A namespace name per kubectl version ("1.27" → "k127").
fn ns_for(version: &str) -> String {
    format!("k{}", version.replace('.', ""))
}

/// Create objects from a manifest (JSON/YAML request bodies, unlike the imperative `create <kind>`
/// commands, which kubectl 1.33 sends as protobuf; those are covered in `imperative_create`).
fn apply_manifest(s: &TestServer, v: &str, name: &str, manifest: &str) -> String {
    let f = s.write_file(name, manifest);
    s.kubectl_ok(v, &["create", "-f", f.to_str().expect("utf-8 path")])
}

fn create_ns(s: &TestServer, v: &str, ns: &str) {
    let out = apply_manifest(
        s,
        v,
        &format!("ns-{ns}.yaml"),
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    );
    assert_eq!(out.trim(), format!("namespace/{ns} created"));
}

fn create_cm(s: &TestServer, v: &str, ns: &str, name: &str, data: &[(&str, &str)]) {
    let mut m = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n");
    if !data.is_empty() {
        m.push_str("data:\n");
    }
    for (k, val) in data {
        m.push_str(&format!("  {k}: \"{val}\"\n"));
    }
    let out = apply_manifest(s, v, &format!("cm-{ns}-{name}.yaml"), &m);
    assert_eq!(out.trim(), format!("configmap/{name} created"));
}

fn header_tokens(out: &str) -> Vec<String> {
    out.lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("kubectl output is not JSON ({e}):\n{out}"))
}

#[test]
fn version_and_api_resources() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        // kubectl 1.27 prints version.Info{...} unless --short (the short form became the default in 1.28).
        let args: &[&str] = if *v == "1.27" {
            &["version", "--short"]
        } else {
            &["version"]
        };
        let out = s.kubectl_ok(v, args);
        assert!(out.contains("Server Version: v1.33"), "kubectl {v} version:\n{out}");
        assert!(
            out.contains(&format!("Client Version: v{v}")),
            "kubectl {v} version:\n{out}"
        );
        let out = json_of(&s.kubectl_ok(v, &["version", "-o", "json"]));
        assert_eq!(out["serverVersion"]["major"], "1", "kubectl {v}: {out}");
        assert_eq!(out["serverVersion"]["minor"], "33", "kubectl {v}: {out}");

        let out = s.kubectl_ok(v, &["api-resources"]);
        let header = header_tokens(&out);
        assert_eq!(
            header,
            ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
            "kubectl {v} api-resources header"
        );
        // name → (short names, apiVersion, namespaced, kind)
        let expect: &[(&str, &str, &str, &str, &str)] = &[
            ("pods", "po", "v1", "true", "Pod"),
            ("services", "svc", "v1", "true", "Service"),
            ("configmaps", "cm", "v1", "true", "ConfigMap"),
            ("namespaces", "ns", "v1", "false", "Namespace"),
            ("deployments", "deploy", "apps/v1", "true", "Deployment"),
            ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
            ("leases", "", "coordination.k8s.io/v1", "true", "Lease"),
            ("endpointslices", "", "discovery.k8s.io/v1", "true", "EndpointSlice"),
            ("ingresses", "ing", "networking.k8s.io/v1", "true", "Ingress"),
            (
                "customresourcedefinitions",
                "crd,crds",
                "apiextensions.k8s.io/v1",
                "false",
                "CustomResourceDefinition",
            ),
            ("servicecidrs", "", "networking.k8s.io/v1", "false", "ServiceCIDR"),
            ("ipaddresses", "ip", "networking.k8s.io/v1", "false", "IPAddress"),
            (
                "flowschemas",
                "",
                "flowcontrol.apiserver.k8s.io/v1",
                "false",
                "FlowSchema",
            ),
            (
                "validatingadmissionpolicies",
                "",
                "admissionregistration.k8s.io/v1",
                "false",
                "ValidatingAdmissionPolicy",
            ),
            (
                "horizontalpodautoscalers",
                "hpa",
                "autoscaling/v2",
                "true",
                "HorizontalPodAutoscaler",
            ),
            ("persistentvolumeclaims", "pvc", "v1", "true", "PersistentVolumeClaim"),
        ];
        let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        for (name, short, av, namespaced, kind) in expect {
            let want: Vec<&str> = if short.is_empty() {
                vec![name, av, namespaced, kind]
            } else {
                vec![name, short, av, namespaced, kind]
            };
            assert!(
                rows.contains(&want),
                "kubectl {v} api-resources: no row {want:?} in:\n{out}"
            );
        }
    }
}

fn manifest(ns: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
data:
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: {ns}
type: Opaque
stringData:
  password: s3cret
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: web-pod
  namespace: {ns}
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx:1.25
---
apiVersion: v1
kind: Pod
metadata:
  name: other-pod
  namespace: {ns}
  labels:
    app: other
spec:
  containers:
  - name: busybox
    image: busybox
"#
    )
}

#[test]
fn create_manifest_get_and_defaults() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let ns = ns_for(v);
        let file = s.write_file(&format!("manifest-{ns}.yaml"), &manifest(&ns));
        let file = file.to_str().expect("utf-8 path");
        let out = s.kubectl_ok(v, &["create", "-f", file]);
        for line in [
            format!("namespace/{ns} created"),
            "configmap/settings created".into(),
            "secret/creds created".into(),
            "deployment.apps/web created".into(),
            "service/web created".into(),
            "pod/web-pod created".into(),
            "pod/other-pod created".into(),
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "kubectl {v} create -f: missing {line:?} in:\n{out}"
            );
        }

        // Printed columns.
        let out = s.kubectl_ok(v, &["get", "pods", "-n", &ns]);
        assert_eq!(
            header_tokens(&out),
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "kubectl {v}:\n{out}"
        );
        let row: Vec<&str> = out
            .lines()
            .find(|l| l.starts_with("web-pod "))
            .unwrap_or_else(|| panic!("no web-pod row:\n{out}"))
            .split_whitespace()
            .collect();
        assert_eq!(
            &row[..4],
            ["web-pod", "0/1", "Pending", "0"],
            "kubectl {v} pod row:\n{out}"
        );

        let out = s.kubectl_ok(v, &["get", "deploy", "-n", &ns]);
        assert_eq!(
            header_tokens(&out),
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "kubectl {v}:\n{out}"
        );
        assert!(out.lines().any(|l| l.starts_with("web ")), "kubectl {v}:\n{out}");

        let out = s.kubectl_ok(v, &["get", "svc", "-n", &ns]);
        assert_eq!(
            header_tokens(&out),
            ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            "kubectl {v}:\n{out}"
        );
        let row: Vec<&str> = out
            .lines()
            .find(|l| l.starts_with("web "))
            .unwrap_or_else(|| panic!("no web service row:\n{out}"))
            .split_whitespace()
            .collect();
        assert_eq!(row[1], "ClusterIP", "kubectl {v}:\n{out}");
        assert_eq!(row[3], "<none>", "kubectl {v}:\n{out}");
        assert_eq!(row[4], "80/TCP", "kubectl {v}:\n{out}");

        // Defaults, through -o json.
        let pod = json_of(&s.kubectl_ok(v, &["get", "pod", "web-pod", "-n", &ns, "-o", "json"]));
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent", "kubectl {v}: {pod}");
        assert_eq!(
            c["terminationMessagePath"], "/dev/termination-log",
            "kubectl {v}: {pod}"
        );
        assert_eq!(c["terminationMessagePolicy"], "File", "kubectl {v}: {pod}");
        assert_eq!(pod["spec"]["restartPolicy"], "Always", "kubectl {v}: {pod}");
        assert_eq!(pod["spec"]["dnsPolicy"], "ClusterFirst", "kubectl {v}: {pod}");
        assert_eq!(pod["spec"]["schedulerName"], "default-scheduler", "kubectl {v}: {pod}");
        assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 30, "kubectl {v}: {pod}");
        assert_eq!(pod["status"]["phase"], "Pending", "kubectl {v}: {pod}");
        let other = json_of(&s.kubectl_ok(v, &["get", "pod", "other-pod", "-n", &ns, "-o", "json"]));
        assert_eq!(
            other["spec"]["containers"][0]["imagePullPolicy"], "Always",
            "kubectl {v}: untagged image defaults to Always: {other}"
        );

        // ... and -o yaml.
        let yaml = s.kubectl_ok(v, &["get", "pod", "web-pod", "-n", &ns, "-o", "yaml"]);
        for needle in [
            "imagePullPolicy: IfNotPresent",
            "terminationMessagePath: /dev/termination-log",
            "restartPolicy: Always",
            "dnsPolicy: ClusterFirst",
        ] {
            assert!(yaml.contains(needle), "kubectl {v} -o yaml lacks {needle:?}:\n{yaml}");
        }

        let secret = json_of(&s.kubectl_ok(v, &["get", "secret", "creds", "-n", &ns, "-o", "json"]));
        assert_eq!(secret["data"]["password"], "czNjcmV0", "kubectl {v}: {secret}");
        assert!(
            secret.get("stringData").is_none(),
            "kubectl {v}: stringData stored: {secret}"
        );
        assert_eq!(secret["type"], "Opaque");

        let deploy = json_of(&s.kubectl_ok(v, &["get", "deploy", "web", "-n", &ns, "-o", "json"]));
        let strategy = &deploy["spec"]["strategy"];
        assert_eq!(strategy["type"], "RollingUpdate", "kubectl {v}: {deploy}");
        assert_eq!(strategy["rollingUpdate"]["maxSurge"], "25%", "kubectl {v}: {deploy}");
        assert_eq!(
            strategy["rollingUpdate"]["maxUnavailable"], "25%",
            "kubectl {v}: {deploy}"
        );
        assert_eq!(deploy["spec"]["revisionHistoryLimit"], 10, "kubectl {v}: {deploy}");
        assert_eq!(deploy["spec"]["progressDeadlineSeconds"], 600, "kubectl {v}: {deploy}");
        let yaml = s.kubectl_ok(v, &["get", "deploy", "web", "-n", &ns, "-o", "yaml"]);
        assert!(yaml.contains("maxSurge: 25%"), "kubectl {v}:\n{yaml}");
        assert!(yaml.contains("type: RollingUpdate"), "kubectl {v}:\n{yaml}");

        let svc = json_of(&s.kubectl_ok(v, &["get", "svc", "web", "-n", &ns, "-o", "json"]));
        assert_eq!(svc["spec"]["type"], "ClusterIP", "kubectl {v}: {svc}");
        assert_eq!(svc["spec"]["sessionAffinity"], "None", "kubectl {v}: {svc}");
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP", "kubectl {v}: {svc}");
        assert!(
            svc["spec"]["clusterIP"].as_str().is_some_and(|ip| !ip.is_empty()),
            "{svc}"
        );

        // Selectors.
        let out = s.kubectl_ok(v, &["get", "pods", "-n", &ns, "-l", "app=web", "-o", "name"]);
        assert_eq!(out.trim(), "pod/web-pod", "kubectl {v} -l app=web");
        let out = s.kubectl_ok(v, &["get", "pods", "-n", &ns, "-l", "app!=web", "-o", "name"]);
        assert_eq!(out.trim(), "pod/other-pod", "kubectl {v} -l app!=web");
        let out = s.kubectl_ok(
            v,
            &[
                "get",
                "pods",
                "-n",
                &ns,
                "--field-selector",
                "metadata.name=other-pod",
                "-o",
                "name",
            ],
        );
        assert_eq!(out.trim(), "pod/other-pod", "kubectl {v} --field-selector");
        let out = s.kubectl_ok(
            v,
            &[
                "get",
                "cm",
                "-n",
                &ns,
                "--field-selector",
                "metadata.name=settings",
                "-o",
                "name",
            ],
        );
        assert_eq!(
            out.trim(),
            "configmap/settings",
            "kubectl {v} --field-selector on configmaps"
        );
        let out = s.kubectl_ok(v, &["get", "pods", "-A", "-l", "app=web", "-o", "name"]);
        assert!(out.lines().any(|l| l == "pod/web-pod"), "kubectl {v} -A -l:\n{out}");
        let err = s.kubectl_err(v, &["get", "pods", "-n", &ns, "--field-selector", "spec.bogus=x"]);
        assert!(
            err.contains("field label not supported: spec.bogus"),
            "kubectl {v} bad field selector:\n{err}"
        );
    }
}

fn many_configmaps(ns: &str, n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02}\n  namespace: {ns}\ndata:\n  i: \"{i}\"\n"
        ));
    }
    out
}

#[test]
fn chunked_list() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let ns = ns_for(v);
        create_ns(&s, v, &ns);
        let file = s.write_file(&format!("many-{ns}.yaml"), &many_configmaps(&ns, 20));
        s.kubectl_ok(v, &["create", "-f", file.to_str().expect("utf-8 path")]);

        let out = s.kubectl(v, &["get", "cm", "-n", &ns, "--chunk-size=5", "-o", "name", "-v=6"]);
        let stdout = common::text(&out.stdout);
        let stderr = common::text(&out.stderr);
        assert!(out.status.success(), "kubectl {v}:\n{stderr}");
        let names: Vec<&str> = stdout.lines().filter(|l| l.starts_with("configmap/cm-")).collect();
        let want: Vec<String> = (0..20).map(|i| format!("configmap/cm-{i:02}")).collect();
        assert_eq!(names, want, "kubectl {v} --chunk-size=5:\n{stdout}");
        let requests: Vec<&str> = stderr.lines().filter(|l| l.contains("/configmaps?")).collect();
        assert!(
            requests
                .iter()
                .any(|l| l.contains("limit=5") && !l.contains("continue=")),
            "kubectl {v}: no first page request with limit=5:\n{stderr}"
        );
        let continued = requests
            .iter()
            .filter(|l| l.contains("limit=5") && l.contains("continue="))
            .count();
        assert!(
            continued >= 3,
            "kubectl {v}: expected at least 3 continue requests for 20 items in pages of 5, saw {continued}:\n{stderr}"
        );

        // Table output paginates too.
        let out = s.kubectl_ok(v, &["get", "cm", "-n", &ns, "--chunk-size=7"]);
        assert_eq!(header_tokens(&out), ["NAME", "DATA", "AGE"], "kubectl {v}:\n{out}");
        let rows = out.lines().filter(|l| l.starts_with("cm-")).count();
        assert_eq!(rows, 20, "kubectl {v} table with --chunk-size=7:\n{out}");
    }
}

/// (type, metadata.name) of a `--output-watch-events -o json` line.
fn watch_event(line: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(line).ok()?;
    Some((
        v["type"].as_str()?.to_string(),
        v["object"]["metadata"]["name"].as_str()?.to_string(),
    ))
}

#[test]
fn watch_sees_changes() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let ns = ns_for(v);
        create_ns(&s, v, &ns);
        create_cm(&s, v, &ns, "before", &[]);
        let mut w = s.kubectl_stream(v, &["get", "cm", "-n", &ns, "-w", "-o", "name"]);
        // The initial list shows the existing object.
        w.wait_for(Duration::from_secs(30), |l| l.contains("configmap/before"));
        create_cm(&s, v, &ns, "after", &[("k", "v")]);
        w.wait_for(Duration::from_secs(30), |l| l.contains("configmap/after"));
        drop(w);

        // Event types with --output-watch-events: one compact JSON event per line.
        let mut w = s.kubectl_stream(
            v,
            &["get", "cm", "-n", &ns, "-w", "--output-watch-events", "-o", "json"],
        );
        let seen = w.wait_for(Duration::from_secs(30), |l| {
            watch_event(l).is_some_and(|(_, n)| n == "after")
        });
        assert_eq!(
            seen.last().and_then(|l| watch_event(l)),
            Some(("ADDED".to_string(), "after".to_string())),
            "kubectl {v}: {seen:#?}"
        );
        s.kubectl_ok(v, &["delete", "configmap", "before", "-n", &ns]);
        let seen = w.wait_for(Duration::from_secs(30), |l| {
            watch_event(l).is_some_and(|(t, _)| t == "DELETED")
        });
        assert_eq!(
            seen.last().and_then(|l| watch_event(l)),
            Some(("DELETED".to_string(), "before".to_string())),
            "kubectl {v}: {seen:#?}"
        );
        drop(w);

        // JSON watch events.
        let mut w = s.kubectl_stream(v, &["get", "cm", "after", "-n", &ns, "-w", "-o", "json"]);
        w.wait_for(Duration::from_secs(30), |l| l.contains("\"name\": \"after\""));
        s.kubectl_ok(v, &["label", "configmap", "after", "-n", &ns, "seen=yes"]);
        w.wait_for(Duration::from_secs(30), |l| l.contains("\"seen\": \"yes\""));
    }
}

#[test]
fn replace_delete_label_annotate_scale() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let ns = ns_for(v);
        let file = s.write_file(&format!("manifest-{ns}.yaml"), &manifest(&ns));
        s.kubectl_ok(v, &["create", "-f", file.to_str().expect("utf-8 path")]);

        // replace -f with a modified object.
        let cm = s.write_file(
            &format!("cm-{ns}.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  color: red\n  size: large\n"),
        );
        let out = s.kubectl_ok(v, &["replace", "-f", cm.to_str().expect("utf-8 path")]);
        assert_eq!(out.trim(), "configmap/settings replaced", "kubectl {v}");
        let out = s.kubectl_ok(
            v,
            &[
                "get",
                "cm",
                "settings",
                "-n",
                &ns,
                "-o",
                "jsonpath={.data.color},{.data.size}",
            ],
        );
        assert_eq!(out, "red,large", "kubectl {v}");

        // label / annotate (merge patches).
        let out = s.kubectl_ok(v, &["label", "cm", "settings", "-n", &ns, "tier=backend"]);
        assert_eq!(out.trim(), "configmap/settings labeled", "kubectl {v}");
        let out = s.kubectl_ok(v, &["annotate", "cm", "settings", "-n", &ns, "note=hello world"]);
        // kubectl 1.27 prints "annotate" (fixed later to "annotated").
        assert!(
            out.trim().starts_with("configmap/settings annotate"),
            "kubectl {v}: {out}"
        );
        let out = s.kubectl_ok(
            v,
            &[
                "get",
                "cm",
                "settings",
                "-n",
                &ns,
                "-o",
                "jsonpath={.metadata.labels.tier}|{.metadata.annotations.note}",
            ],
        );
        assert_eq!(out, "backend|hello world", "kubectl {v}");
        let out = s.kubectl_ok(v, &["get", "cm", "-n", &ns, "-l", "tier=backend", "-o", "name"]);
        assert_eq!(out.trim(), "configmap/settings", "kubectl {v}");
        // Removing a label.
        s.kubectl_ok(v, &["label", "cm", "settings", "-n", &ns, "tier-"]);
        let out = s.kubectl_ok(
            v,
            &["get", "cm", "settings", "-n", &ns, "-o", "jsonpath={.metadata.labels}"],
        );
        assert!(!out.contains("tier"), "kubectl {v}: label not removed: {out}");
        // Overwriting needs --overwrite.
        s.kubectl_ok(v, &["label", "pod", "web-pod", "-n", &ns, "app=web2", "--overwrite"]);
        let out = s.kubectl_ok(
            v,
            &[
                "get",
                "pod",
                "web-pod",
                "-n",
                &ns,
                "-o",
                "jsonpath={.metadata.labels.app}",
            ],
        );
        assert_eq!(out, "web2", "kubectl {v}");

        // scale through the scale subresource.
        let out = s.kubectl_ok(v, &["scale", "deploy", "web", "-n", &ns, "--replicas=3"]);
        assert_eq!(out.trim(), "deployment.apps/web scaled", "kubectl {v}");
        let out = s.kubectl_ok(
            v,
            &["get", "deploy", "web", "-n", &ns, "-o", "jsonpath={.spec.replicas}"],
        );
        assert_eq!(out, "3", "kubectl {v}");

        // delete, then NotFound.
        let out = s.kubectl_ok(v, &["delete", "cm", "settings", "-n", &ns]);
        assert_eq!(out.trim(), "configmap \"settings\" deleted", "kubectl {v}");
        let err = s.kubectl_err(v, &["get", "cm", "settings", "-n", &ns]);
        assert_eq!(
            err.trim(),
            "Error from server (NotFound): configmaps \"settings\" not found",
            "kubectl {v}"
        );
        let err = s.kubectl_err(v, &["delete", "cm", "settings", "-n", &ns]);
        assert!(
            err.contains("Error from server (NotFound): configmaps \"settings\" not found"),
            "kubectl {v}: {err}"
        );
        let out = s.kubectl_ok(v, &["delete", "namespace", &ns, "--wait=false"]);
        assert_eq!(out.trim(), format!("namespace \"{ns}\" deleted"), "kubectl {v}");
    }
}

#[test]
fn error_messages() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let ns = ns_for(v);
        create_ns(&s, v, &ns);

        // AlreadyExists.
        create_cm(&s, v, &ns, "dup", &[]);
        let f = s.scratch().join(format!("cm-{ns}-dup.yaml"));
        let err = s.kubectl_err(v, &["create", "-f", f.to_str().expect("utf-8 path")]);
        assert!(
            err.contains("Error from server (AlreadyExists): error when creating")
                && err.contains(": configmaps \"dup\" already exists"),
            "kubectl {v}: {err}"
        );

        // Invalid name.
        let bad = s.write_file(
            &format!("bad-{ns}.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: {ns}\n"),
        );
        let err = s.kubectl_err(v, &["create", "-f", bad.to_str().expect("utf-8 path")]);
        assert!(
            err.contains("The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
            "kubectl {v}: {err}"
        );

        // Missing namespace.
        let in_missing = s.write_file(
            &format!("nope-{ns}.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nope\n",
        );
        let err = s.kubectl_err(v, &["create", "-f", in_missing.to_str().expect("utf-8 path")]);
        assert!(
            err.contains("Error from server (NotFound)") && err.contains("namespaces \"nope\" not found"),
            "kubectl {v}: {err}"
        );

        // Stale resourceVersion on replace.
        create_cm(&s, v, &ns, "stale", &[("a", "1")]);
        let old = s.kubectl_ok(v, &["get", "cm", "stale", "-n", &ns, "-o", "json"]);
        s.kubectl_ok(v, &["label", "cm", "stale", "-n", &ns, "bump=1"]);
        let mut obj = json_of(&old);
        obj["data"]["a"] = Value::from("2");
        let f = s.write_file(&format!("stale-{ns}.json"), &obj.to_string());
        let err = s.kubectl_err(v, &["replace", "-f", f.to_str().expect("utf-8 path")]);
        assert!(
            err.contains("Error from server (Conflict)")
                && err.contains("Operation cannot be fulfilled on configmaps \"stale\": the object has been modified; please apply your changes to the latest version and try again"),
            "kubectl {v}: {err}"
        );

        // Unknown resource type.
        let err = s.kubectl_err(v, &["get", "widgets"]);
        assert!(
            err.contains("the server doesn't have a resource type \"widgets\""),
            "kubectl {v}: {err}"
        );
    }
}

/// The imperative generators (`kubectl create namespace|configmap|secret|deployment|service`).
/// kubectl 1.33 sends these through typed clients, with protobuf request bodies.
#[test]
fn imperative_create() {
    let s = TestServer::start();
    for v in KUBECTL_VERSIONS {
        let ns = ns_for(v);
        let out = s.kubectl_ok(v, &["create", "namespace", &ns]);
        assert_eq!(out.trim(), format!("namespace/{ns} created"), "kubectl {v}");
        let out = s.kubectl_ok(v, &["create", "configmap", "lit", "-n", &ns, "--from-literal=a=1"]);
        assert_eq!(out.trim(), "configmap/lit created", "kubectl {v}");
        let out = s.kubectl_ok(
            v,
            &[
                "create",
                "secret",
                "generic",
                "sec",
                "-n",
                &ns,
                "--from-literal=p=s3cret",
            ],
        );
        assert_eq!(out.trim(), "secret/sec created", "kubectl {v}");
        let out = s.kubectl_ok(v, &["create", "deployment", "dep", "-n", &ns, "--image=nginx:1.25"]);
        assert_eq!(out.trim(), "deployment.apps/dep created", "kubectl {v}");
        let out = s.kubectl_ok(
            v,
            &["create", "service", "clusterip", "svc", "-n", &ns, "--tcp=80:8080"],
        );
        assert_eq!(out.trim(), "service/svc created", "kubectl {v}");
        let out = s.kubectl_ok(v, &["get", "secret", "sec", "-n", &ns, "-o", "jsonpath={.data.p}"]);
        assert_eq!(out, "czNjcmV0", "kubectl {v}");
        let err = s.kubectl_err(v, &["create", "configmap", "lit", "-n", &ns]);
        assert!(err.contains("configmaps \"lit\" already exists"), "kubectl {v}: {err}");
        let err = s.kubectl_err(v, &["create", "configmap", "x", "-n", "nope"]);
        assert!(err.contains("namespaces \"nope\" not found"), "kubectl {v}: {err}");
    }
}

/// More typed-client creates (protobuf bodies from kubectl 1.33), read back as JSON.
#[test]
fn imperative_create_more_kinds() {
    let s = TestServer::start();
    let v = "1.33";
    let ns = "pbmore";
    assert_eq!(
        s.kubectl_ok(v, &["create", "namespace", ns]).trim(),
        "namespace/pbmore created"
    );
    let out = s.kubectl_ok(v, &["create", "serviceaccount", "robot", "-n", ns]);
    assert_eq!(out.trim(), "serviceaccount/robot created");
    let out = s.kubectl_ok(
        v,
        &[
            "create",
            "job",
            "once",
            "-n",
            ns,
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi",
        ],
    );
    assert_eq!(out.trim(), "job.batch/once created");
    let job = json_of(&s.kubectl_ok(v, &["get", "job", "once", "-n", ns, "-o", "json"]));
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "busybox:1.36");
    assert_eq!(c["command"], serde_json::json!(["echo", "hi"]));
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    let out = s.kubectl_ok(
        v,
        &[
            "create",
            "cronjob",
            "tick",
            "-n",
            ns,
            "--image=busybox:1.36",
            "--schedule=*/5 * * * *",
        ],
    );
    assert_eq!(out.trim(), "cronjob.batch/tick created");
    let cj = json_of(&s.kubectl_ok(v, &["get", "cronjob", "tick", "-n", ns, "-o", "json"]));
    assert_eq!(cj["spec"]["schedule"], "*/5 * * * *");
    assert_eq!(
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.36"
    );
    let out = s.kubectl_ok(
        v,
        &["create", "role", "reader", "-n", ns, "--verb=get", "--resource=pods"],
    );
    assert_eq!(out.trim(), "role.rbac.authorization.k8s.io/reader created");
    let role = json_of(&s.kubectl_ok(v, &["get", "role", "reader", "-n", ns, "-o", "json"]));
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    );
    let out = s.kubectl_ok(
        v,
        &[
            "create",
            "clusterrolebinding",
            "u-view",
            "--clusterrole=view",
            "--user=u",
        ],
    );
    assert_eq!(
        out.trim(),
        "clusterrolebinding.rbac.authorization.k8s.io/u-view created"
    );
    let crb = json_of(&s.kubectl_ok(v, &["get", "clusterrolebinding", "u-view", "-o", "json"]));
    assert_eq!(
        crb["roleRef"],
        serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
    );
    assert_eq!(
        crb["subjects"],
        serde_json::json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "u"}])
    );
    let err = s.kubectl_err(v, &["create", "serviceaccount", "robot", "-n", ns]);
    assert!(err.contains("serviceaccounts \"robot\" already exists"), "{err}");
}
