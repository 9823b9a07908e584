//! Webhook token authentication (TokenReview) and the Webhook authorizer (SubjectAccessReview),
//! by flags and by `--authorization-config`, deciding real kubectl requests made with `--token`.

mod common;

use common::https_stub::{HttpsStub, Seen};
use common::{eventually, secs, TestServer, TestServerBuilder};
use serde_json::{json, Value};
use std::path::Path;

/// The token webhook: `jane-token` is jane (group devs), `expired` fails with an error, anything
/// else is not authenticated.
fn token_reviewer(s: &Seen) -> (u16, Value) {
    let token = s.body["spec"]["token"].as_str().unwrap_or("");
    let status = match token {
        "jane-token" => json!({"authenticated": true, "user": {"username": "jane", "uid": "u-1",
            "groups": ["devs"], "extra": {"team": ["blue"]}}}),
        "expired" => json!({"authenticated": false, "error": "token expired"}),
        _ => json!({"authenticated": false}),
    };
    (
        200,
        json!({"apiVersion": s.body["apiVersion"], "kind": "TokenReview", "status": status}),
    )
}

/// The authorization webhook: jane may do anything in `default`; `secret-ns` is explicitly
/// denied; everything else gets no opinion.
fn access_reviewer(s: &Seen) -> (u16, Value) {
    let spec = &s.body["spec"];
    let ns = spec["resourceAttributes"]["namespace"].as_str().unwrap_or("");
    let status = match (spec["user"].as_str(), ns) {
        (Some("jane"), "default") => json!({"allowed": true, "reason": "jane owns default"}),
        (_, "secret-ns") => json!({"allowed": false, "denied": true, "reason": "secret-ns is closed"}),
        _ => json!({"allowed": false, "reason": "webhook has no opinion"}),
    };
    (
        200,
        json!({"apiVersion": s.body["apiVersion"], "kind": "SubjectAccessReview", "status": status}),
    )
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A server whose users come from the token webhook behind `authn_kc` and whose authorizers
/// are the AuthorizationConfiguration `cfg`.
fn start_with_authorization_config(b: TestServerBuilder, authn_kc: &Path, cfg: &Path) -> TestServer {
    b.arg(format!(
        "--authentication-token-webhook-config-file={}",
        authn_kc.display()
    ))
    .arg("--authentication-token-webhook-version=v1")
    .arg(format!("--authorization-config={}", cfg.display()))
    .start()
}

/// kubectl as jane (her webhook token), nothing else from the admin kubeconfig.
fn as_jane(server: &TestServer, args: &[&str]) -> std::process::Output {
    let kc = server.token_kubeconfig("anon", "");
    let mut all = vec!["--kubeconfig", kc.to_str().expect("path"), "--token", "jane-token"];
    all.extend_from_slice(args);
    server.kubectl("1.33", &all)
}

#[test]
fn token_and_authorization_webhooks_decide_kubectl_requests() {
    let authn = HttpsStub::start(token_reviewer);
    let authz = HttpsStub::start(access_reviewer);
    let b = TestServer::builder();
    let authn_kc = b.write_file("authn.kubeconfig", &authn.kubeconfig("/authenticate"));
    let authz_kc = b.write_file("authz.kubeconfig", &authz.kubeconfig("/authorize"));
    let server = b
        .arg(format!(
            "--authentication-token-webhook-config-file={}",
            authn_kc.display()
        ))
        .arg("--authentication-token-webhook-version=v1")
        .arg("--authentication-token-webhook-cache-ttl=1h")
        .arg(format!("--authorization-webhook-config-file={}", authz_kc.display()))
        .arg("--authorization-webhook-version=v1")
        .arg("--authorization-mode=Node,RBAC,Webhook")
        .start();
    let kc = server.token_kubeconfig("anon", "");
    let kc = kc.to_str().expect("path");
    let as_token = |token: &str, args: &[&str]| {
        let mut all = vec!["--kubeconfig", kc, "--token", token];
        all.extend_from_slice(args);
        server.kubectl("1.33", &all)
    };

    // Authentication: the webhook names the user; kubectl auth whoami shows it.
    let out = as_token("jane-token", &["auth", "whoami", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let who: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(who["status"]["userInfo"]["username"], "jane");
    assert_eq!(who["status"]["userInfo"]["uid"], "u-1");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        json!(["devs", "system:authenticated"])
    );
    assert_eq!(who["status"]["userInfo"]["extra"]["team"], json!(["blue"]));
    let review = &authn.seen()[0];
    assert_eq!(review.method, "POST");
    assert_eq!(review.body["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(review.body["kind"], "TokenReview");
    assert_eq!(review.body["spec"]["token"], "jane-token");
    // Cached for the TTL: the same token again does not reach the webhook.
    let calls = authn.count("/authenticate");
    assert!(as_token("jane-token", &["auth", "whoami"]).status.success());
    assert_eq!(authn.count("/authenticate"), calls, "answer cached");
    for bad in ["nobody-token", "expired"] {
        let out = as_token(bad, &["get", "pods"]);
        assert!(!out.status.success());
        assert!(
            text(&out).contains("error: You must be logged in to the server"),
            "{bad}: {}",
            text(&out)
        );
    }

    // Authorization: RBAC has no binding for jane, the webhook allows `default`.
    let out = as_token("jane-token", &["get", "configmaps", "-n", "default"]);
    assert!(out.status.success(), "{}", text(&out));
    let sar = authz
        .seen()
        .into_iter()
        .find(|s| s.body["spec"]["resourceAttributes"]["resource"] == "configmaps")
        .expect("a review for configmaps");
    assert_eq!(sar.body["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(
        sar.body["spec"],
        json!({"user": "jane", "uid": "u-1", "groups": ["devs", "system:authenticated"],
            "extra": {"team": ["blue"]},
            "resourceAttributes": {"namespace": "default", "verb": "list", "version": "v1", "resource": "configmaps"}})
    );
    // Allowed answers are cached (5m by default): no second call.
    let calls = authz.count("/authorize");
    assert!(as_token("jane-token", &["get", "configmaps", "-n", "default"])
        .status
        .success());
    assert_eq!(authz.count("/authorize"), calls, "allowed answer cached");
    // No opinion: forbidden with RBAC's and the webhook's reasons.
    let err = text(&as_token("jane-token", &["get", "configmaps", "-n", "kube-system"]));
    assert!(
        err.contains("configmaps is forbidden: User \"jane\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"kube-system\": webhook has no opinion"),
        "{err}"
    );
    // The admin (system:masters) never reaches the webhook.
    let calls = authz.count("/authorize");
    server.kubectl_ok("1.33", &["get", "configmaps", "-n", "kube-system"]);
    assert_eq!(authz.count("/authorize"), calls);

    // SubjectAccessReview through the API runs the same chain, denial included.
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "bob", "resourceAttributes": {"namespace": "secret-ns", "verb": "get", "resource": "secrets"}}});
    let path = server.write_file("sar.json", &review.to_string());
    let out = server.kubectl_ok("1.33", &["create", "-f", path.to_str().expect("path"), "-o", "json"]);
    let got: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        got["status"],
        json!({"allowed": false, "denied": true, "reason": "secret-ns is closed"})
    );

    // The webhook fails and nothing else allows: upstream's 500 InternalError.
    authz.set_handler(|_| (503, json!({"kind": "Status", "message": "authorizer down"})));
    let err = text(&as_token("jane-token", &["get", "secrets", "-n", "other"]));
    assert!(err.contains("Internal Server Error"), "{err}");
    assert!(err.contains("authorizer down"), "{err}");
}

#[test]
fn authorization_config_orders_authorizers_with_match_conditions_and_failure_policy() {
    let authn = HttpsStub::start(token_reviewer);
    let authz = HttpsStub::start(access_reviewer);
    let b = TestServer::builder();
    let authn_kc = b.write_file("authn.kubeconfig", &authn.kubeconfig("/authenticate"));
    let authz_kc = b.write_file("authz.kubeconfig", &authz.kubeconfig("/authorize"));
    let config = format!(
        r#"apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
- type: Node
  name: node
- type: Webhook
  name: team-webhook
  webhook:
    timeout: 3s
    authorizedTTL: 1ms
    unauthorizedTTL: 1ms
    subjectAccessReviewVersion: v1
    matchConditionSubjectAccessReviewVersion: v1
    failurePolicy: Deny
    connectionInfo:
      type: KubeConfigFile
      kubeConfigFile: {}
    matchConditions:
    - expression: has(request.resourceAttributes)
    - expression: request.resourceAttributes.resource != 'pods'
- type: RBAC
  name: rbac
"#,
        authz_kc.display()
    );
    let cfg = b.write_file("authz-config.yaml", &config);
    let server = start_with_authorization_config(b, &authn_kc, &cfg);
    let as_jane = |args: &[&str]| as_jane(&server, args);
    let out = as_jane(&["get", "configmaps", "-n", "default"]);
    assert!(out.status.success(), "{}", text(&out));
    // The match conditions leave pods out: the webhook is not asked, RBAC says no.
    let calls = authz.count("/authorize");
    let err = text(&as_jane(&["get", "pods", "-n", "default"]));
    assert!(
        err.contains("pods is forbidden: User \"jane\" cannot list resource \"pods\""),
        "{err}"
    );
    assert_eq!(authz.count("/authorize"), calls, "match conditions skipped the webhook");
    // failurePolicy Deny: a failing webhook stops the chain before RBAC, which would allow.
    server.kubectl_ok("1.33", &["create", "namespace", "rbac-ns"]);
    server.kubectl_ok(
        "1.33",
        &[
            "create",
            "rolebinding",
            "jane-view",
            "-n",
            "rbac-ns",
            "--clusterrole=view",
            "--user=jane",
        ],
    );
    let out = as_jane(&["get", "configmaps", "-n", "rbac-ns"]);
    assert!(
        out.status.success(),
        "RBAC allows while the webhook has no opinion: {}",
        text(&out)
    );
    authz.set_handler(|_| (500, json!({"kind": "Status", "message": "authorizer down"})));
    let err = text(&as_jane(&["get", "configmaps", "-n", "rbac-ns"]));
    assert!(
        err.contains("Internal Server Error") && err.contains("authorizer down"),
        "{err}"
    );
}

/// `--authorization-config` is watched as upstream: a rewritten file reorders the chain
/// without a restart, a broken rewrite keeps the running chain; both counted in
/// `apiserver_authorization_config_controller_automatic_reloads_total`.
#[test]
fn authorization_config_reloads_when_the_file_changes() {
    let authn = HttpsStub::start(token_reviewer);
    let authz = HttpsStub::start(access_reviewer);
    let b = TestServer::builder();
    let authn_kc = b.write_file("authn.kubeconfig", &authn.kubeconfig("/authenticate"));
    let authz_kc = b.write_file("authz.kubeconfig", &authz.kubeconfig("/authorize"));
    let webhook = format!(
        "- type: Webhook
  name: team-webhook
  webhook:
    timeout: 3s
    authorizedTTL: 1ms
    unauthorizedTTL: 1ms
    subjectAccessReviewVersion: v1
    failurePolicy: NoOpinion
    connectionInfo: {{type: KubeConfigFile, kubeConfigFile: {}}}
",
        authz_kc.display()
    );
    let rbac = "- type: RBAC\n  name: rbac\n";
    let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n";
    // The webhook first: its explicit denial of secret-ns wins over RBAC's allow.
    let cfg = b.write_file("authz-config.yaml", &format!("{head}{webhook}{rbac}"));
    let server = start_with_authorization_config(b, &authn_kc, &cfg);
    let as_jane = |args: &[&str]| as_jane(&server, args);
    let reloads = |status: &str| -> Option<String> {
        let text = server.kubectl_ok("1.33", &["get", "--raw", "/metrics"]);
        text.lines()
            .find(|l| {
                l.starts_with("apiserver_authorization_config_controller_automatic_reloads_total{")
                    && l.contains(&format!("status=\"{status}\""))
            })
            .map(str::to_string)
    };
    // As upstream, the watch counts one success when it starts.
    let line = reloads("success").expect("the start counted");
    assert!(
        line.contains("apiserver_id_hash=\"sha256:") && line.ends_with(" 1"),
        "{line}"
    );
    assert_eq!(reloads("failure"), None);
    server.kubectl_ok("1.33", &["create", "namespace", "secret-ns"]);
    server.kubectl_ok(
        "1.33",
        &[
            "create",
            "rolebinding",
            "jane-view",
            "-n",
            "secret-ns",
            "--clusterrole=view",
            "--user=jane",
        ],
    );
    let err = text(&as_jane(&["get", "configmaps", "-n", "secret-ns"]));
    assert!(
        err.contains("configmaps is forbidden: User \"jane\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"secret-ns\": secret-ns is closed"),
        "{err}"
    );

    // RBAC first: its allow now decides, without a restart.
    std::fs::write(&cfg, format!("{head}{rbac}{webhook}")).expect("rewrite");
    eventually("the reordered chain applies", secs(30), || {
        let out = as_jane(&["get", "configmaps", "-n", "secret-ns"]);
        out.status.success().then_some(()).ok_or_else(|| text(&out))
    });
    let line = reloads("success").expect("success");
    assert!(line.ends_with(" 2"), "{line}");
    let text_now = server.kubectl_ok("1.33", &["get", "--raw", "/metrics"]);
    assert!(
        text_now
            .contains("# TYPE apiserver_authorization_config_controller_automatic_reload_last_timestamp_seconds gauge"),
        "{text_now}"
    );

    // Broken rewrites: logged, counted, and the running chain stays.
    std::fs::write(&cfg, format!("{head}{webhook}")).expect("rewrite");
    eventually("the missing RBAC refused", secs(30), || {
        let log = server.log();
        (log.contains("reloading authorization config") && log.contains("missing required types: [RBAC]"))
            .then_some(())
            .ok_or("not yet")
    });
    std::fs::write(
        &cfg,
        format!("{head}{}{rbac}", webhook.replace("timeout: 3s", "timeout: 40s")),
    )
    .expect("rewrite");
    let line = eventually("two failures counted", secs(30), || {
        reloads("failure").filter(|l| l.ends_with(" 2")).ok_or("not yet")
    });
    assert!(line.contains("apiserver_id_hash=\"sha256:"), "{line}");
    assert!(
        server
            .log()
            .contains("authorizers[0].webhook.timeout: Invalid value: \"40s\": must be > 0s and <= 30s"),
        "{}",
        server.log()
    );
    let out = as_jane(&["get", "configmaps", "-n", "secret-ns"]);
    assert!(out.status.success(), "the last good chain decides: {}", text(&out));
    assert!(reloads("success").expect("success").ends_with(" 2"));
}

#[test]
fn bad_authorization_settings_are_refused_at_startup() {
    let hook = HttpsStub::start(access_reviewer);
    let b = TestServer::builder();
    let kc = b.write_file("authz.kubeconfig", &hook.kubeconfig("/authorize"));
    let cfg = b.write_file(
        "authz.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n- {type: RBAC, name: rbac}\n",
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--authorization-mode=Webhook".into()],
            "authorization-mode Webhook's authorization config file not passed",
        ),
        (
            vec![format!("--authorization-webhook-config-file={}", kc.display())],
            "cannot specify --authorization-webhook-config-file without mode Webhook",
        ),
        (
            vec![format!("--authorization-config={}", cfg.display()), "--authorization-mode=RBAC".into()],
            "--authorization-config can not be specified when --authorization-mode or --authorization-webhook-* flags are defined",
        ),
        (
            vec!["--authorization-mode=ABAC".into(), "--authorization-policy-file=/x".into()],
            "--authorization-policy-file",
        ),
        (
            vec!["--authentication-token-webhook-config-file=/nonexistent/kc".into()],
            "--authentication-token-webhook-config-file: stat /nonexistent/kc: no such file or directory",
        ),
    ];
    for (args, want) in cases {
        let mut b = TestServer::builder();
        for a in &args {
            b = b.arg(a);
        }
        let out = b.start_fails();
        assert!(out.contains(want), "{args:?}: want {want:?} in:\n{out}");
    }
}
