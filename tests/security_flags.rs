//! Security flags end to end with real clients: `--allow-privileged` (kubectl), CORS and HSTS
//! headers (curl), `--disable-http2-serving` (curl's ALPN), and flags capstan refuses to ignore.

mod common;

use common::TestServer;

const K: &str = "1.33";

fn pod(name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: nginx\n    securityContext:\n      privileged: true\n")
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        securityContext:\n          privileged: true\n"
    )
}

/// Upstream's default (false): privileged containers are refused by validation, in pods and
/// in workload templates; `--allow-privileged=true` lets them in.
#[test]
fn privileged_containers_need_allow_privileged() {
    let s = TestServer::start();
    let p = s.write_file("p.yaml", &pod("p"));
    let err = s.kubectl_err(K, &["create", "-f", &p.display().to_string()]);
    assert!(
        err.contains("The Pod \"p\" is invalid: spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy"),
        "{err}"
    );
    let d = s.write_file("d.yaml", &deployment("d"));
    let err = s.kubectl_err(K, &["create", "-f", &d.display().to_string()]);
    assert!(
        err.contains("The Deployment \"d\" is invalid: spec.template.spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy"),
        "{err}"
    );
    let s = TestServer::start_with(&["--allow-privileged=true"]);
    let p = s.write_file("p.yaml", &pod("p"));
    s.kubectl_ok(K, &["create", "-f", &p.display().to_string()]);
    let d = s.write_file("d.yaml", &deployment("d"));
    s.kubectl_ok(K, &["create", "-f", &d.display().to_string()]);
}

fn headers(s: &TestServer, extra: &[&str], path: &str) -> String {
    let mut args = vec!["-s", "-o", "/dev/null", "-D", "-"];
    args.extend_from_slice(extra);
    String::from_utf8_lossy(&s.curl(&args, path).stdout).to_ascii_lowercase()
}

/// CORS as upstream's WithCORS: an allowed Origin gets the Access-Control headers (also on a
/// 401/403), a preflight is answered 204 before authentication; other origins get nothing.
/// HSTS on every response.
#[test]
fn cors_and_hsts_headers() {
    let s = TestServer::start_with(&[
        "--cors-allowed-origins=^https://ui\\.example(:|$)",
        "--strict-transport-security-directives=max-age=31536000,includeSubDomains,preload",
    ]);
    let pre = headers(
        &s,
        &["-X", "OPTIONS", "-H", "Origin: https://ui.example"],
        "/api/v1/namespaces",
    );
    assert!(
        pre.starts_with("http/2 204") || pre.starts_with("http/1.1 204"),
        "{pre}"
    );
    for h in [
        "access-control-allow-origin: https://ui.example",
        "access-control-allow-methods: post, get, options, put, delete, patch",
        "access-control-allow-headers: content-type, content-length, accept-encoding, x-csrf-token, authorization, x-requested-with, if-modified-since",
        "access-control-expose-headers: date",
        "access-control-allow-credentials: true",
        "strict-transport-security: max-age=31536000; includesubdomains; preload",
    ] {
        assert!(pre.contains(h), "missing {h} in:\n{pre}");
    }
    // Anonymous GET: refused, yet with the CORS headers.
    let get = headers(&s, &["-H", "Origin: https://ui.example"], "/api/v1/namespaces");
    assert!(
        get.contains(" 403") && get.contains("access-control-allow-origin: https://ui.example"),
        "{get}"
    );
    // Not an allowed origin: no CORS headers, and a preflight goes down the chain.
    let other = headers(
        &s,
        &["-X", "OPTIONS", "-H", "Origin: https://ui.example.evil.com"],
        "/api/v1/namespaces",
    );
    assert!(!other.contains("access-control-"), "{other}");
    assert!(!other.contains(" 204"), "{other}");
    assert!(headers(&s, &[], "/healthz").contains("strict-transport-security: max-age=31536000"));
}

#[test]
fn disable_http2_serving() {
    let version = |s: &TestServer| {
        String::from_utf8_lossy(
            &s.curl(&["--http2", "-o", "/dev/null", "-w", "%{http_version}"], "/healthz")
                .stdout,
        )
        .into_owned()
    };
    assert_eq!(version(&TestServer::start()), "2");
    assert_eq!(version(&TestServer::start_with(&["--disable-http2-serving"])), "1.1");
}

/// Startup fails, naming the flag and why, for flags whose being ignored would weaken security
/// or lose data; bad CORS and HSTS values fail with upstream's messages.
#[test]
fn refused_flags_fail_at_startup() {
    for (args, want) in [
        (&["--service-account-signing-endpoint=/run/signer.sock"][..], "--service-account-signing-endpoint=/run/signer.sock: setting `--service-account-signing-endpoint` requires enabling ExternalServiceAccountTokenSigner feature gate"),
        (&["--egress-selector-config-file=/etc/egress.yaml"], "--egress-selector-config-file=/etc/egress.yaml: egress selection (konnectivity) is not implemented"),
        (&["--etcd-servers-overrides=/events#http://127.0.0.1:4002"], "--etcd-servers-overrides=/events#http://127.0.0.1:4002: per-resource etcd servers are not implemented"),
        (&["--cors-allowed-origins=ui.example"], "--cors-allowed-origins has an invalid regular expression: regular expression does not pin to start/end of host in the origin header"),
        (&["--strict-transport-security-directives=max-age"], "--strict-transport-security-directives invalid, allowed values: max-age=expireTime, includeSubDomains, preload."),
    ] {
        let out = TestServer::builder().args(args).start_fails();
        assert!(out.contains(want), "{args:?}: missing {want:?} in:\n{out}");
    }
}
