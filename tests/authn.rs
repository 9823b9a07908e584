//! Authentication end to end: bearer tokens (token file with reload, ServiceAccount tokens from
//! TokenRequest, bootstrap tokens), TokenReview / SelfSubjectReview, issuer discovery,
//! request-header (front-proxy) certificates, and anonymous handling. Identity only: what
//! users may do is the authorizer's business.

mod common;

use common::pki::Ca;
use common::{eventually, secs, TestServer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;

/// A kubeconfig that authenticates with `token` only.
fn token_kubeconfig(ts: &TestServer, name: &str, token: &str) -> PathBuf {
    ts.token_kubeconfig(name, token)
}

/// `kubectl auth whoami -o json` as the holder of `token` (kubectl 1.33: whoami uses v1).
fn whoami_token(ts: &TestServer, token: &str) -> Result<Value, String> {
    let kc = token_kubeconfig(ts, "whoami", token);
    let out = ts.kubectl(
        "1.33",
        &["--kubeconfig", kc.to_str().unwrap(), "auth", "whoami", "-o", "json"],
    );
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("whoami JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// curl against the server: (status, body).
fn curl(ts: &TestServer, args: &[&str], path: &str) -> (u16, String) {
    ts.curl_status(args, path)
}

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn groups(v: &Value) -> Vec<String> {
    v["status"]["userInfo"]["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// A front-proxy CA (`front-proxy-ca.crt`) and client certificates signed by it: `fp` for `cn`
/// and `other` for `intruder`.
fn front_proxy_pki(dir: &Path, cn: &str) {
    let ca = Ca::new("front-proxy-ca");
    ca.write(dir, "front-proxy-ca.crt");
    ca.client_cert(cn).write(dir, "fp");
    ca.client_cert("intruder").write(dir, "other");
}

/// A compact ES256 JWS signed with the PKCS#8 P-256 key in `key` (the generated sa.key).
fn sign_es256(key: &Path, claims: &Value) -> String {
    use base64::Engine;
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let pem = std::fs::read_to_string(key).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).unwrap();
    let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let input = format!("{}.{}", enc(br#"{"alg":"ES256"}"#), enc(claims.to_string().as_bytes()));
    let sig = kp.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", enc(sig.as_ref()))
}

#[test]
fn bearer_tokens_reviews_and_discovery() {
    let scratch = tempfile::tempdir().unwrap();
    let tokens = scratch.path().join("tokens.csv");
    std::fs::write(&tokens, "static-token-1,alice,1001,\"dev,ops\"\n").unwrap();
    front_proxy_pki(scratch.path(), "front-proxy-client");
    let fp_ca = scratch.path().join("front-proxy-ca.crt");
    // Upstream's default authorizer (the harness defaults to kubeadm's Node,RBAC).
    let ts = TestServer::start_with(&[
        "--authorization-mode=AlwaysAllow",
        "--token-auth-file",
        tokens.to_str().unwrap(),
        "--enable-bootstrap-token-auth",
        "--requestheader-client-ca-file",
        fp_ca.to_str().unwrap(),
        "--requestheader-allowed-names",
        "front-proxy-client",
        "--requestheader-username-headers",
        "X-Remote-User",
        "--requestheader-group-headers",
        "X-Remote-Group",
        "--requestheader-extra-headers-prefix",
        "X-Remote-Extra-",
    ]);

    // A bogus token is a 401 with upstream's exact Status.
    let (code, body) = curl(&ts, &["-H", "Authorization: Bearer bogus"], "/api/v1/namespaces");
    assert_eq!((code, json_of(&body)), (401, json_of(UNAUTHORIZED)));
    // No credentials: anonymous is reset to off under the default AlwaysAllow authorizer.
    let (code, body) = curl(&ts, &[], "/api/v1/namespaces");
    assert_eq!((code, json_of(&body)), (401, json_of(UNAUTHORIZED)), "{}", ts.log());
    assert!(ts
        .log()
        .contains("AnonymousAuth is not allowed with the AlwaysAllow authorizer"));

    // whoami with the admin client certificate (both kubectl versions that have v1).
    let me: Value = serde_json::from_str(&ts.kubectl_ok("1.33", &["auth", "whoami", "-o", "json"])).unwrap();
    assert_eq!(me["kind"], "SelfSubjectReview");
    assert_eq!(me["apiVersion"], "authentication.k8s.io/v1");
    assert!(groups(&me).contains(&"system:authenticated".to_string()), "{me}");
    assert!(!me["status"]["userInfo"]["username"].as_str().unwrap_or("").is_empty());

    // Token file user, then reload: the new token works, the old one is revoked.
    let alice = whoami_token(&ts, "static-token-1").expect("static token");
    assert_eq!(alice["status"]["userInfo"]["username"], "alice");
    assert_eq!(alice["status"]["userInfo"]["uid"], "1001");
    assert_eq!(groups(&alice), vec!["dev", "ops", "system:authenticated"]);
    std::fs::write(&tokens, "static-token-2,bob,1002\n").unwrap();
    eventually("the token file reload", secs(15), || {
        whoami_token(&ts, "static-token-2")
    });
    assert_eq!(
        whoami_token(&ts, "static-token-2").unwrap()["status"]["userInfo"]["username"],
        "bob"
    );
    let err = whoami_token(&ts, "static-token-1").unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");

    // kubectl create token (1.27 and 1.33), then use the token.
    ts.kubectl_ok("1.33", &["create", "serviceaccount", "bot"]);
    let sa_uid = ts.kubectl_ok("1.33", &["get", "sa", "bot", "-o", "jsonpath={.metadata.uid}"]);
    let token = ts.kubectl_ok("1.27", &["create", "token", "bot"]).trim().to_string();
    let token33 = ts
        .kubectl_ok(
            "1.33",
            &[
                "create",
                "token",
                "bot",
                "--duration",
                "20m",
                "--audience",
                "api",
                "--audience",
                "https://kubernetes.default.svc.cluster.local",
            ],
        )
        .trim()
        .to_string();
    let bot = whoami_token(&ts, &token).expect("service account token");
    let info = &bot["status"]["userInfo"];
    assert_eq!(info["username"], "system:serviceaccount:default:bot");
    assert_eq!(info["uid"], sa_uid.as_str());
    assert_eq!(
        groups(&bot),
        vec![
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ]
    );
    assert!(info["extra"]["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap()
        .starts_with("JTI="));
    assert!(whoami_token(&ts, &token33).is_ok());
    // Too short a lifetime: upstream's 422.
    let err = ts.kubectl_err("1.33", &["create", "token", "bot", "--duration", "5m"]);
    assert!(
        err.contains("TokenRequest.authentication.k8s.io \"bot\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = ts.kubectl_err("1.33", &["create", "token", "missing"]);
    assert!(err.contains("serviceaccounts \"missing\" not found"), "{err}");

    // TokenReview (kubectl create -f): authenticated with the audiences that matched.
    let review = |tok: &str, auds: Value| -> Value {
        let f = ts.write_file(
            "tr.json",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": tok, "audiences": auds}})
                .to_string(),
        );
        serde_json::from_str(&ts.kubectl_ok("1.33", &["create", "-f", f.to_str().unwrap(), "-o", "json"])).unwrap()
    };
    let r = review(&token, json!([]));
    assert_eq!(r["status"]["authenticated"], true, "{r}");
    assert_eq!(r["status"]["user"]["username"], "system:serviceaccount:default:bot");
    assert_eq!(
        r["status"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let r = review(&token33, json!(["api"]));
    assert_eq!(r["status"]["audiences"], json!(["api"]), "{r}");
    let r = review(&token, json!(["vault"]));
    assert!(r["status"].get("authenticated").is_none(), "{r}");
    assert_eq!(
        r["status"]["error"],
        "[invalid bearer token, token audiences [\"https://kubernetes.default.svc.cluster.local\"] is invalid for the target audiences [\"vault\"]]"
    );
    let r = review("bogus", json!([]));
    assert_eq!(r["status"], json!({"user": {}, "error": "invalid bearer token"}));

    // Issuer discovery: the token's kid is in the JWKS.
    let conf: Value =
        serde_json::from_str(&ts.kubectl_ok("1.33", &["get", "--raw", "/.well-known/openid-configuration"])).unwrap();
    assert_eq!(conf["issuer"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(conf["jwks_uri"], format!("{}/openid/v1/jwks", ts.url()));
    assert_eq!(conf["response_types_supported"], json!(["id_token"]));
    assert_eq!(conf["subject_types_supported"], json!(["public"]));
    assert_eq!(conf["id_token_signing_alg_values_supported"], json!(["ES256"]));
    let jwks: Value = serde_json::from_str(&ts.kubectl_ok("1.33", &["get", "--raw", "/openid/v1/jwks"])).unwrap();
    use base64::Engine;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    assert_eq!(jwks["keys"][0]["use"], "sig");

    // Deleting the ServiceAccount revokes its tokens.
    ts.kubectl_ok("1.33", &["delete", "sa", "bot"]);
    let err = whoami_token(&ts, &token).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");

    // A Pod-bound token dies with the pod.
    ts.kubectl_ok("1.33", &["create", "serviceaccount", "runner"]);
    let pod = ts.write_file(
        "pod.json",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
            "spec": {"serviceAccountName": "runner", "containers": [{"name": "c", "image": "busybox"}]}})
        .to_string(),
    );
    ts.kubectl_ok("1.33", &["create", "-f", pod.to_str().unwrap()]);
    let bound = ts
        .kubectl_ok(
            "1.33",
            &[
                "create",
                "token",
                "runner",
                "--bound-object-kind",
                "Pod",
                "--bound-object-name",
                "p1",
            ],
        )
        .trim()
        .to_string();
    let who = whoami_token(&ts, &bound).expect("pod-bound token");
    assert_eq!(
        who["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["p1"])
    );
    ts.kubectl_ok(
        "1.33",
        &["delete", "pod", "p1", "--grace-period=0", "--force", "--wait=false"],
    );
    eventually("the pod's deletion", secs(15), || {
        !ts.kubectl("1.33", &["get", "pod", "p1"]).status.success()
    });
    assert!(whoami_token(&ts, &bound).is_err());

    // A Node-bound token carries the node in its extra and dies with the Node.
    let node = ts.write_file(
        "node.json",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}).to_string(),
    );
    ts.kubectl_ok("1.33", &["create", "-f", node.to_str().unwrap()]);
    let node_token = ts
        .kubectl_ok(
            "1.33",
            &[
                "create",
                "token",
                "runner",
                "--bound-object-kind",
                "Node",
                "--bound-object-name",
                "n1",
            ],
        )
        .trim()
        .to_string();
    let who = whoami_token(&ts, &node_token).expect("node-bound token");
    assert_eq!(
        who["status"]["userInfo"]["extra"]["authentication.kubernetes.io/node-name"],
        json!(["n1"])
    );
    ts.kubectl_ok("1.33", &["delete", "node", "n1"]);
    assert!(whoami_token(&ts, &node_token).is_err());

    // A legacy secret-based token (as kube-controller-manager's tokens controller writes them,
    // signed with the same key): accepted while its Secret holds it.
    ts.kubectl_ok("1.33", &["create", "serviceaccount", "legacy"]);
    let uid = ts.kubectl_ok("1.33", &["get", "sa", "legacy", "-o", "jsonpath={.metadata.uid}"]);
    let legacy = sign_es256(
        &ts.data_dir().join("pki/sa.key"),
        &json!({"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:default:legacy",
            "kubernetes.io/serviceaccount/namespace": "default",
            "kubernetes.io/serviceaccount/secret.name": "legacy-token",
            "kubernetes.io/serviceaccount/service-account.name": "legacy",
            "kubernetes.io/serviceaccount/service-account.uid": uid}),
    );
    assert!(whoami_token(&ts, &legacy).is_err(), "no Secret holds it yet");
    let secret = ts.write_file(
        "legacy.json",
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "legacy-token", "annotations": {"kubernetes.io/service-account.name": "legacy",
                "kubernetes.io/service-account.uid": uid}},
            "stringData": {"token": legacy}})
        .to_string(),
    );
    ts.kubectl_ok("1.33", &["create", "-f", secret.to_str().unwrap()]);
    let l = whoami_token(&ts, &legacy).expect("legacy token");
    assert_eq!(
        l["status"]["userInfo"]["username"],
        "system:serviceaccount:default:legacy"
    );
    ts.kubectl_ok("1.33", &["delete", "secret", "legacy-token"]);
    assert!(whoami_token(&ts, &legacy).is_err(), "revoked with its Secret");

    // Bootstrap token.
    let secret = ts.write_file(
        "bt.json",
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
            "stringData": {"token-id": "abcdef", "token-secret": "0123456789abcdef",
                "usage-bootstrap-authentication": "true",
                "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}})
        .to_string(),
    );
    ts.kubectl_ok("1.33", &["create", "-f", secret.to_str().unwrap()]);
    let b = whoami_token(&ts, "abcdef.0123456789abcdef").expect("bootstrap token");
    assert_eq!(b["status"]["userInfo"]["username"], "system:bootstrap:abcdef");
    assert_eq!(
        groups(&b),
        vec![
            "system:bootstrappers",
            "system:bootstrappers:kubeadm:default-node-token",
            "system:authenticated"
        ]
    );
    assert!(whoami_token(&ts, "abcdef.0123456789abcdee").is_err());

    // Front proxy: a certificate from the request-header CA names the user in headers.
    let dir = scratch.path();
    let ssr = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
    let proxy = |cert: &str, extra: &[&str]| {
        let (c, k) = (dir.join(format!("{cert}.crt")), dir.join(format!("{cert}.key")));
        let mut args = vec![
            "--cert",
            c.to_str().unwrap(),
            "--key",
            k.to_str().unwrap(),
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            ssr,
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&ts, &args, "/apis/authentication.k8s.io/v1/selfsubjectreviews")
    };
    let (code, body) = proxy(
        "fp",
        &[
            "-H",
            "X-Remote-User: carol",
            "-H",
            "X-Remote-Group: g1",
            "-H",
            "X-Remote-Group: g2",
            "-H",
            "X-Remote-Extra-Scopes: s1",
        ],
    );
    assert_eq!(code, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["status"]["userInfo"],
        json!({"username": "carol", "groups": ["g1", "g2", "system:authenticated"], "extra": {"scopes": ["s1"]}})
    );
    // Not in --requestheader-allowed-names, or no user header: not authenticated by it.
    let (code, _) = proxy("other", &["-H", "X-Remote-User: carol"]);
    assert_eq!(code, 401);
    let (code, _) = proxy("fp", &[]);
    assert_eq!(code, 401);
}

#[test]
fn anonymous_stays_on_with_another_authorizer_and_sighup_reloads_tokens() {
    let scratch = tempfile::tempdir().unwrap();
    let tokens = scratch.path().join("tokens.csv");
    std::fs::write(&tokens, "t1,alice,1\n").unwrap();
    let ts = TestServer::start_with(&[
        "--authorization-mode",
        "Node,RBAC",
        "--token-auth-file",
        tokens.to_str().unwrap(),
    ]);
    assert!(!ts.log().contains("AnonymousAuth is not allowed"));
    // Anonymous health probe is allowed; a bad token is still a 401 (not anonymous).
    let (code, body) = curl(&ts, &[], "/readyz");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) = curl(&ts, &["-H", "Authorization: Bearer nope"], "/readyz");
    assert_eq!((code, json_of(&body)), (401, json_of(UNAUTHORIZED)));
    // TokenReview from kube-rs for the static token.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(async {
        let client = ts.kube_client().await;
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "t1"}});
        common::http::raw(
            &client,
            http::Method::POST,
            "/apis/authentication.k8s.io/v1/tokenreviews",
            &[("Content-Type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await
    });
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metadata"], json!({"creationTimestamp": null}));
    assert_eq!(
        v["status"],
        json!({"authenticated": true, "user": {"username": "alice", "uid": "1", "groups": ["system:authenticated"]},
            "audiences": ["https://kubernetes.default.svc.cluster.local"]})
    );
    // SIGHUP reloads the token file at once (mtime polling would too, within 2s).
    std::fs::write(&tokens, "t2,bob,2\n").unwrap();
    ts.signal(libc::SIGHUP);
    eventually("the SIGHUP reload", secs(15), || whoami_token(&ts, "t2"));
    assert!(whoami_token(&ts, "t1").is_err());
}
