//! Structured authentication (`--authentication-config`, AuthenticationConfiguration v1beta1)
//! through the real binary and kubectl `--token`: two JWT issuers (Rust test issuers over HTTPS,
//! each trusted through its inline `certificateAuthority`, one found through `discoveryURL`)
//! with CEL claim mappings, claim and user validation rules, anonymous access limited to one
//! path, reload of a changed file (and a bad one ignored), and bad files refused at startup.

mod common;

use common::https_stub::{signing_key as key, unix_now as now, HttpsStub};
use common::{eventually, secs, TestServer};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A test issuer serving discovery at `discovery_path` and its JWKS at `/keys`.
fn issuer(signer: &capstan::auth::authn::jwt::SigningKey, discovery_path: &'static str) -> (HttpsStub, String) {
    let url = Arc::new(Mutex::new(String::new()));
    let (u, jwks) = (url.clone(), json!({"keys": [signer.public.jwk()]}));
    let stub = HttpsStub::start(move |s| {
        let url = u.lock().expect("url").clone();
        if s.path == discovery_path {
            (200, json!({"issuer": url, "jwks_uri": format!("{url}/keys")}))
        } else if s.path == "/keys" {
            (200, jwks.clone())
        } else {
            (404, json!({}))
        }
    });
    let base = stub.url("");
    *url.lock().expect("url") = base.clone();
    (stub, base)
}

/// YAML block scalar of a PEM, indented for `certificateAuthority: |`.
fn indent(pem: &str, n: usize) -> String {
    pem.lines()
        .map(|l| format!("{}{l}", " ".repeat(n)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn config(a: &(HttpsStub, String), b: &(HttpsStub, String), a_user_prefix: &str) -> String {
    format!(
        r#"apiVersion: apiserver.config.k8s.io/v1beta1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: {a_url}
    audiences: [kubectl]
    certificateAuthority: |
{a_ca}
  claimValidationRules:
  - expression: "claims.tier != 'banned'"
    message: banned tier
  claimMappings:
    username:
      expression: "'{a_user_prefix}' + claims.sub"
    groups:
      expression: "claims.roles.map(r, 'a-' + r)"
    uid:
      claim: sub
    extra:
    - key: example.com/tier
      valueExpression: claims.tier
  userValidationRules:
  - expression: "!user.username.endsWith(':root')"
    message: no root logins
- issuer:
    url: {b_url}
    discoveryURL: {b_url}/custom/discovery
    audiences: [b1, b2]
    audienceMatchPolicy: MatchAny
    certificateAuthority: |
{b_ca}
  claimValidationRules:
  - claim: hd
    requiredValue: example.com
  claimMappings:
    username:
      claim: email
      prefix: ""
    groups:
      claim: groups
      prefix: "b:"
anonymous:
  enabled: true
  conditions:
  - path: /healthz
"#,
        a_url = a.1,
        a_ca = indent(&a.0.ca_pem, 6),
        b_url = b.1,
        b_ca = indent(&b.0.ca_pem, 6),
    )
}

#[test]
fn two_issuers_with_cel_mappings_rules_anonymous_paths_and_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ka, kb) = (key(dir.path(), "a"), key(dir.path(), "b"));
    let a = issuer(&ka, "/.well-known/openid-configuration");
    let b = issuer(&kb, "/custom/discovery");
    let builder = TestServer::builder();
    let file = builder.write_file("authn.yaml", &config(&a, &b, "a:"));
    let server = builder
        .arg(format!("--authentication-config={}", file.display()))
        .start();
    let kc = server.token_kubeconfig("jwt", "");
    let kc = kc.to_str().expect("path");
    let run = |token: &str, args: &[&str]| {
        let mut all = vec!["--kubeconfig", kc, "--token", token];
        all.extend_from_slice(args);
        server.kubectl("1.33", &all)
    };
    let whoami = |token: &str| -> Result<Value, String> {
        let out = run(token, &["auth", "whoami", "-o", "json"]);
        if out.status.success() {
            Ok(serde_json::from_slice::<Value>(&out.stdout).expect("json")["status"]["userInfo"].clone())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    let a_claims = |extra: Value| {
        let mut c = json!({"iss": a.1, "aud": "kubectl", "sub": "jane", "roles": ["dev", "ops"],
            "tier": "gold", "iat": now(), "exp": now() + 600});
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        ka.sign(&c).expect("sign")
    };
    let b_claims = |extra: Value| {
        let mut c = json!({"iss": b.1, "aud": ["other", "b2"], "sub": "1", "email": "bob@example.com",
            "email_verified": true, "groups": ["admins"], "hd": "example.com", "iat": now(), "exp": now() + 600});
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        kb.sign(&c).expect("sign")
    };

    // Issuer A: username, groups, uid and extra from CEL and claims.
    let token_a = a_claims(json!({}));
    let u = eventually("a login through issuer A", secs(30), || whoami(&token_a));
    assert_eq!(u["username"], "a:jane");
    assert_eq!(u["uid"], "jane");
    assert_eq!(u["groups"], json!(["a-dev", "a-ops", "system:authenticated"]));
    assert_eq!(u["extra"]["example.com/tier"], json!(["gold"]));
    // Issuer B: discovered at its discoveryURL, any of two audiences, claim mappings.
    let token_b = b_claims(json!({}));
    let u = eventually("a login through issuer B", secs(30), || whoami(&token_b));
    assert_eq!(u["username"], "bob@example.com");
    assert_eq!(u["groups"], json!(["b:admins", "system:authenticated"]));
    // RBAC sees the mapped groups.
    let err = String::from_utf8_lossy(&run(&token_b, &["get", "configmaps", "-n", "default"]).stderr).into_owned();
    assert!(
        err.contains("User \"bob@example.com\" cannot list resource \"configmaps\""),
        "{err}"
    );
    server.kubectl_ok(
        "1.33",
        &[
            "create",
            "rolebinding",
            "admins",
            "-n",
            "default",
            "--clusterrole=view",
            "--group=b:admins",
        ],
    );
    let out = run(&token_b, &["get", "configmaps", "-n", "default"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Rejected: a CEL claim validation rule, a user validation rule, a required claim, an
    // audience outside the list, a key of the other issuer.
    for (what, tok) in [
        ("claim validation rule", a_claims(json!({"tier": "banned"}))),
        ("user validation rule", a_claims(json!({"sub": "root"}))),
        ("required claim", b_claims(json!({"hd": "evil.com"}))),
        ("audience", b_claims(json!({"aud": "b3"}))),
        (
            "foreign key",
            kb.sign(&json!({"iss": a.1, "aud": "kubectl", "sub": "x", "exp": now() + 600}))
                .expect("sign"),
        ),
    ] {
        let err = whoami(&tok).expect_err(what);
        assert!(err.contains("You must be logged in to the server"), "{what}: {err}");
    }

    // Anonymous: only /healthz.
    assert_eq!(server.curl_status(&[], "/healthz"), (200, "ok".to_string()));
    let (code, body) = server.curl_status(&[], "/livez");
    assert_eq!(code, 401, "{body}");
    let (code, body) = server.curl_status(&[], "/api");
    assert_eq!(code, 401, "{body}");

    // Reload: a changed file takes effect without a restart, counted in upstream's metrics
    // (`reloads(status)`: the counter's value, None before the first attempt of that status).
    let metric_line = |status: &str| -> Option<String> {
        let text = server.kubectl_ok("1.33", &["get", "--raw", "/metrics"]);
        text.lines()
            .find(|l| {
                l.starts_with("apiserver_authentication_config_controller_automatic_reloads_total{")
                    && l.contains(&format!("status=\"{status}\""))
            })
            .map(str::to_string)
    };
    assert_eq!(metric_line("success"), None, "no reload yet");
    std::fs::write(&file, config(&a, &b, "a2:")).expect("rewrite");
    eventually("the reloaded username mapping", secs(30), || {
        let u = whoami(&token_a)?;
        (u["username"] == "a2:jane").then_some(()).ok_or(format!("{u}"))
    });
    let line = metric_line("success").expect("success counted");
    assert!(
        line.contains("apiserver_id_hash=\"sha256:") && line.ends_with(" 1"),
        "{line}"
    );
    let text = server.kubectl_ok("1.33", &["get", "--raw", "/metrics"]);
    assert!(
        text.contains(
            "# TYPE apiserver_authentication_config_controller_automatic_reload_last_timestamp_seconds gauge"
        ),
        "{text}"
    );
    // A bad file is logged and the running config stays.
    std::fs::write(&file, config(&a, &b, "a3:").replace("url: https://", "url: http://")).expect("rewrite");
    eventually("the reload failure in the log", secs(30), || {
        let log = server.log();
        (log.contains("failed to load authentication config") && log.contains("URL scheme must be https"))
            .then_some(())
            .ok_or("not yet")
    });
    assert_eq!(whoami(&token_a).expect("still logged in")["username"], "a2:jane");
    let line = eventually("the failure counted", secs(30), || {
        metric_line("failure").ok_or("not yet")
    });
    assert!(line.ends_with(" 1"), "{line}");
    // Changing the anonymous section is refused on reload as upstream does.
    std::fs::write(&file, config(&a, &b, "a4:").replace("path: /healthz", "path: /livez")).expect("rewrite");
    eventually("the anonymous change refused", secs(30), || {
        server
            .log()
            .contains("anonymous: Forbidden: changed from initial configuration file")
            .then_some(())
            .ok_or("not yet")
    });
    assert_eq!(whoami(&token_a).expect("still logged in")["username"], "a2:jane");
}

#[test]
fn bad_authentication_configs_fail_startup_naming_file_and_field() {
    let head = "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: AuthenticationConfiguration\n";
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            format!("{head}jwt:\n- issuer:\n    url: http://idp.example.com\n    audiences: [a]\n  claimMappings:\n    username: {{claim: sub, prefix: \"\"}}\n"),
            vec![],
            r#"jwt[0].issuer.url: Invalid value: "http://idp.example.com": URL scheme must be https"#,
        ),
        (
            format!("{head}jwt:\n- issuer:\n    url: https://idp\n    audiences: [a]\n  claimMappings:\n    username: {{expression: \"claims.sub\"}}\n  claimValidationRules:\n  - expression: claims.sub\n"),
            vec![],
            r#"jwt[0].claimValidationRules[0].expression: Invalid value: "claims.sub": must evaluate to bool"#,
        ),
        (
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n".to_string(),
            vec![],
            r#"no kind "AuthenticationConfiguration" is registered for version "apiserver.config.k8s.io/v1""#,
        ),
        (
            format!("{head}anonymous:\n  enabled: true\n  extra: 1\n"),
            vec![],
            r#"strict decoding error: unknown field "anonymous.extra""#,
        ),
        (
            format!("{head}anonymous:\n  enabled: true\n"),
            vec!["--anonymous-auth=false"],
            "anonymous: Forbidden: --anonynous-auth flag cannot be set when anonymous field is configured in authentication configuration file",
        ),
        (
            format!("{head}anonymous:\n  enabled: true\n"),
            vec!["--oidc-issuer-url=https://idp.example.com"],
            "authentication-config file and oidc-* flags are mutually exclusive",
        ),
        (
            format!("{head}anonymous:\n  enabled: true\n"),
            vec!["--feature-gates=StructuredAuthenticationConfiguration=false"],
            "set --feature-gates=StructuredAuthenticationConfiguration=true to use authentication-config file",
        ),
    ];
    for (yaml, extra, want) in cases {
        let b = TestServer::builder();
        let file = b.write_file("authn.yaml", &yaml);
        let b = b
            .arg(format!("--authentication-config={}", file.display()))
            .args(&extra);
        let out = b.start_fails();
        assert!(out.contains(want), "{extra:?} {yaml}\nwant {want:?} in:\n{out}");
        if !extra
            .iter()
            .any(|e| e.starts_with("--oidc") || e.starts_with("--feature-gates"))
        {
            assert!(
                out.contains(&format!("--authentication-config {}", file.display())),
                "the file is named:\n{out}"
            );
        }
    }
    let out = TestServer::builder()
        .arg("--authentication-config=/nonexistent/authn.yaml")
        .start_fails();
    assert!(
        out.contains("open /nonexistent/authn.yaml: no such file or directory"),
        "{out}"
    );
}
