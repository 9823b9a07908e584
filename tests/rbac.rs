//! Authorization end to end with real kubectl and kube-rs: the Node,RBAC chain over the
//! bootstrap policy, anonymous access, RBAC-bound ServiceAccounts, `kubectl auth can-i`
//! (and `--list`), impersonation, escalation prevention, ClusterRole aggregation and the Node
//! authorizer.

mod common;

use common::{eventually, secs, TestServer};
use serde_json::{json, Value};

/// A kubeconfig that authenticates with `token` only.
fn token_kubeconfig(ts: &TestServer, name: &str, token: &str) -> String {
    ts.token_kubeconfig(name, token).to_string_lossy().into_owned()
}

/// kubectl with another kubeconfig: (success, stdout, stderr).
fn kubectl_as(ts: &TestServer, version: &str, kc: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--kubeconfig", kc];
    all.extend_from_slice(args);
    let out = ts.kubectl(version, &all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// curl without credentials: (status, body).
fn curl_anonymous(ts: &TestServer, path: &str) -> (u16, String) {
    ts.curl_status(&[], path)
}

fn apply(ts: &TestServer, manifest: &str) {
    let path = ts.write_file(&format!("m{}.yaml", manifest.len()), manifest);
    ts.kubectl_ok("1.33", &["apply", "-f", path.to_str().unwrap_or("")]);
}

const SETUP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot, namespace: team}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: team}
data: {a: "1"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader, namespace: team}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bot-reads-cm, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects:
- {kind: ServiceAccount, name: bot, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: role-maker, namespace: team}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles]
  verbs: [create, get, list]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-makes-roles, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-maker}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
"#;

fn server() -> (TestServer, tempfile::TempDir) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let tokens = scratch.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        "bob-token,bob,2001\nn1-token,system:node:n1,3001,system:nodes\nn2-token,system:node:n2,3002,system:nodes\n",
    )
    .expect("write tokens");
    let ts = TestServer::start_with(&["--token-auth-file", tokens.to_str().unwrap_or("")]);
    (ts, scratch)
}

#[test]
fn anonymous_admin_and_a_role_bound_service_account() {
    let (ts, _tokens) = server();
    // Anonymous probes work through system:public-info-viewer; resources are forbidden.
    let (code, body) = curl_anonymous(&ts, "/readyz");
    assert_eq!((code, body.as_str()), (200, "ok"));
    assert_eq!(curl_anonymous(&ts, "/version").0, 200);
    let (code, body) = curl_anonymous(&ts, "/api/v1/secrets");
    assert_eq!(code, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap_or_default(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"secrets is forbidden: User \"system:anonymous\" cannot list resource \"secrets\" in API group \"\" at the cluster scope",
            "reason":"Forbidden","details":{"kind":"secrets"},"code":403})
    );
    assert_eq!(curl_anonymous(&ts, "/metrics").0, 403);

    // The admin (system:masters client certificate) may do anything.
    apply(&ts, SETUP);
    // Bootstrap policy exists, labelled and annotated, and `view` got its aggregated rules.
    let crb: Value =
        serde_json::from_str(&ts.kubectl_ok("1.33", &["get", "clusterrolebinding", "cluster-admin", "-o", "json"]))
            .unwrap_or_default();
    assert_eq!(crb["subjects"][0]["name"], "system:masters");
    assert_eq!(
        crb["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
        "true"
    );
    assert_eq!(
        crb["metadata"]["labels"]["kubernetes.io/bootstrapping"],
        "rbac-defaults"
    );
    eventually("view aggregates system:aggregate-to-view", secs(15), || {
        ts.kubectl_ok("1.33", &["get", "clusterrole", "view", "-o", "jsonpath={.rules}"])
            .contains("configmaps")
    });

    let token = ts
        .kubectl_ok("1.33", &["create", "token", "bot", "-n", "team"])
        .trim()
        .to_string();
    let kc = token_kubeconfig(&ts, "bot", &token);
    for v in common::KUBECTL_VERSIONS {
        let (ok, out, err) = kubectl_as(&ts, v, &kc, &["get", "configmaps", "-n", "team", "-o", "name"]);
        assert!(ok, "{err}");
        assert!(out.contains("configmap/settings"), "{out}");
        let (ok, _, err) = kubectl_as(&ts, v, &kc, &["get", "secrets", "-n", "team"]);
        assert!(!ok);
        assert!(
            err.contains("secrets is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team\""),
            "{err}"
        );
        let (ok, _, err) = kubectl_as(&ts, v, &kc, &["get", "configmaps", "-n", "other"]);
        assert!(!ok);
        assert!(
            err.contains("configmaps is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"other\""),
            "{err}"
        );
        // kubectl auth can-i: SelfSubjectAccessReview.
        let (ok, out, _) = kubectl_as(&ts, v, &kc, &["auth", "can-i", "list", "configmaps", "-n", "team"]);
        assert!(ok);
        assert_eq!(out.trim(), "yes");
        let (ok, out, _) = kubectl_as(&ts, v, &kc, &["auth", "can-i", "get", "secrets", "-n", "team"]);
        assert!(!ok);
        assert_eq!(out.trim(), "no");
        let (ok, out, _) = kubectl_as(&ts, v, &kc, &["auth", "can-i", "get", "/healthz"]);
        assert!(ok);
        assert_eq!(out.trim(), "yes");
        // --list: SelfSubjectRulesReview.
        let (ok, out, err) = kubectl_as(&ts, v, &kc, &["auth", "can-i", "--list", "-n", "team"]);
        assert!(ok, "{err}");
        let row = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or("").to_string();
        assert!(row("configmaps ").contains("[get list watch]"), "{out}");
        assert!(
            row("selfsubjectaccessreviews.authorization.k8s.io").contains("[create]"),
            "{out}"
        );
        assert!(out.contains("[/healthz]"), "{out}");
        assert!(!out.contains("secrets"), "{out}");
    }
    // SubjectAccessReview / LocalSubjectAccessReview as the admin.
    let sar = ts.write_file(
        "sar.json",
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "system:serviceaccount:team:bot", "groups": ["system:serviceaccounts"],
                "resourceAttributes": {"namespace": "team", "verb": "list", "resource": "configmaps"}}})
        .to_string(),
    );
    let out: Value = serde_json::from_str(&ts.kubectl_ok(
        "1.33",
        &[
            "create",
            "--raw",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            "-f",
            sar.to_str().unwrap_or(""),
        ],
    ))
    .unwrap_or_default();
    assert_eq!(
        out["status"],
        json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"bot-reads-cm/team\" of Role \"cm-reader\" to ServiceAccount \"bot/team\""})
    );
    assert_eq!(out["kind"], "SubjectAccessReview");
    let bad = ts.write_file(
        "bad-sar.json",
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}})
        .to_string(),
    );
    let err = ts.kubectl_err(
        "1.33",
        &[
            "create",
            "--raw",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            "-f",
            bad.to_str().unwrap_or(""),
        ],
    );
    assert!(
        err.contains("spec.user: Invalid value: \"\": at least one of user or group must be specified"),
        "{err}"
    );
    let lsar = ts.write_file(
        "lsar.json",
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
            "metadata": {"namespace": "team"},
            "spec": {"user": "bob", "resourceAttributes": {"namespace": "team", "verb": "get", "resource": "configmaps"}}})
        .to_string(),
    );
    let out: Value = serde_json::from_str(&ts.kubectl_ok(
        "1.33",
        &[
            "create",
            "--raw",
            "/apis/authorization.k8s.io/v1/namespaces/team/localsubjectaccessreviews",
            "-f",
            lsar.to_str().unwrap_or(""),
        ],
    ))
    .unwrap_or_default();
    assert_eq!(out["status"]["allowed"], true);
    let err = ts.kubectl_err(
        "1.33",
        &[
            "create",
            "--raw",
            "/apis/authorization.k8s.io/v1/namespaces/other/localsubjectaccessreviews",
            "-f",
            lsar.to_str().unwrap_or(""),
        ],
    );
    assert!(
        err.contains("the namespace of the provided object does not match the namespace sent on the request"),
        "{err}"
    );
    // The admin's own can-i.
    assert_eq!(
        ts.kubectl_ok("1.33", &["auth", "can-i", "delete", "nodes"]).trim(),
        "yes"
    );

    // kube-rs as the ServiceAccount: 200 on configmaps, 403 Status on secrets.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let kcfg = kube::config::Kubeconfig::read_from(&kc).expect("kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kcfg, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(cfg).expect("client");
        let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client.clone(), "team");
        let list = cms.list(&Default::default()).await.expect("list configmaps");
        assert!(list
            .items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("settings")));
        let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client, "team");
        match secrets.list(&Default::default()).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            }
            other => panic!("expected 403, got {other:?}"),
        }
    });
}

#[test]
fn impersonation_escalation_aggregation_and_nodes() {
    let (mut ts, _tokens) = server();
    apply(&ts, SETUP);
    let token = ts
        .kubectl_ok("1.33", &["create", "token", "bot", "-n", "team"])
        .trim()
        .to_string();
    let bot = token_kubeconfig(&ts, "bot", &token);
    let bob = token_kubeconfig(&ts, "bob", "bob-token");

    // Impersonation: the admin may act as the ServiceAccount (and is then limited by it).
    let out = ts.kubectl_ok(
        "1.33",
        &[
            "--as",
            "system:serviceaccount:team:bot",
            "get",
            "configmaps",
            "-n",
            "team",
            "-o",
            "name",
        ],
    );
    assert!(out.contains("configmap/settings"));
    let err = ts.kubectl_err(
        "1.27",
        &["--as", "system:serviceaccount:team:bot", "get", "secrets", "-n", "team"],
    );
    assert!(
        err.contains("User \"system:serviceaccount:team:bot\" cannot list resource \"secrets\""),
        "{err}"
    );
    let who = ts.kubectl_ok(
        "1.33",
        &["--as", "bob", "--as-group", "devs", "auth", "whoami", "-o", "json"],
    );
    let who: Value = serde_json::from_str(&who).unwrap_or_default();
    assert_eq!(who["status"]["userInfo"]["username"], "bob");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        json!(["devs", "system:authenticated"])
    );
    // …but the ServiceAccount may not impersonate anyone.
    for v in common::KUBECTL_VERSIONS {
        let (ok, _, err) = kubectl_as(&ts, v, &bot, &["--as", "bob", "get", "configmaps", "-n", "team"]);
        assert!(!ok);
        assert!(
            err.contains("users \"bob\" is forbidden: User \"system:serviceaccount:team:bot\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
            "{err}"
        );
    }

    // Escalation: bob may create roles but not grant what he lacks.
    let greedy = ts.write_file(
        "greedy.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: greedy, namespace: team}\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get]\n",
    );
    let (ok, _, err) = kubectl_as(&ts, "1.33", &bob, &["create", "-f", greedy.to_str().unwrap_or("")]);
    assert!(!ok);
    assert!(
        err.contains(
            "roles.rbac.authorization.k8s.io \"greedy\" is forbidden: user \"bob\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"
        ),
        "{err}"
    );
    let modest = ts.write_file(
        "modest.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: modest, namespace: team}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n",
    );
    let (ok, _, err) = kubectl_as(&ts, "1.33", &bob, &["create", "-f", modest.to_str().unwrap_or("")]);
    assert!(ok, "{err}");
    // The admin (system:masters) bypasses the check.
    ts.kubectl_ok("1.33", &["create", "-f", greedy.to_str().unwrap_or("")]);

    // Aggregation: a labelled ClusterRole's rules flow into the aggregated one.
    apply(
        &ts,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-monitoring: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-endpoints
  labels: {example.com/aggregate-to-monitoring: "true"}
rules:
- apiGroups: [""]
  resources: [services, endpoints, pods]
  verbs: [get, list, watch]
"#,
    );
    eventually("monitoring aggregates monitoring-endpoints", secs(15), || {
        let rules = ts.kubectl_ok("1.33", &["get", "clusterrole", "monitoring", "-o", "jsonpath={.rules}"]);
        rules.contains("endpoints") && rules.contains("services")
    });

    // Node authorizer: a kubelet reads its own Node and what its pods reference, nothing else.
    apply(
        &ts,
        r#"
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls, namespace: team}
stringData: {k: v}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team}
spec:
  nodeName: n1
  containers: [{name: c, image: nginx}]
  volumes: [{name: tls, secret: {secretName: web-tls}}]
"#,
    );
    let n1 = token_kubeconfig(&ts, "n1", "n1-token");
    let n2 = token_kubeconfig(&ts, "n2", "n2-token");
    for v in common::KUBECTL_VERSIONS {
        let (ok, out, err) = kubectl_as(&ts, v, &n1, &["get", "node", "n1", "-o", "name"]);
        assert!(ok, "{err}");
        assert_eq!(out.trim(), "node/n1");
        let (ok, _, err) = kubectl_as(&ts, v, &n1, &["get", "node", "n2"]);
        assert!(!ok);
        assert!(
            err.contains("nodes \"n2\" is forbidden: User \"system:node:n1\" cannot get resource \"nodes\" in API group \"\" at the cluster scope: node 'n1' cannot read 'n2', only its own Node object"),
            "{err}"
        );
    }
    eventually("the pod is in the node graph", secs(15), || {
        kubectl_as(&ts, "1.33", &n1, &["get", "secret", "web-tls", "-n", "team"]).0
    });
    let (ok, _, err) = kubectl_as(&ts, "1.33", &n2, &["get", "secret", "web-tls", "-n", "team"]);
    assert!(!ok);
    assert!(
        err.contains("no relationship found between node 'n2' and this object"),
        "{err}"
    );
    let (ok, _, err) = kubectl_as(
        &ts,
        "1.33",
        &n1,
        &[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=n1",
            "-o",
            "name",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, _) = kubectl_as(&ts, "1.33", &n1, &["get", "pods", "-A"]);
    assert!(!ok);

    // Restart: the bootstrap policy is reconciled (deleted roles come back) while a role
    // annotated autoupdate=false keeps the user's edits.
    ts.kubectl_ok("1.33", &["delete", "clusterrole", "system:discovery"]);
    ts.kubectl_ok(
        "1.33",
        &[
            "annotate",
            "--overwrite",
            "clusterrole",
            "system:basic-user",
            "rbac.authorization.kubernetes.io/autoupdate=false",
        ],
    );
    ts.kubectl_ok(
        "1.33",
        &[
            "patch",
            "clusterrole",
            "system:basic-user",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/rules","value":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}]"#,
        ],
    );
    ts.restart();
    let rules = ts.kubectl_ok(
        "1.33",
        &["get", "clusterrole", "system:discovery", "-o", "jsonpath={.rules}"],
    );
    assert!(rules.contains("/version"), "{rules}");
    let rules = ts.kubectl_ok(
        "1.33",
        &["get", "clusterrole", "system:basic-user", "-o", "jsonpath={.rules}"],
    );
    assert!(rules.contains("pods") && !rules.contains("selfsubject"), "{rules}");
}

#[test]
fn unknown_authorization_mode_is_a_startup_error() {
    let text = TestServer::builder()
        .arg("--authorization-mode=RBAC,Magic")
        .start_fails();
    assert!(
        text.contains("authorization-mode \"Magic\" is not a valid mode"),
        "{text}"
    );
}

/// `/metrics` is authorized like upstream: the non-resource URL, granted by the bootstrap
/// ClusterRole `system:monitoring`.
#[test]
fn metrics_need_get_on_the_metrics_url() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let tokens = scratch.path().join("tokens.csv");
    std::fs::write(&tokens, "prom-token,prom,4001\nbob-token,bob,2001\n").expect("write tokens");
    let ts = TestServer::start_with(&["--token-auth-file", tokens.to_str().unwrap_or("")]);
    apply(
        &ts,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prom-monitoring}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:monitoring}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: prom}
"#,
    );
    let prom = token_kubeconfig(&ts, "prom", "prom-token");
    let bob = token_kubeconfig(&ts, "bob", "bob-token");
    eventually("the binding reaches the RBAC index", secs(15), || {
        kubectl_as(&ts, "1.33", &prom, &["get", "--raw", "/metrics"]).0
    });
    let (_, metrics, _) = kubectl_as(&ts, "1.33", &prom, &["get", "--raw", "/metrics"]);
    assert!(metrics.contains("apiserver_request_total"), "{metrics}");
    let (ok, _, err) = kubectl_as(&ts, "1.33", &bob, &["get", "--raw", "/metrics"]);
    assert!(!ok);
    assert!(
        err.contains(r#"Error from server (Forbidden): forbidden: User "bob" cannot get path "/metrics""#),
        "{err}"
    );
}

/// The Node authorizer's graph beyond pods, with a kubelet's own client certificate
/// (`system:node:n1` in `system:nodes`, kubeadm's kubelet.conf): the VolumeAttachments of its
/// node, the PersistentVolumes bound to its pods' claims (through `claimRef`) and the secrets
/// those PVs give the kubelet (CSI node stage/publish/expand, not the controller's).
#[test]
fn node_authorizer_follows_volumes_and_attachments() {
    let ts = TestServer::start();
    let kdir = ts.scratch().join("kubelet");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["kubeconfig", "--dir"])
        .arg(ts.data_dir().join("pki"))
        .arg("--kubeconfig-dir")
        .arg(&kdir)
        .args(["--node-name", "n1", "--advertise-address", "127.0.0.1"])
        .args(["--secure-port", &ts.port().to_string()])
        .output()
        .expect("capstan kubeconfig");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kubelet = kdir.join("kubelet.conf").to_string_lossy().into_owned();
    apply(
        &ts,
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: Namespace
metadata: {name: storage}
---
apiVersion: v1
kind: Secret
metadata: {name: csi-stage, namespace: storage}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: csi-controller, namespace: storage}
stringData: {k: v}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  claimRef: {namespace: team, name: data}
  csi:
    driver: csi.example.com
    volumeHandle: vol-1
    nodeStageSecretRef: {namespace: storage, name: csi-stage}
    controllerPublishSecretRef: {namespace: storage, name: csi-controller}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv2}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /tmp/pv2}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: team}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  volumeName: pv1
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: team}
spec:
  nodeName: n1
  containers: [{name: c, image: postgres}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: va-n1}
spec:
  attacher: csi.example.com
  nodeName: n1
  source: {persistentVolumeName: pv1}
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: va-n2}
spec:
  attacher: csi.example.com
  nodeName: n2
  source: {persistentVolumeName: pv2}
"#,
    );
    let as_kubelet = |args: &[&str]| kubectl_as(&ts, "1.33", &kubelet, args);
    let (ok, out, err) = as_kubelet(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert!(ok, "{err}");
    assert_eq!(out, "system:node:n1");
    eventually(
        "the node graph has the attachment, the PV and its secret",
        secs(15),
        || {
            as_kubelet(&["get", "volumeattachment", "va-n1", "-o", "name"]).0
                && as_kubelet(&["get", "pv", "pv1", "-o", "name"]).0
                && as_kubelet(&["get", "secret", "csi-stage", "-n", "storage", "-o", "name"]).0
        },
    );
    let denied = |args: &[&str], what: &str| {
        let (ok, _, err) = as_kubelet(args);
        assert!(!ok, "{args:?} was allowed");
        assert!(
            err.contains(&format!("{what} is forbidden: User \"system:node:n1\""))
                && err.contains("no relationship found between node 'n1' and this object"),
            "{err}"
        );
    };
    denied(
        &["get", "volumeattachment", "va-n2"],
        "volumeattachments.storage.k8s.io \"va-n2\"",
    );
    denied(&["get", "pv", "pv2"], "persistentvolumes \"pv2\"");
    denied(
        &["get", "secret", "csi-controller", "-n", "storage"],
        "secrets \"csi-controller\"",
    );
    // Only individual gets: no listing of attachments.
    let (ok, _, err) = as_kubelet(&["get", "volumeattachments"]);
    assert!(
        !ok && err.contains("can only get individual resources of this type"),
        "{err}"
    );
    // The pod goes: its PV and the PV's secret go with it.
    ts.kubectl_ok(
        "1.33",
        &["delete", "pod", "db", "-n", "team", "--grace-period=0", "--force"],
    );
    eventually("the PV's secret leaves the graph", secs(15), || {
        !as_kubelet(&["get", "secret", "csi-stage", "-n", "storage"]).0
    });
    assert!(!as_kubelet(&["get", "pv", "pv1"]).0);
}
