//! OpenID Connect login with the `--oidc-*` flags: a Rust test issuer over HTTPS (discovery and
//! JWKS), ID tokens signed by it, kubectl `--token`, RBAC on the mapped groups, key rotation,
//! every signing algorithm upstream allows, distributed groups claims.

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
                "--oidc-signing-algs=HS256",
            ],
            "oidc-signing-algs: \"HS256\" is not a supported signing algorithm",
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

/// `--oidc-signing-algs` with RSA (PKCS#1 v1.5 and PSS) and P-384 keys: tokens in each allowed
/// algorithm log in with kubectl, one outside the list is refused. A token whose groups are a
/// distributed claim (`_claim_names`/`_claim_sources`) gets them from the source endpoint,
/// fetched with the source's access token and verified against its issuer, as upstream's
/// claim resolver does.
#[test]
fn oidc_signing_algorithms_and_distributed_groups() {
    if !capstan::testing::require_tool("openssl") {
        return;
    }
    use capstan::auth::authn::jwt::{Alg, SigningKey};
    let dir = tempfile::tempdir().expect("tempdir");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}");
    };
    openssl(&["genrsa", "-out", "rsa.key", "2048"]);
    openssl(&["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "p384.key"]);
    let rsa = SigningKey::load(&dir.path().join("rsa.key")).expect("rsa");
    let p384 = SigningKey::load(&dir.path().join("p384.key")).expect("p384");
    let p256 = key(dir.path(), "p256");
    let jwks = json!({"keys": [rsa.public.jwk(), p384.public.jwk(), p256.public.jwk()]});
    let issuer_url = Arc::new(Mutex::new(String::new()));
    let groups_jwt = Arc::new(Mutex::new(String::new()));
    let (u, g) = (issuer_url.clone(), groups_jwt.clone());
    let issuer = HttpsStub::start(move |s| {
        let url = u.lock().expect("url").clone();
        match s.path.as_str() {
            "/.well-known/openid-configuration" => (200, json!({"issuer": url, "jwks_uri": format!("{url}/keys")})),
            "/keys" => (200, jwks.clone()),
            "/groups" if s.authorization.as_deref() == Some("Bearer source-token") => {
                (200, Value::String(g.lock().expect("jwt").clone()))
            }
            "/groups" => (401, json!({})),
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
        .arg("--oidc-username-prefix=-")
        .arg("--oidc-groups-claim=groups")
        .arg("--oidc-signing-algs=RS512,PS256,PS384,ES384,ES256")
        .start();
    let claims = |extra: Value| {
        let mut c = json!({"iss": url, "aud": "kubectl", "sub": "alice", "iat": now(), "exp": now() + 600});
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let kc = server.token_kubeconfig("oidc", "");
    let kc = kc.to_str().expect("path");
    let whoami = |token: &str| -> Result<Value, String> {
        let out = server.kubectl(
            "1.33",
            &["--kubeconfig", kc, "--token", token, "auth", "whoami", "-o", "json"],
        );
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("json"))
            .ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let groups = |who: &Value| who["status"]["userInfo"]["groups"].clone();
    for (signer, alg) in [
        (&rsa, Alg::RS512),
        (&rsa, Alg::PS256),
        (&rsa, Alg::PS384),
        (&p384, Alg::ES384),
        (&p256, Alg::ES256),
    ] {
        let token = signer
            .sign_as(alg, &claims(json!({"groups": [alg.name()]})))
            .expect("sign");
        let who = eventually(&format!("an {} login", alg.name()), secs(30), || whoami(&token));
        assert_eq!(who["status"]["userInfo"]["username"], "alice", "{alg:?}");
        assert_eq!(groups(&who), json!([alg.name(), "system:authenticated"]), "{alg:?}");
    }
    // An algorithm outside --oidc-signing-algs, though the key would verify it.
    let rs256 = rsa.sign_as(Alg::RS256, &claims(json!({}))).expect("sign");
    let err = whoami(&rs256).unwrap_err();
    assert!(err.contains("You must be logged in to the server"), "{err}");

    // Distributed groups: the source's JWT comes from the same issuer (its own verifier is
    // discovered on first use, as upstream's, so the first attempts may fail).
    *groups_jwt.lock().expect("jwt") = p256
        .sign(&claims(json!({"groups": ["dist-a", "dist-b"]})))
        .expect("sign");
    let distributed = claims(json!({
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": issuer.url("/groups"), "access_token": "source-token"}},
    }));
    let token = rsa.sign_as(Alg::RS512, &distributed).expect("sign");
    let who = eventually("a login with distributed groups", secs(30), || whoami(&token));
    assert_eq!(groups(&who), json!(["dist-a", "dist-b", "system:authenticated"]));
    assert!(issuer
        .seen()
        .iter()
        .any(|s| s.path == "/groups" && s.authorization.as_deref() == Some("Bearer source-token")));
    // A source that refuses the access token fails the login.
    let wrong = claims(json!({
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": issuer.url("/groups"), "access_token": "wrong"}},
    }));
    let err = whoami(&rsa.sign_as(Alg::RS512, &wrong).expect("sign")).unwrap_err();
    assert!(err.contains("You must be logged in to the server"), "{err}");
    // A groups claim in the token itself wins over its sources.
    let mut both = distributed.clone();
    both["groups"] = json!(["own"]);
    let who = whoami(&rsa.sign_as(Alg::RS512, &both).expect("sign")).expect("login");
    assert_eq!(groups(&who), json!(["own", "system:authenticated"]));
}
