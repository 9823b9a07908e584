//! Admission chain against a running server with real kubectl: built-in plugins' allow and
//! deny paths with upstream's messages, and real HTTPS admission webhooks served by the test.

mod common;

use base64::Engine;
use common::{pki, TestServer};

const K: &str = "1.33";

fn apply(s: &TestServer, name: &str, yaml: &str) -> String {
    let p = s.write_file(name, yaml);
    s.kubectl_ok(K, &["apply", "-f", p.to_str().unwrap_or_default()])
}

/// `kubectl create -f` expecting failure; stderr.
fn create_err(s: &TestServer, name: &str, yaml: &str) -> String {
    let p = s.write_file(name, yaml);
    s.kubectl_err(K, &["create", "-f", p.to_str().unwrap_or_default()])
}

/// `kubectl create -f`: (stdout, stderr), requiring success.
fn create_ok(s: &TestServer, name: &str, yaml: &str) -> (String, String) {
    let p = s.write_file(name, yaml);
    let out = s.kubectl(K, &["create", "-f", p.to_str().unwrap_or_default()]);
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "create {name} failed: {e}\n{o}");
    (o, e)
}

fn jsonpath(s: &TestServer, args: &[&str], path: &str) -> String {
    let jp = format!("jsonpath={path}");
    let mut a: Vec<&str> = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", &jp]);
    s.kubectl_ok(K, &a)
}

/// A quota's `status.used[resource]`.
fn used(s: &TestServer, quota: &str, resource: &str) -> String {
    let out = s.kubectl_ok(K, &["get", "quota", quota, "-n", "q", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v.pointer("/status/used")
        .and_then(|u| u.get(resource))
        .and_then(|x| x.as_str())
        .unwrap_or("")
        .to_string()
}

fn pod(name: &str, ns: &str, extra_container: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{extra_spec}  containers:\n  - name: c\n    image: nginx\n{extra_container}"
    )
}

#[test]
fn quota_blocks_the_third_configmap_and_only_charges() {
    let s = TestServer::start();
    s.kubectl_ok(K, &["create", "namespace", "q"]);
    s.kubectl_ok(K, &["create", "quota", "q", "-n", "q", "--hard=count/configmaps=2"]);
    s.kubectl_ok(K, &["create", "configmap", "c1", "-n", "q"]);
    s.kubectl_ok(K, &["create", "configmap", "c2", "-n", "q"]);
    let err = s.kubectl_err(K, &["create", "configmap", "c3", "-n", "q"]);
    assert!(
        err.contains("configmaps \"c3\" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"),
        "{err}"
    );
    assert_eq!(used(&s, "q", "count/configmaps"), "2");
    // As upstream, admission only charges: a delete gives nothing back until
    // kube-controller-manager's quota controller recounts (none runs here).
    s.kubectl_ok(K, &["delete", "configmap", "c1", "-n", "q"]);
    let err = s.kubectl_err(K, &["create", "configmap", "c3", "-n", "q", "--dry-run=server"]);
    assert!(
        err.contains("exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=2"),
        "{err}"
    );
    assert_eq!(used(&s, "q", "count/configmaps"), "2");
    // A dry run is checked but not charged.
    let raise = [
        "-n",
        "q",
        "--type=merge",
        "-p",
        r#"{"spec":{"hard":{"count/configmaps":"3"}}}"#,
    ];
    s.kubectl_ok(K, &[&["patch", "quota", "q"][..], &raise[..]].concat());
    s.kubectl_ok(K, &["create", "configmap", "c3", "-n", "q", "--dry-run=server"]);
    assert_eq!(used(&s, "q", "count/configmaps"), "2");
    s.kubectl_ok(K, &["create", "configmap", "c3", "-n", "q"]);
    assert_eq!(used(&s, "q", "count/configmaps"), "3");
    // Compute quota: a pod must declare what the quota tracks.
    s.kubectl_ok(K, &["create", "quota", "cpu", "-n", "q", "--hard=requests.cpu=1"]);
    let err = create_err(&s, "p.yaml", &pod("p", "q", "", ""));
    assert!(
        err.contains("pods \"p\" is forbidden: failed quota: cpu: must specify requests.cpu"),
        "{err}"
    );
    let big = "    resources:\n      requests:\n        cpu: \"2\"\n";
    let err = create_err(&s, "p2.yaml", &pod("p2", "q", big, ""));
    assert!(
        err.contains("exceeded quota: cpu, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1"),
        "{err}"
    );
}

#[test]
fn pod_security_enforce_and_warn() {
    // Privileged containers pass validation only with --allow-privileged (kubeadm sets it).
    let s = TestServer::start_with(&["--allow-privileged=true"]);
    s.kubectl_ok(K, &["create", "namespace", "strict"]);
    s.kubectl_ok(
        K,
        &[
            "label",
            "namespace",
            "strict",
            "pod-security.kubernetes.io/enforce=restricted",
        ],
    );
    let privileged = "    securityContext:\n      privileged: true\n";
    let err = create_err(&s, "priv.yaml", &pod("priv", "strict", privileged, ""));
    assert!(
        err.contains(
            "pods \"priv\" is forbidden: violates PodSecurity \"restricted:latest\": privileged (container \"c\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        ),
        "{err}"
    );
    let good_c =
        "    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities:\n        drop: [\"ALL\"]\n";
    let good_s = "  securityContext:\n    runAsNonRoot: true\n    seccompProfile:\n      type: RuntimeDefault\n";
    create_ok(&s, "good.yaml", &pod("good", "strict", good_c, good_s));
    // warn: admitted with a Warning header kubectl prints.
    s.kubectl_ok(K, &["create", "namespace", "lax"]);
    s.kubectl_ok(
        K,
        &["label", "namespace", "lax", "pod-security.kubernetes.io/warn=baseline"],
    );
    let (_, stderr) = create_ok(&s, "w.yaml", &pod("w", "lax", privileged, ""));
    assert!(
        stderr.contains("Warning: would violate PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)"),
        "{stderr}"
    );
}

#[test]
fn namespace_lifecycle_service_account_and_pod_defaults() {
    let s = TestServer::start_with(&["--enable-admission-plugins=AlwaysPullImages"]);
    let err = s.kubectl_err(K, &["delete", "namespace", "kube-system"]);
    assert!(
        err.contains("namespaces \"kube-system\" is forbidden: this namespace may not be deleted"),
        "{err}"
    );
    let err = s.kubectl_err(K, &["create", "configmap", "x", "-n", "nope"]);
    assert!(err.contains("namespaces \"nope\" not found"), "{err}");

    s.kubectl_ok(K, &["create", "namespace", "apps"]);
    s.kubectl_ok(K, &["create", "serviceaccount", "default", "-n", "apps"]);
    create_ok(
        &s,
        "p.yaml",
        &pod("p", "apps", "    imagePullPolicy: IfNotPresent\n", ""),
    );
    let get = |path: &str| jsonpath(&s, &["pod", "p", "-n", "apps"], path);
    assert_eq!(get("{.spec.serviceAccountName}"), "default");
    assert!(get("{.spec.volumes[0].name}").starts_with("kube-api-access-"));
    assert_eq!(
        get("{.spec.containers[0].volumeMounts[0].mountPath}"),
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(get("{.spec.containers[0].imagePullPolicy}"), "Always");
    assert_eq!(
        get("{.spec.tolerations[*].key}"),
        "node.kubernetes.io/not-ready node.kubernetes.io/unreachable"
    );
    assert_eq!(get("{.spec.tolerations[0].tolerationSeconds}"), "300");
    assert_eq!(get("{.spec.priority}"), "0");
    // automountServiceAccountToken: false on the account: no token volume.
    apply(
        &s,
        "sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: quiet\n  namespace: apps\nautomountServiceAccountToken: false\n",
    );
    create_ok(&s, "q.yaml", &pod("q", "apps", "", "  serviceAccountName: quiet\n"));
    assert_eq!(jsonpath(&s, &["pod", "q", "-n", "apps"], "{.spec.volumes}"), "");
    let err = create_err(&s, "m.yaml", &pod("m", "apps", "", "  serviceAccountName: missing\n"));
    assert!(
        err.contains("pods \"m\" is forbidden: error looking up service account apps/missing: serviceaccount \"missing\" not found"),
        "{err}"
    );
    // Priority.
    create_ok(
        &s,
        "crit.yaml",
        &pod("crit", "apps", "", "  priorityClassName: system-cluster-critical\n"),
    );
    assert_eq!(
        jsonpath(&s, &["pod", "crit", "-n", "apps"], "{.spec.priority}"),
        "2000000000"
    );
    let err = create_err(&s, "np.yaml", &pod("np", "apps", "", "  priorityClassName: nope\n"));
    assert!(
        err.contains("pods \"np\" is forbidden: no PriorityClass with name nope was found"),
        "{err}"
    );
}

#[test]
fn limit_ranger_defaults_and_max() {
    let s = TestServer::start();
    s.kubectl_ok(K, &["create", "namespace", "lr"]);
    apply(
        &s,
        "lr.yaml",
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr\n  namespace: lr\nspec:\n  limits:\n  - type: Container\n    default:\n      cpu: 500m\n    defaultRequest:\n      cpu: 100m\n    max:\n      cpu: \"1\"\n",
    );
    create_ok(&s, "p.yaml", &pod("p", "lr", "", ""));
    let get = |path: &str| jsonpath(&s, &["pod", "p", "-n", "lr"], path);
    assert_eq!(get("{.spec.containers[0].resources.requests.cpu}"), "100m");
    assert_eq!(get("{.spec.containers[0].resources.limits.cpu}"), "500m");
    assert_eq!(
        get("{.metadata.annotations.kubernetes\\.io/limit-ranger}"),
        "LimitRanger plugin set: cpu request for container c; cpu limit for container c"
    );
    let big = "    resources:\n      limits:\n        cpu: \"2\"\n";
    let err = create_err(&s, "big.yaml", &pod("big", "lr", big, ""));
    assert!(
        err.contains("pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"),
        "{err}"
    );
    // DefaultStorageClass + StorageObjectInUseProtection on a new PVC.
    apply(
        &s,
        "sc.yaml",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast\n  annotations:\n    storageclass.kubernetes.io/is-default-class: \"true\"\nprovisioner: example.com/fast\n",
    );
    create_ok(
        &s,
        "pvc.yaml",
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: lr\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
    );
    let get = |path: &str| jsonpath(&s, &["pvc", "data", "-n", "lr"], path);
    assert_eq!(get("{.spec.storageClassName}"), "fast");
    assert_eq!(get("{.metadata.finalizers}"), "[\"kubernetes.io/pvc-protection\"]");
    // RuntimeClass: a missing class is refused.
    let err = create_err(&s, "rc.yaml", &pod("rc", "lr", "", "  runtimeClassName: gvisor\n"));
    assert!(
        err.contains("pods \"rc\" is forbidden: pod rejected: RuntimeClass \"gvisor\" not found"),
        "{err}"
    );
}

#[test]
fn always_deny_node_restriction_and_unknown_plugin() {
    let s = TestServer::start_with(&["--enable-admission-plugins=NodeRestriction"]);
    let node = |n: &str| format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {n}\n");
    let p = s.write_file("n2.yaml", &node("n2"));
    let as_node = ["--as=system:node:n1", "--as-group=system:nodes"];
    let out = s.kubectl(
        K,
        &[&as_node[..], &["create", "-f", p.to_str().unwrap_or_default()]].concat(),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(
        err.contains("nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""),
        "{err}"
    );
    let p = s.write_file("n1.yaml", &node("n1"));
    let out = s.kubectl(
        K,
        &[&as_node[..], &["create", "-f", p.to_str().unwrap_or_default()]].concat(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // TaintNodesByCondition (default on) tainted the new node.
    assert_eq!(
        jsonpath(&s, &["node", "n1"], "{.spec.taints[0].key}"),
        "node.kubernetes.io/not-ready"
    );
    drop(s);

    let s = TestServer::start_with(&["--enable-admission-plugins=AlwaysDeny"]);
    let err = s.kubectl_err(K, &["create", "configmap", "x"]);
    assert!(
        err.contains("configmaps \"x\" is forbidden: admission control is denying all modifications"),
        "{err}"
    );
    drop(s);

    let err = TestServer::builder()
        .arg("--authorization-mode=AlwaysAllow")
        .arg("--enable-admission-plugins=NamespaceLifecycle,Bogus")
        .start_fails();
    assert!(
        err.contains("enable-admission-plugins plugin \"Bogus\" is unknown"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// A real HTTPS admission webhook.

struct Hook {
    port: u16,
    ca_pem: String,
    _rt: tokio::runtime::Runtime,
}

fn review_response(req: &serde_json::Value, path: &str) -> serde_json::Value {
    let uid = req.pointer("/request/uid").cloned().unwrap_or_default();
    let obj = req.pointer("/request/object").cloned().unwrap_or_default();
    let name = obj.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("");
    let mut resp = serde_json::json!({"uid": uid, "allowed": true});
    let replicas = obj.pointer("/spec/replicas").and_then(|r| r.as_i64()).unwrap_or(0);
    if path == "/connect" {
        let cmd = obj.pointer("/command/0").and_then(|c| c.as_str()).unwrap_or("");
        resp["allowed"] = serde_json::json!(false);
        resp["status"] = serde_json::json!({"code": 403, "message": format!("exec of {cmd} not allowed")});
    } else if path == "/scale" && obj.get("kind").and_then(|k| k.as_str()) == Some("Scale") && replicas > 5 {
        resp["allowed"] = serde_json::json!(false);
        resp["status"] = serde_json::json!({"code": 403, "message": "too many replicas"});
    } else if path.starts_with("/mutate") {
        let ops = if obj.pointer("/metadata/labels").is_some() {
            serde_json::json!([{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}])
        } else {
            serde_json::json!([{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}])
        };
        let b = base64::engine::general_purpose::STANDARD.encode(ops.to_string());
        resp["patch"] = serde_json::json!(b);
        resp["patchType"] = serde_json::json!("JSONPatch");
    } else if name.starts_with("deny-") {
        resp["allowed"] = serde_json::json!(false);
        resp["status"] = serde_json::json!({"code": 403, "message": "name not allowed"});
    } else {
        resp["warnings"] = serde_json::json!(["checked by test webhook"]);
    }
    serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
}

fn start_hook() -> Hook {
    let ca = pki::Ca::new("webhook-ca");
    let acceptor = pki::tls_acceptor(&ca.server_cert(&["127.0.0.1", "hook.hooks.svc"]), None, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    use http_body_util::BodyExt;
                    let path = req.uri().path().to_string();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let out = review_response(&v, &path).to_string();
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from(out),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Hook {
        port,
        ca_pem: ca.pem,
        _rt: rt,
    }
}

#[test]
fn https_webhooks_mutate_deny_and_fail_policies() {
    let hook = start_hook();
    let ca = base64::engine::general_purpose::STANDARD.encode(&hook.ca_pem);
    let s = TestServer::start();
    for ns in ["hooked", "down-fail", "down-ignore"] {
        s.kubectl_ok(K, &["create", "namespace", ns]);
        s.kubectl_ok(K, &["label", "namespace", ns, &format!("hook={ns}")]);
    }
    let rules = "  rules:\n  - operations: [\"CREATE\"]\n    apiGroups: [\"\"]\n    apiVersions: [\"v1\"]\n    resources: [\"configmaps\"]\n  sideEffects: None\n  admissionReviewVersions: [\"v1\"]\n";
    let dead = capstan::testing::free_port();
    apply(
        &s,
        "hooks.yaml",
        &format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: label\nwebhooks:\n- name: label.capstan.test\n  clientConfig:\n    url: https://127.0.0.1:{port}/mutate\n    caBundle: {ca}\n  namespaceSelector:\n    matchLabels: {{hook: hooked}}\n{rules}---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: deny\nwebhooks:\n- name: deny.capstan.test\n  clientConfig:\n    url: https://127.0.0.1:{port}/validate\n    caBundle: {ca}\n  namespaceSelector:\n    matchLabels: {{hook: hooked}}\n{rules}- name: down-fail.capstan.test\n  failurePolicy: Fail\n  timeoutSeconds: 2\n  clientConfig:\n    url: https://127.0.0.1:{dead}/validate\n    caBundle: {ca}\n  namespaceSelector:\n    matchLabels: {{hook: down-fail}}\n{rules}- name: down-ignore.capstan.test\n  failurePolicy: Ignore\n  timeoutSeconds: 2\n  clientConfig:\n    url: https://127.0.0.1:{dead}/validate\n    caBundle: {ca}\n  namespaceSelector:\n    matchLabels: {{hook: down-ignore}}\n{rules}",
            port = hook.port
        ),
    );
    // Mutation (JSONPatch adds a label) and the validating webhook's warning.
    let out = s.kubectl(K, &["create", "configmap", "ok", "-n", "hooked"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}\n{}", s.log());
    assert!(stderr.contains("Warning: checked by test webhook"), "{stderr}");
    assert_eq!(
        jsonpath(&s, &["configmap", "ok", "-n", "hooked"], "{.metadata.labels.mutated}"),
        "yes"
    );
    // Denial with the webhook's code and upstream's wording.
    let err = s.kubectl_err(K, &["create", "configmap", "deny-me", "-n", "hooked"]);
    assert!(
        err.contains("admission webhook \"deny.capstan.test\" denied the request: name not allowed"),
        "{err}"
    );
    // Namespaces the selectors don't pick are untouched.
    s.kubectl_ok(K, &["create", "configmap", "deny-me", "-n", "default"]);
    assert_eq!(
        jsonpath(&s, &["configmap", "deny-me", "-n", "default"], "{.metadata.labels}"),
        ""
    );
    // Webhook down: Fail rejects, Ignore admits.
    let err = s.kubectl_err(K, &["create", "configmap", "x", "-n", "down-fail"]);
    assert!(
        err.contains("Internal error occurred: failed calling webhook \"down-fail.capstan.test\""),
        "{err}"
    );
    s.kubectl_ok(K, &["create", "configmap", "x", "-n", "down-ignore"]);
}

#[test]
fn webhooks_on_connect_scale_and_equivalent_resources() {
    let hook = start_hook();
    let ca = base64::engine::general_purpose::STANDARD.encode(&hook.ca_pem);
    let s = TestServer::start();
    let hookdef = |name: &str, path: &str, policy: &str, rule: &str| {
        format!(
            "- name: {name}\n  matchPolicy: {policy}\n  clientConfig:\n    url: https://127.0.0.1:{port}{path}\n    caBundle: {ca}\n  rules:\n  - {rule}\n  sideEffects: None\n  admissionReviewVersions: [\"v1\"]\n",
            port = hook.port
        )
    };
    let yaml = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: v\nwebhooks:\n{}{}{}{}",
        hookdef("connect.capstan.test", "/connect", "Equivalent", "{operations: [CONNECT], apiGroups: [\"\"], apiVersions: [v1], resources: [pods/exec]}"),
        hookdef("scale.capstan.test", "/scale", "Equivalent", "{operations: [UPDATE], apiGroups: [apps], apiVersions: [v1], resources: [deployments/scale]}"),
        hookdef("events-eq.capstan.test", "/validate", "Equivalent", "{operations: [CREATE], apiGroups: [events.k8s.io], apiVersions: [v1], resources: [events]}"),
        hookdef("events-exact.capstan.test", "/validate", "Exact", "{operations: [CREATE], apiGroups: [events.k8s.io], apiVersions: [v1], resources: [events]}"),
    );
    apply(&s, "v.yaml", &yaml);
    // CONNECT: the exec is refused by the webhook before any kubelet is dialled.
    create_ok(&s, "p.yaml", &pod("p", "default", "", ""));
    let err = s.kubectl_err(K, &["exec", "p", "--", "whoami"]);
    assert!(
        err.contains("admission webhook \"connect.capstan.test\" denied the request: exec of whoami not allowed"),
        "{err}"
    );
    // deployments/scale: the webhook sees the Scale.
    s.kubectl_ok(K, &["create", "deployment", "d", "--image=nginx"]);
    s.kubectl_ok(K, &["scale", "deployment", "d", "--replicas=3"]);
    let err = s.kubectl_err(K, &["scale", "deployment", "d", "--replicas=9"]);
    assert!(
        err.contains("admission webhook \"scale.capstan.test\" denied the request: too many replicas"),
        "{err}"
    );
    assert_eq!(jsonpath(&s, &["deployment", "d"], "{.spec.replicas}"), "3");
    // matchPolicy: a rule on events.k8s.io events also sees core/v1 events (Equivalent), the
    // Exact one does not.
    let ev = "apiVersion: v1\nkind: Event\nmetadata:\n  name: deny-ev\n  namespace: default\ninvolvedObject:\n  kind: Pod\n  name: p\n  namespace: default\nreason: X\nmessage: m\n";
    let err = create_err(&s, "ev.yaml", ev);
    assert!(
        err.contains("admission webhook \"events-eq.capstan.test\" denied the request: name not allowed"),
        "{err}"
    );
    s.kubectl_ok(K, &["delete", "validatingwebhookconfiguration", "v"]);
    let yaml = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata:\n  name: exact\nwebhooks:\n{}",
        hookdef("events-exact.capstan.test", "/validate", "Exact", "{operations: [CREATE], apiGroups: [events.k8s.io], apiVersions: [v1], resources: [events]}"),
    );
    apply(&s, "exact.yaml", &yaml);
    create_ok(&s, "ev2.yaml", ev);
}

#[test]
fn csr_approve_needs_approve_on_the_signer() {
    let s = TestServer::start();
    let req = base64::engine::general_purpose::STANDARD.encode(pki::csr("someone"));
    create_ok(
        &s,
        "csr.yaml",
        &format!("apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: csr1\nspec:\n  signerName: example.com/my-signer\n  usages: [client auth]\n  request: {req}\n"),
    );
    // alice may update approvals, but not approve for this signer yet.
    apply(
        &s,
        "rbac.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: csr-approver\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests]\n  verbs: [get, list]\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests/approval]\n  verbs: [update]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: csr-approver\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-approver}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}\n",
    );
    let err = s.kubectl_err(K, &["certificate", "approve", "csr1", "--as=alice"]);
    assert!(
        err.contains("certificatesigningrequests.certificates.k8s.io \"csr1\" is forbidden: user not permitted to approve requests with signerName \"example.com/my-signer\""),
        "{err}"
    );
    // `approve` on the signer's domain wildcard is enough.
    apply(
        &s,
        "signer.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: signer-approve\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [signers]\n  resourceNames: [\"example.com/*\"]\n  verbs: [approve]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: signer-approve\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: signer-approve}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}\n",
    );
    let out = s.kubectl_ok(K, &["certificate", "approve", "csr1", "--as=alice"]);
    assert!(
        out.contains("certificatesigningrequest.certificates.k8s.io/csr1 approved"),
        "{out}"
    );
    // The approval subresource stored the condition (and only the conditions).
    let cond = s.kubectl_ok(
        K,
        &[
            "get",
            "csr",
            "csr1",
            "-o",
            "jsonpath={.status.conditions[0].type}/{.status.conditions[0].status}",
        ],
    );
    assert_eq!(cond, "Approved/True");
}

#[test]
fn quota_charges_updates_and_scoped_quotas() {
    let s = TestServer::start();
    s.kubectl_ok(K, &["create", "namespace", "q"]);
    // An update charges what it adds: a Service turned NodePort takes its node ports.
    s.kubectl_ok(K, &["create", "quota", "np", "-n", "q", "--hard=services.nodeports=1"]);
    s.kubectl_ok(K, &["create", "service", "clusterip", "s1", "-n", "q", "--tcp=80:80"]);
    s.kubectl_ok(K, &["create", "service", "clusterip", "s2", "-n", "q", "--tcp=80:80"]);
    let to_node_port = ["-n", "q", "--type=merge", "-p", r#"{"spec":{"type":"NodePort"}}"#];
    s.kubectl_ok(K, &[&["patch", "service", "s1"][..], &to_node_port[..]].concat());
    assert_eq!(used(&s, "np", "services.nodeports"), "1");
    let err = s.kubectl_err(K, &[&["patch", "service", "s2"][..], &to_node_port[..]].concat());
    assert!(
        err.contains("services \"s2\" is forbidden: exceeded quota: np, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"),
        "{err}"
    );
    // Back to ClusterIP gives nothing back in admission (upstream's non-negative delta; the
    // quota controller recounts), and a port no longer taken is not charged again.
    s.kubectl_ok(
        K,
        &[
            "patch",
            "service",
            "s1",
            "-n",
            "q",
            "--type=merge",
            "-p",
            r#"{"spec":{"type":"ClusterIP","ports":[{"port":80,"targetPort":80,"nodePort":null}]}}"#,
        ],
    );
    assert_eq!(used(&s, "np", "services.nodeports"), "1");
    let err = s.kubectl_err(K, &[&["patch", "service", "s2"][..], &to_node_port[..]].concat());
    assert!(err.contains("exceeded quota: np"), "{err}");
    s.kubectl_ok(K, &["label", "service", "s1", "-n", "q", "touched=yes"]);
    assert_eq!(used(&s, "np", "services.nodeports"), "1");
    let burst = "    resources:\n      requests:\n        cpu: 200m\n";
    // A BestEffort-scoped quota counts only BestEffort pods.
    apply(
        &s,
        "be.yaml",
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: be\n  namespace: q\nspec:\n  hard: {pods: \"1\"}\n  scopes: [BestEffort]\n",
    );
    create_ok(&s, "b1.yaml", &pod("b1", "q", "", ""));
    let err = create_err(&s, "b2.yaml", &pod("b2", "q", "", ""));
    assert!(
        err.contains("pods \"b2\" is forbidden: exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1"),
        "{err}"
    );
    create_ok(&s, "nb.yaml", &pod("nb", "q", burst, ""));
    assert_eq!(used(&s, "be", "pods"), "1");
}

/// `etcd_request_duration_seconds_count{operation="getRevision"}`: how many times the server
/// asked storage for its current revision (what a consistent read costs).
fn revision_reads(s: &TestServer) -> u64 {
    let m = s.kubectl_ok(K, &["get", "--raw", "/metrics"]);
    m.lines()
        .find(|l| l.starts_with("etcd_request_duration_seconds_count{operation=\"getRevision\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn admission_reads_the_watch_cache_not_storage_per_write() {
    let s = TestServer::start();
    s.kubectl_ok(K, &["create", "namespace", "lr"]);
    // A LimitRange created just before the pod still applies: the cache has it, or the
    // plugin's live lookup (when the cache has none yet) does.
    create_ok(
        &s,
        "lr.yaml",
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: d, namespace: lr}\nspec:\n  limits:\n  - type: Container\n    defaultRequest: {cpu: 123m}\n",
    );
    create_ok(
        &s,
        "p.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: lr}\nspec:\n  containers: [{name: c, image: nginx}]\n",
    );
    let cpu = s.kubectl_ok(
        K,
        &[
            "-n",
            "lr",
            "get",
            "pod",
            "p",
            "-o",
            "jsonpath={.spec.containers[0].resources.requests.cpu}",
        ],
    );
    assert_eq!(cpu.trim(), "123m");
    // Writes read webhook configurations, LimitRanges and PriorityClasses from the cache, as
    // upstream's plugins read listers: 20 writes cost no consistent read each (before, two
    // webhook-configuration lists per write did).
    let before = revision_reads(&s);
    for i in 0..20 {
        s.kubectl_ok(K, &["-n", "lr", "create", "configmap", &format!("c{i}")]);
    }
    let after = revision_reads(&s);
    assert!(
        after - before < 20,
        "20 ConfigMap creates asked storage for its revision {} times",
        after - before
    );
}

/// A stub admission webhook: `/add` patches a sidecar container into pods; everything is
/// allowed and recorded.
fn chain_stub() -> common::https_stub::HttpsStub {
    common::https_stub::HttpsStub::start(|seen| {
        let uid = seen.body.pointer("/request/uid").cloned().unwrap_or_default();
        let mut resp = serde_json::json!({"uid": uid, "allowed": true});
        if seen.path == "/add" {
            let ops = serde_json::json!([{"op": "add", "path": "/spec/containers/-", "value": {"name": "sidecar", "image": "busybox"}}]);
            resp["patch"] = serde_json::json!(base64::engine::general_purpose::STANDARD.encode(ops.to_string()));
            resp["patchType"] = serde_json::json!("JSONPatch");
        }
        (
            200,
            serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}),
        )
    })
}

/// The objects a stub webhook path received, in order.
fn received(stub: &common::https_stub::HttpsStub, path: &str) -> Vec<serde_json::Value> {
    stub.seen()
        .into_iter()
        .filter(|s| s.path == path)
        .map(|s| s.body["request"].clone())
        .collect()
}

/// Upstream's mutating webhook dispatcher defaults the object after each webhook's patch: the
/// second webhook sees the sidecar the first added with the Pod defaults filled in (what
/// upstream v1.33.13 sends it, recorded with the same two webhooks).
#[test]
fn each_webhook_patch_is_defaulted_before_the_next_webhook() {
    let stub = chain_stub();
    let ca = base64::engine::general_purpose::STANDARD.encode(&stub.ca_pem);
    let s = TestServer::start();
    let hook = |config: &str, name: &str, path: &str| {
        format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {{name: {config}}}\nwebhooks:\n- name: {name}\n  clientConfig: {{url: \"{url}\", caBundle: \"{ca}\"}}\n  rules: [{{operations: [CREATE], apiGroups: [\"\"], apiVersions: [v1], resources: [pods]}}]\n  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: chain}}}}\n  sideEffects: None\n  admissionReviewVersions: [v1]\n",
            url = stub.url(path)
        )
    };
    apply(
        &s,
        "chain.yaml",
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: chain}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: default, namespace: chain}}\n---\n{}---\n{}",
            hook("a-add-sidecar", "add.capstan.test", "/add"),
            hook("b-observe", "observe.capstan.test", "/observe")
        ),
    );
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: chain}\nspec:\n  automountServiceAccountToken: false\n  containers: [{name: main, image: nginx:1.27}]\n";
    create_ok(&s, "pod.yaml", pod);
    let added = received(&stub, "/add");
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(
        added[0]
            .pointer("/object/spec/containers")
            .map(|c| c.as_array().map(Vec::len)),
        Some(Some(1))
    );
    let observed = received(&stub, "/observe");
    assert_eq!(observed.len(), 1, "{observed:?}");
    assert_eq!(
        observed[0].pointer("/object/spec/containers/1"),
        Some(&serde_json::json!({
            "name": "sidecar",
            "image": "busybox",
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "Always"
        }))
    );
}

/// Under matchPolicy Equivalent a webhook's matchConditions see the request's own resource in
/// `request.resource` (upstream's matcher builds `request` from the request's resource and the
/// matched version's kind), while the AdmissionReview names the matched resource.
#[test]
fn webhook_match_conditions_see_the_requests_own_resource() {
    let stub = chain_stub();
    let ca = base64::engine::general_purpose::STANDARD.encode(&stub.ca_pem);
    let s = TestServer::start();
    apply(
        &s,
        "hook.yaml",
        &format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {{name: eq-conditions}}\nwebhooks:\n- name: eq.capstan.test\n  clientConfig: {{url: \"{url}\", caBundle: \"{ca}\"}}\n  matchPolicy: Equivalent\n  rules: [{{operations: [CREATE], apiGroups: [events.k8s.io], apiVersions: [v1], resources: [events]}}]\n  failurePolicy: Fail\n  matchConditions:\n  - name: own-resource\n    expression: \"request.resource.group == '' && request.requestResource.group == '' && request.kind.group == 'events.k8s.io'\"\n  sideEffects: None\n  admissionReviewVersions: [v1]\n",
            url = stub.url("/eq")
        ),
    );
    let ev = "apiVersion: v1\nkind: Event\nmetadata:\n  name: eq-ev\n  namespace: default\ninvolvedObject:\n  kind: Pod\n  name: p\n  namespace: default\nreason: X\nmessage: m\n";
    create_ok(&s, "ev.yaml", ev);
    let seen = received(&stub, "/eq");
    assert_eq!(seen.len(), 1, "the condition matched the core/v1 request");
    assert_eq!(
        seen[0].pointer("/resource/group"),
        Some(&serde_json::json!("events.k8s.io"))
    );
    assert_eq!(seen[0].pointer("/requestResource/group"), Some(&serde_json::json!("")));
}

/// Webhook matchConditions see `authorizer` and `authorizer.requestResource` (asked for the
/// request's user) and a null `namespaceObject` (upstream declares it for webhooks but binds
/// nothing); a condition that fails under failurePolicy Fail refuses the request with a 403
/// on the resource. Expected outcomes and texts: upstream v1.33.13 on the same configuration.
#[test]
fn webhook_match_conditions_ask_the_authorizer() {
    let stub = chain_stub();
    let ca = base64::engine::general_purpose::STANDARD.encode(&stub.ca_pem);
    let s = TestServer::start();
    let webhook = |name: &str, path: &str, conditions: &str| {
        format!(
            "- name: {name}\n  clientConfig: {{url: \"{url}\", caBundle: \"{ca}\"}}\n  rules: [{{operations: [CREATE], apiGroups: [\"\"], apiVersions: [v1], resources: [configmaps]}}]\n  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: authz}}}}\n  failurePolicy: Fail\n  matchConditions:\n{conditions}  sideEffects: None\n  admissionReviewVersions: [v1]\n",
            url = stub.url(path)
        )
    };
    let roles = std::fs::read_to_string(format!(
        "{}/tests/fixtures/policy/authz_policy.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    // The namespace, roles and bindings of the policy fixture, without its policies.
    let roles: String = roles
        .split("\n---\n")
        .filter(|d| !d.contains("kind: ValidatingAdmissionPolicy"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    apply(
        &s,
        "hooks.yaml",
        &format!(
            "{roles}\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {{name: conditions}}\nwebhooks:\n{}{}",
            webhook(
                "can-list.capstan.test",
                "/can-list",
                "  - name: can-list\n    expression: \"authorizer.group('').resource('configmaps').namespace(object.metadata.namespace).check('list').allowed()\"\n  - name: request-resource\n    expression: \"authorizer.requestResource.check('update').allowed()\"\n"
            ),
            webhook(
                "namespace-object.capstan.test",
                "/ns",
                "  - name: ns-labels\n    expression: \"object.metadata.name != 'ns-check' || namespaceObject.metadata.name == 'authz'\"\n"
            ),
        ),
    );
    for user in ["alice", "bob", "carol"] {
        let out = s.kubectl(
            K,
            &[
                "--as",
                user,
                "create",
                "cm",
                &format!("c-{user}"),
                "-n",
                "authz",
                "--dry-run=server",
            ],
        );
        assert!(out.status.success(), "{user}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let users = |path: &str| -> Vec<String> {
        received(&stub, path)
            .iter()
            .map(|r| {
                r.pointer("/userInfo/username")
                    .and_then(|u| u.as_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    // Only alice may list and update configmaps.
    assert_eq!(users("/can-list"), ["alice"]);
    assert_eq!(users("/ns"), ["alice", "bob", "carol"]);
    let err = s.kubectl_err(K, &["create", "cm", "ns-check", "-n", "authz", "--dry-run=server"]);
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"ns-check\" is forbidden: expression 'object.metadata.name != 'ns-check' || namespaceObject.metadata.name == 'authz'' resulted in error: no such key: metadata"
    );
    assert_eq!(users("/ns").len(), 3);
}
