//! OpenID Connect login with the `--oidc-*` flags: a Rust test issuer over HTTPS (discovery and
//! JWKS), ID tokens signed by it, kubectl `--token`, RBAC on the mapped groups, key rotation.

mod common;

use common::https_stub::{signing_key as key, unix_now as now, HttpsStub};
use common::{eventually, secs, TestServer};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[test]
fn oidc_login_with_kubectl_maps_claims_and_follows_key_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = key(dir.path(), "k1");
    // The issuer serves whichever JWKS is current.
    let jwks = Arc::new(Mutex::new(json!({"keys": [first.public.jwk()]})));
    let issuer_url = Arc::new(Mutex::new(String::new()));
    let (j, u) = (jwks.clone(), issuer_url.clone());
    let issuer = HttpsStub::start(move |s| {
        let url = u.lock().expect("url").clone();
        match s.path.as_str() {
            "/.well-known/openid-configuration" => (
                200,
                json!({"issuer": url, "jwks_uri": format!("{url}/keys"), "id_token_signing_alg_values_supported": ["ES256"]}),
            ),
            "/keys" => (200, j.lock().expect("jwks").clone()),
            _ => (404, json!({})),
        }
    });
    let url = issuer.url("");
    *issuer_url.lock().expect("url") = url.clone();
    let b = TestServer::builder();
    let ca = issuer.write_ca(b.scratch(), "issuer-ca.crt");
    let server = b
        .arg(format!("--oidc-issuer-url={url}"))
        .arg("--oidc-client-id=kubectl")
        .arg(format!("--oidc-ca-file={}", ca.display()))
        .arg("--oidc-username-claim=email")
        .arg("--oidc-groups-claim=groups")
        .arg("--oidc-groups-prefix=oidc:")
        .arg("--oidc-required-claim=hd=example.com")
        .arg("--oidc-signing-algs=ES256")
        .start();
    let claims = |extra: Value| {
        let mut c = json!({"iss": url, "aud": "kubectl", "sub": "1234", "email": "jane@example.com",
            "email_verified": true, "groups": ["devs"], "hd": "example.com", "iat": now(), "exp": now() + 600});
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let kc = server.token_kubeconfig("oidc", "");
    let kc = kc.to_str().expect("path");
    let run = |token: &str, args: &[&str]| {
        let mut all = vec!["--kubeconfig", kc, "--token", token];
        all.extend_from_slice(args);
        server.kubectl("1.33", &all)
    };
    let token = first.sign(&claims(json!({}))).expect("sign");
    // Discovery runs in the background after startup.
    let who: Value = eventually("an OIDC login", secs(30), || {
        let out = run(&token, &["auth", "whoami", "-o", "json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("json"))
            .ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
    });
    assert_eq!(who["status"]["userInfo"]["username"], "jane@example.com");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        json!(["oidc:devs", "system:authenticated"])
    );
    // RBAC sees the mapped group.
    let err = String::from_utf8_lossy(&run(&token, &["get", "configmaps"]).stderr).into_owned();
    assert!(
        err.contains("User \"jane@example.com\" cannot list resource \"configmaps\""),
        "{err}"
    );
    server.kubectl_ok(
        "1.33",
        &[
            "create",
            "rolebinding",
            "devs",
            "-n",
            "default",
            "--clusterrole=view",
            "--group=oidc:devs",
        ],
    );
    let out = run(&token, &["get", "configmaps", "-n", "default"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Rejected: wrong audience, expired, unverified email, a required claim that differs, a
    // foreign key.
    let stranger = key(dir.path(), "k-stranger");
    for (what, tok) in [
        ("audience", first.sign(&claims(json!({"aud": "other"})))),
        ("expired", first.sign(&claims(json!({"exp": now() - 3600})))),
        ("email", first.sign(&claims(json!({"email_verified": false})))),
        ("required claim", first.sign(&claims(json!({"hd": "evil.com"})))),
        ("foreign key", stranger.sign(&claims(json!({})))),
    ] {
        let out = run(&tok.expect("sign"), &["get", "configmaps", "-n", "default"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && err.contains("You must be logged in to the server"),
            "{what}: {err}"
        );
    }

    // Rotation: the issuer publishes a new key; a token naming it makes the server refetch.
    let second = key(dir.path(), "k2");
    *jwks.lock().expect("jwks") = json!({"keys": [first.public.jwk(), second.public.jwk()]});
    let rotated = second.sign(&claims(json!({}))).expect("sign");
    eventually("a token of the rotated key", secs(30), || {
        run(&rotated, &["get", "configmaps", "-n", "default"]).status.success()
    });
}

#[test]
fn bad_oidc_flags_are_refused_at_startup() {
    for (args, want) in [
        (
            vec!["--oidc-issuer-url=https://idp.example.com"],
            "oidc-issuer-url and oidc-client-id must be specified together when any oidc-* flags are set",
        ),
        (
            vec!["--oidc-issuer-url=http://idp.example.com", "--oidc-client-id=k"],
            "--oidc-issuer-url: Invalid value: \"http://idp.example.com\": URL scheme must be https",
        ),
        (
            vec![
                "--oidc-issuer-url=https://idp.example.com",
                "--oidc-client-id=k",
                "--oidc-signing-algs=PS256",
            ],
            "--oidc-signing-algs: \"PS256\" is not supported by capstan",
        ),
    ] {
        let mut b = TestServer::builder();
        for a in &args {
            b = b.arg(a);
        }
        let out = b.start_fails();
        assert!(out.contains(want), "{args:?}: want {want:?} in:\n{out}");
    }
}
