//! Auditing end to end: a real server with `--audit-policy-file` and `--audit-log-path`, real
//! kubectl creating, reading and deleting a ConfigMap, and the exact events in the log.

mod common;

use common::{eventually_async, matching, secs, TestServer};
use serde_json::Value;

const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: RequestResponse
    verbs: ["create", "delete"]
    resources:
      - group: ""
        resources: ["configmaps"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["configmaps"]
  - level: None
"#;

fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
        .collect()
}

/// A server auditing to `<tmp>/audit.log` under `policy`, plus `extra` flags. Keep the returned
/// dir alive for the test (the policy and log live there).
fn audited(policy: &str, extra: &[&str]) -> (TestServer, tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy_path = dir.path().join("policy.yaml");
    std::fs::write(&policy_path, policy).expect("write policy");
    let log = dir.path().join("audit.log");
    let mut args = vec![
        "--audit-policy-file",
        policy_path.to_str().expect("utf-8"),
        "--audit-log-path",
        log.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let s = TestServer::start_with(&args);
    (s, dir, policy_path, log)
}

#[tokio::test]
async fn kubectl_configmap_lifecycle_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("write policy");
    let log = dir.path().join("audit").join("audit.log");
    let s = TestServer::start_with(&[
        "--audit-policy-file",
        policy.to_str().expect("utf-8"),
        "--audit-log-path",
        log.to_str().expect("utf-8"),
    ]);
    let cm = s.write_file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: audit-cm\n  namespace: default\ndata:\n  k: v\n",
    );
    let v = "1.33";
    s.kubectl_ok(v, &["create", "-f", cm.to_str().expect("utf-8")]);
    let got = s.kubectl_ok(v, &["get", "configmap", "audit-cm", "-n", "default", "-o", "json"]);
    assert!(got.contains("\"audit-cm\""), "{got}");
    s.kubectl_ok(v, &["delete", "configmap", "audit-cm", "-n", "default", "--wait=false"]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).expect("audit log exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let all = events(&log);
    // The None rule silences discovery and everything else; RequestReceived is omitted.
    for e in &all {
        assert_eq!(e["kind"], "Event");
        assert_eq!(e["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(e["stage"], "ResponseComplete", "{e}");
        assert_eq!(e["objectRef"]["resource"], "configmaps", "{e}");
        assert_eq!(e["user"]["username"], "kubernetes-admin", "{e}");
        assert!(
            e["user"]["groups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g == "system:masters")),
            "{e}"
        );
        assert!(e["userAgent"].as_str().is_some_and(|u| u.starts_with("kubectl")), "{e}");
        assert_eq!(e["annotations"]["authorization.k8s.io/decision"], "allow");
        let ts = e["stageTimestamp"].as_str().unwrap_or_default();
        assert_eq!(ts.len(), "2026-01-02T03:04:05.123456Z".len(), "{e}");
        assert!(
            uuid::Uuid::parse_str(e["auditID"].as_str().unwrap_or_default()).is_ok(),
            "{e}"
        );
    }
    let summary: Vec<(String, String, u64)> = all
        .iter()
        .map(|e| {
            (
                e["verb"].as_str().unwrap_or_default().to_string(),
                e["level"].as_str().unwrap_or_default().to_string(),
                e["responseStatus"]["code"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want = |v: &str, l: &str, c: u64| (v.to_string(), l.to_string(), c);
    assert_eq!(
        summary,
        vec![
            want("create", "RequestResponse", 201),
            want("get", "Metadata", 200),
            want("delete", "RequestResponse", 200),
        ],
        "events: {all:#?}"
    );
    let (create, get, delete) = (&all[0], &all[1], &all[2]);
    assert_eq!(
        create["objectRef"],
        serde_json::json!({"resource": "configmaps", "namespace": "default", "name": "audit-cm", "apiVersion": "v1"})
    );
    assert_eq!(create["requestObject"]["data"], serde_json::json!({"k": "v"}));
    assert_eq!(create["responseObject"]["metadata"]["name"], "audit-cm");
    assert!(create["responseObject"]["metadata"]["uid"].is_string());
    assert!(create["requestURI"]
        .as_str()
        .is_some_and(|u| u.starts_with("/api/v1/namespaces/default/configmaps")));
    assert!(get.get("requestObject").is_none() && get.get("responseObject").is_none());
    assert_eq!(get["requestURI"], "/api/v1/namespaces/default/configmaps/audit-cm");
    assert_eq!(get["objectRef"]["name"], "audit-cm");
    assert_eq!(delete["objectRef"]["name"], "audit-cm");
    assert_eq!(delete["responseStatus"]["status"], "Success");

    // The Audit-ID header names the event; a client-sent Audit-ID is kept.
    let client = s.kube_client().await;
    let r = common::http::get(&client, "/api/v1/namespaces/default/configmaps/missing", None).await;
    r.expect_status(404, "NotFound");
    let id = r
        .headers
        .get("audit-id")
        .and_then(|h| h.to_str().ok())
        .expect("Audit-ID header")
        .to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let r = common::http::raw(
        &client,
        http::Method::GET,
        "/api/v1/namespaces/default/configmaps/missing2",
        &[("Audit-ID", "client-chosen-id")],
        Vec::new(),
    )
    .await;
    assert_eq!(
        r.headers.get("audit-id").and_then(|h| h.to_str().ok()),
        Some("client-chosen-id")
    );
    // A non-audited request still gets an Audit-ID.
    let r = common::http::get(&client, "/version", None).await;
    assert!(r.headers.get("audit-id").is_some());

    let all = events(&log);
    assert_eq!(all.len(), 5, "events: {all:#?}");
    let missing = &all[3];
    assert_eq!(missing["auditID"], id.as_str());
    assert_eq!(missing["level"], "Metadata");
    assert_eq!(missing["responseStatus"]["code"], 404);
    assert_eq!(missing["responseStatus"]["reason"], "NotFound");
    assert_eq!(missing["responseStatus"]["message"], "configmaps \"missing\" not found");
    assert_eq!(all[4]["auditID"], "client-chosen-id");

    let metrics = common::http::get(&client, "/metrics", None).await.text();
    assert!(metrics.contains("apiserver_audit_event_total 5\n"), "{metrics}");
    assert!(
        metrics.contains("apiserver_audit_error_total{plugin=\"log\"} 0\n"),
        "{metrics}"
    );
}

/// Batch mode, all stages: a watch gets RequestReceived, ResponseStarted and (when it ends)
/// ResponseComplete, each with the same auditID.
#[tokio::test]
async fn watch_stages_in_batch_mode() {
    let (s, _dir, _, log) = audited(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n    resources: [{group: \"\", resources: [configmaps]}]\n",
        &["--audit-log-mode", "batch", "--audit-log-batch-max-size", "100", "--audit-log-batch-max-wait", "50ms"],
    );
    let client = s.kube_client().await;
    let r = common::http::get(
        &client,
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1",
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let id = r
        .headers
        .get("audit-id")
        .and_then(|h| h.to_str().ok())
        .expect("Audit-ID header")
        .to_string();
    let all = eventually_async("three audit events for the watch", secs(5), || async {
        matching(events(&log), |all| all.len() >= 3)
    })
    .await;
    let stages: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|e| {
            (
                e["stage"].as_str().unwrap_or_default(),
                e["verb"].as_str().unwrap_or_default(),
                e["auditID"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            ("RequestReceived", "watch", id.as_str()),
            ("ResponseStarted", "watch", id.as_str()),
            ("ResponseComplete", "watch", id.as_str()),
        ],
        "{all:#?}"
    );
    assert!(all[0].get("responseStatus").is_none());
    assert_eq!(all[1]["responseStatus"]["code"], 200);
    assert_eq!(all[2]["responseStatus"]["code"], 200);
    assert!(all.iter().all(|e| e["level"] == "Metadata"));
    let metrics = common::http::get(&client, "/metrics", None).await.text();
    assert!(
        metrics.contains("apiserver_audit_error_total{plugin=\"buffered\"} 0\n"),
        "{metrics}"
    );
}

/// Blocking mode writes an event before the response goes out: SIGKILL right after the last
/// acknowledged request loses none of them.
#[tokio::test]
async fn blocking_mode_survives_kill9() {
    let (mut s, _dir, _, log) = audited(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Request\n    verbs: [create]\n",
        &["--audit-log-mode", "blocking"],
    );
    let client = s.kube_client().await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let body =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("k9-{i}")}});
        let r = common::http::raw(
            &client,
            http::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            &[("Content-Type", "application/json")],
            serde_json::to_vec(&body).expect("json"),
        )
        .await;
        assert_eq!(r.status.as_u16(), 201, "{}", r.text());
        ids.push(
            r.headers
                .get("audit-id")
                .and_then(|h| h.to_str().ok())
                .expect("Audit-ID")
                .to_string(),
        );
    }
    s.kill9();
    let all = events(&log);
    let logged: Vec<(&str, &str)> = all
        .iter()
        .map(|e| {
            (
                e["auditID"].as_str().unwrap_or_default(),
                e["requestObject"]["metadata"]["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let names: Vec<String> = (0..50).map(|i| format!("k9-{i}")).collect();
    let want: Vec<(&str, &str)> = ids
        .iter()
        .map(String::as_str)
        .zip(names.iter().map(String::as_str))
        .collect();
    assert_eq!(logged, want);
}

/// A real HTTP receiver started by the test gets the events as EventList batches.
#[tokio::test]
async fn webhook_receives_batches() {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel::<(String, Value)>();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut r = std::io::BufReader::new(conn);
            let mut request_line = String::new();
            let _ = r.read_line(&mut request_line);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let _ = r
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((request_line, serde_json::from_slice(&body).unwrap_or(Value::Null)));
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n    resources: [{group: \"\", resources: [configmaps]}]\n",
    )
    .expect("write policy");
    let kc = dir.path().join("webhook.kubeconfig");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: sink\n  cluster:\n    server: http://127.0.0.1:{port}/events\ncontexts:\n- name: c\n  context: {{cluster: sink, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"),
    )
    .expect("write kubeconfig");
    let s = TestServer::start_with(&[
        "--audit-policy-file",
        policy.to_str().expect("utf-8"),
        "--audit-webhook-config-file",
        kc.to_str().expect("utf-8"),
        "--audit-webhook-batch-max-wait",
        "100ms",
    ]);
    let client = s.kube_client().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let body =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("wh-{i}")}});
        let r = common::http::raw(
            &client,
            http::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            &[("Content-Type", "application/json")],
            serde_json::to_vec(&body).expect("json"),
        )
        .await;
        assert_eq!(r.status.as_u16(), 201, "{}", r.text());
        ids.push(
            r.headers
                .get("audit-id")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        );
    }
    let mut got: Vec<Value> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while got.len() < 3 && std::time::Instant::now() < deadline {
        if let Ok((line, list)) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            assert!(line.starts_with("POST /events HTTP/1.1"), "{line}");
            assert_eq!(list["kind"], "EventList");
            assert_eq!(list["apiVersion"], "audit.k8s.io/v1");
            got.extend(list["items"].as_array().cloned().unwrap_or_default());
        }
    }
    let seen: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|e| {
            (
                e["auditID"].as_str().unwrap_or_default(),
                e["objectRef"]["name"].as_str().unwrap_or_default(),
                e["level"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (ids[0].as_str(), "wh-0", "Metadata"),
            (ids[1].as_str(), "wh-1", "Metadata"),
            (ids[2].as_str(), "wh-2", "Metadata"),
        ]
    );
}

/// A handler panic (injected in debug builds through `TEST_INJECT_PANIC_PATH`) answers 500,
/// writes a `Panic`-stage event instead of ResponseComplete, and the server keeps serving.
#[tokio::test]
async fn handler_panic_is_audited_at_the_panic_stage() {
    const PANIC_PATH: &str = "/api/v1/namespaces/default/configmaps/panic-injected";
    // Only this path panics, so setting it for the whole test process is harmless.
    std::env::set_var("TEST_INJECT_PANIC_PATH", PANIC_PATH);
    let (s, _dir, _, log) = audited(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n    resources: [{group: \"\", resources: [configmaps]}]\n  - level: None\n",
        &[],
    );
    let client = s.kube_client().await;
    let r = common::http::raw(&client, http::Method::GET, PANIC_PATH, &[], Vec::new()).await;
    assert_eq!(r.status.as_u16(), 500, "{}", r.text());
    let status: Value = serde_json::from_slice(&r.body).expect("Status JSON");
    assert_eq!(status["reason"], "InternalError", "{status}");
    let id = r
        .headers
        .get("audit-id")
        .and_then(|h| h.to_str().ok())
        .expect("Audit-ID")
        .to_string();
    // Still serving.
    let ok = common::http::raw(
        &client,
        http::Method::GET,
        "/api/v1/namespaces/default/configmaps",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(ok.status.as_u16(), 200);
    let panic_event = eventually_async(&format!("an audit event for {id}"), secs(5), || async {
        let all = events(&log);
        let event = all.iter().find(|e| e["auditID"] == id.as_str()).cloned();
        event.ok_or(format!("{all:#?}"))
    })
    .await;
    assert_eq!(panic_event["stage"], "Panic", "{panic_event}");
    assert_eq!(panic_event["responseStatus"]["code"], 500, "{panic_event}");
    assert_eq!(panic_event["objectRef"]["name"], "panic-injected");
    // Exactly one event for that request: Panic replaces ResponseComplete.
    assert_eq!(events(&log).iter().filter(|e| e["auditID"] == id.as_str()).count(), 1);
}

/// SIGHUP re-reads the audit policy at once (the file is also polled): a configmap create after
/// the reload is audited under the new policy.
#[tokio::test]
async fn sighup_reloads_the_audit_policy() {
    let (s, _dir, policy, log) = audited(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n",
        &[],
    );
    s.kubectl_ok("1.33", &["create", "configmap", "before-hup", "-n", "default"]);
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n    resources: [{group: \"\", resources: [configmaps]}]\n  - level: None\n",
    )
    .expect("policy");
    s.signal(libc::SIGHUP);
    eventually_async("the SIGHUP reload line", secs(10), || async {
        matching(s.log(), |log| log.contains("SIGHUP: audit policy reloaded"))
    })
    .await;
    s.kubectl_ok("1.33", &["create", "configmap", "after-hup", "-n", "default"]);
    let names: Vec<String> = events(&log)
        .iter()
        .filter(|e| e["verb"] == "create")
        .map(|e| e["objectRef"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, vec!["after-hup"], "only the create after the reload is audited");
}

/// `kubectl --as`: the event names the authenticated user and the impersonated one, and carries
/// the authorization decision for the impersonated user.
#[tokio::test]
async fn impersonated_requests_record_both_users() {
    let (s, _dir, _, log) = audited(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n    resources: [{group: \"\", resources: [configmaps]}]\n  - level: None\n",
        &[],
    );
    let err = s.kubectl_err(
        "1.33",
        &["get", "configmaps", "-n", "default", "--as=jane", "--as-group=devs"],
    );
    assert!(
        err.contains(r#"User "jane" cannot list resource "configmaps""#),
        "{err}"
    );
    s.kubectl_ok("1.33", &["get", "configmaps", "-n", "default"]);
    let all = events(&log);
    assert_eq!(all.len(), 2, "{all:#?}");
    let (denied, allowed) = (&all[0], &all[1]);
    assert_eq!(denied["user"]["username"], "kubernetes-admin");
    assert_eq!(denied["impersonatedUser"]["username"], "jane", "{denied}");
    assert_eq!(
        denied["impersonatedUser"]["groups"],
        serde_json::json!(["devs", "system:authenticated"]),
        "{denied}"
    );
    assert_eq!(denied["annotations"]["authorization.k8s.io/decision"], "forbid");
    assert_eq!(denied["responseStatus"]["code"], 403);
    assert!(allowed.get("impersonatedUser").is_none(), "{allowed}");
    assert_eq!(allowed["annotations"]["authorization.k8s.io/decision"], "allow");
}

/// Admission annotates the event: PodSecurity's policy and audit-mode violations.
#[tokio::test]
async fn admission_annotations_reach_the_event() {
    let (s, _dir, _, log) = audited(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n    verbs: [create]\n    resources: [{group: \"\", resources: [pods]}]\n  - level: None\n",
        &[],
    );
    let manifest = s.write_file(
        "ns-pod.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: psa\n  labels:\n    pod-security.kubernetes.io/audit: restricted\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: loose\n  namespace: psa\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    );
    s.kubectl_ok("1.33", &["create", "-f", manifest.to_str().expect("utf-8")]);
    let all = events(&log);
    let pod = all
        .iter()
        .find(|e| e["objectRef"]["name"] == "loose")
        .unwrap_or_else(|| panic!("no pod event: {all:#?}"));
    let ann = &pod["annotations"];
    assert_eq!(
        ann["pod-security.kubernetes.io/enforce-policy"], "privileged:latest",
        "{pod}"
    );
    let violations = ann["pod-security.kubernetes.io/audit-violations"]
        .as_str()
        .unwrap_or_default();
    assert!(
        violations.starts_with(r#"would violate PodSecurity "restricted:latest": "#),
        "{pod}"
    );
    assert_eq!(ann["authorization.k8s.io/decision"], "allow");
}
