//! Serving hardening with real clients: `--tls-min-version`, `--tls-cipher-suites`,
//! `--tls-sni-cert-key` (with hot reload), the HTTP/1 header read timeout and `--request-timeout`.

mod common;

use common::pki::Cert;
use common::{eventually, matching, secs, TestServer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn curl(s: &TestServer, extra: &[&str], path: &str) -> Output {
    s.curl(extra, path)
}

/// The admin client certificate flags for curl.
fn admin(s: &TestServer) -> Vec<String> {
    let (cert, key) = s.admin_cert();
    vec![
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ]
}

/// `openssl s_client` against the server; returns its combined output.
fn s_client(s: &TestServer, extra: &[&str]) -> (bool, String) {
    let out = common::tool("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", s.port())])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    let all = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    (out.status.success(), all)
}

/// The subject of the certificate served for `servername` (None: no SNI).
fn served_subject(s: &TestServer, servername: Option<&str>) -> String {
    let mut args = vec!["-showcerts"];
    if let Some(n) = servername {
        args.extend(["-servername", n]);
    } else {
        args.push("-noservername");
    }
    let (_, out) = s_client(s, &args);
    let subject = out
        .lines()
        .find(|l| l.trim_start().starts_with("0 s:"))
        .unwrap_or_else(|| panic!("no leaf certificate in s_client output:\n{out}"));
    subject.trim_start().trim_start_matches("0 s:").trim().to_string()
}

#[test]
fn min_version_tls13_refuses_tls12_clients() {
    let s = TestServer::start_with(&["--tls-min-version=VersionTLS13"]);
    let out = curl(&s, &["--tls-max", "1.2"], "/readyz");
    assert!(
        !out.status.success(),
        "TLS 1.2 client accepted: {}",
        common::text(&out.stdout)
    );
    let (ok, text) = s_client(&s, &["-tls1_2"]);
    assert!(!ok, "openssl -tls1_2 handshake succeeded:\n{text}");
    let out = curl(&s, &["--tlsv1.3"], "/readyz");
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    assert_eq!(common::text(&out.stdout), "ok");
    // kubectl negotiates TLS 1.3.
    s.kubectl_ok("1.33", &["get", "namespaces", "default"]);
}

#[test]
fn old_min_versions_are_raised_to_tls12_with_a_warning() {
    let s = TestServer::start_with(&["--tls-min-version=VersionTLS10"]);
    assert!(s.log().contains("--tls-min-version=VersionTLS10"), "{}", s.log());
    assert!(s.log().contains("raised to TLS 1.2"), "{}", s.log());
    let (ok, text) = s_client(&s, &["-tls1_2"]);
    assert!(ok, "TLS 1.2 refused:\n{text}");
    let (ok, _) = s_client(&s, &["-tls1_1"]);
    assert!(!ok, "TLS 1.1 accepted");
}

#[test]
fn cipher_suites_restrict_tls12_and_leave_tls13_alone() {
    // The generated serving key is ECDSA P-256.
    let s = TestServer::start_with(&["--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]);
    let (ok, text) = s_client(&s, &["-tls1_2"]);
    assert!(ok, "{text}");
    assert!(text.contains("ECDHE-ECDSA-AES256-GCM-SHA384"), "{text}");
    let (ok, text) = s_client(&s, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
    assert!(!ok, "a suite outside --tls-cipher-suites was negotiated:\n{text}");
    let out = curl(
        &s,
        &["--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305"],
        "/readyz",
    );
    assert!(!out.status.success(), "CHACHA20 negotiated over TLS 1.2");
    let out = curl(&s, &["--tlsv1.3"], "/readyz");
    assert!(out.status.success(), "TLS 1.3 refused: {}", common::text(&out.stderr));
    s.kubectl_ok("1.27", &["get", "namespaces", "default"]);
}

fn serve_fails(args: &[&str]) -> String {
    // The server's default authorizer, as before the harness defaulted to Node,RBAC.
    TestServer::builder()
        .arg("--authorization-mode=AlwaysAllow")
        .args(args)
        .start_fails()
}

#[test]
fn bad_cipher_suite_names_fail_startup() {
    let err = serve_fails(&["--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NOPE"]);
    assert!(err.contains("--tls-cipher-suites"), "{err}");
    assert!(
        err.contains("cipher suite TLS_NOPE not supported or doesn't exist"),
        "{err}"
    );
    assert!(err.contains("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"), "{err}");
    let err = serve_fails(&["--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]);
    assert!(
        err.contains("cipher suite TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not available"),
        "{err}"
    );
    let err = serve_fails(&["--tls-sni-cert-key=only-one.crt"]);
    assert!(
        err.contains("expected comma separated certificate and key file paths"),
        "{err}"
    );
}

/// A self-signed ECDSA certificate with subject CN `cn` and DNS SANs `sans`.
fn make_cert(dir: &Path, stem: &str, cn: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
    Cert::self_signed(cn, sans).write(dir, stem)
}

#[test]
fn sni_certificates_are_chosen_by_name_and_reloaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_crt, a_key) = make_cert(dir.path(), "a", "sni-a", &["api.example.test", "*.apps.example.test"]);
    let (b_crt, b_key) = make_cert(dir.path(), "b", "sni-b", &["ignored.example.test"]);
    let a = format!("--tls-sni-cert-key={},{}", a_crt.display(), a_key.display());
    let b = format!(
        "--tls-sni-cert-key={},{}:explicit.test,*.wild.test",
        b_crt.display(),
        b_key.display()
    );
    let s = TestServer::start_with(&[&a, &b]);
    let default = served_subject(&s, None);
    assert!(!default.contains("sni-"), "{default}");
    assert!(served_subject(&s, Some("api.example.test")).contains("CN = sni-a"));
    assert!(served_subject(&s, Some("x.apps.example.test")).contains("CN = sni-a"));
    assert!(served_subject(&s, Some("explicit.test")).contains("CN = sni-b"));
    assert!(served_subject(&s, Some("host.wild.test")).contains("CN = sni-b"));
    // Explicit names replace the certificate's own; wildcards cover one label; no match → default.
    assert_eq!(served_subject(&s, Some("ignored.example.test")), default);
    assert_eq!(served_subject(&s, Some("a.b.wild.test")), default);
    assert_eq!(served_subject(&s, Some("unknown.test")), default);
    // kubectl (no SNI for an IP address) still verifies the default certificate.
    s.kubectl_ok("1.33", &["get", "namespaces", "default"]);

    // A renewed SNI certificate is served without a restart.
    let fresh = tempfile::tempdir().expect("tempdir");
    let (n_crt, n_key) = make_cert(fresh.path(), "a", "sni-a-renewed", &["api.example.test"]);
    std::fs::copy(&n_key, &a_key).expect("replace key");
    std::fs::copy(&n_crt, &a_crt).expect("replace cert");
    eventually("the renewed SNI certificate", secs(20), || {
        matching(served_subject(&s, Some("api.example.test")), |subject| {
            subject.contains("CN = sni-a-renewed")
        })
    });
    assert_eq!(served_subject(&s, Some("unknown.test")), default);
}

/// A TLS client over a plain socket with a read timeout, to control the byte timing.
fn tls_socket(s: &TestServer) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    tls_socket_alpn(s, &[])
}

fn tls_socket_alpn(s: &TestServer, alpn: &[&[u8]]) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    common::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(s.ca_file()).expect("ca");
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.expect("ca pem")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(("127.0.0.1", s.port())).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

#[test]
fn slow_header_clients_are_disconnected() {
    let s = TestServer::start();
    let mut tls = tls_socket(&s);
    // A complete request on a fresh connection is answered.
    tls.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 4096];
    let n = tls.read(&mut buf).expect("response");
    assert!(
        common::text(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        common::text(&buf[..n])
    );

    let mut tls = tls_socket(&s);
    let started = Instant::now();
    tls.write_all(b"GET /readyz HTTP/1.1\r\n").expect("write");
    let closed_after = loop {
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(60), "still connected after {elapsed:?}");
        // One more header line a second: never a complete request head.
        if tls.write_all(b"X-Slow: y\r\n").and_then(|_| tls.flush()).is_err() {
            break elapsed;
        }
        match tls.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(n) => panic!("unexpected response: {}", common::text(&buf[..n])),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break started.elapsed(),
        }
    };
    // kube-apiserver's ReadHeaderTimeout is 32s.
    assert!(
        closed_after >= Duration::from_secs(30),
        "closed too early: {closed_after:?}"
    );
    assert!(
        closed_after <= Duration::from_secs(40),
        "closed too late: {closed_after:?}"
    );
}

#[test]
fn requests_exceeding_request_timeout_get_504() {
    let s = TestServer::start_with(&["--request-timeout=1ns"]);
    let creds = admin(&s);
    let mut args: Vec<&str> = creds.iter().map(String::as_str).collect();
    args.extend([
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-w",
        "\n%{http_code}",
    ]);
    let mut timeouts = 0;
    for i in 0..10 {
        let body =
            format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"slow-{i}"}},"data":{{"k":"v"}}}}"#);
        let mut a = args.clone();
        a.extend(["-d", &body]);
        let out = curl(&s, &a, "/api/v1/namespaces/default/configmaps");
        let text = common::text(&out.stdout);
        let (json, code) = text.rsplit_once('\n').expect("status line");
        if code == "504" {
            let status: serde_json::Value = serde_json::from_str(json).expect("Status JSON");
            assert_eq!(
                status,
                serde_json::json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Timeout: request did not complete within the allotted timeout",
                    "reason": "Timeout", "details": {}, "code": 504
                })
            );
            timeouts += 1;
        } else {
            assert_eq!(code, "201", "{json}");
        }
    }
    assert!(timeouts > 0, "no request timed out with --request-timeout=1ns");
    // Long-running requests are exempt: a watch stays open and streams its events.
    let mut a: Vec<&str> = creds.iter().map(String::as_str).collect();
    a.extend(["--max-time", "3"]);
    let started = Instant::now();
    let out = curl(&s, &a, "/api/v1/namespaces/default/configmaps?watch=1");
    let text = common::text(&out.stdout);
    assert!(started.elapsed() >= Duration::from_secs(3), "watch ended early: {text}");
    assert!(
        text.contains(r#""type":"ADDED""#) && text.contains("\"name\":\"slow-"),
        "{text}"
    );
}

#[test]
fn query_timeout_shortens_the_request_deadline() {
    let s = TestServer::start();
    let creds = admin(&s);
    let mut args: Vec<&str> = creds.iter().map(String::as_str).collect();
    args.extend([
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-w",
        "\n%{http_code}",
    ]);
    let mut codes = Vec::new();
    for i in 0..10 {
        let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"q-{i}"}}}}"#);
        let mut a = args.clone();
        a.extend(["-d", &body]);
        let out = curl(&s, &a, "/api/v1/namespaces/default/configmaps?timeout=1ns");
        let text = common::text(&out.stdout);
        codes.push(text.rsplit_once('\n').map(|(_, c)| c.to_string()).unwrap_or_default());
    }
    assert!(codes.iter().all(|c| c == "201" || c == "504"), "{codes:?}");
    assert!(codes.iter().any(|c| c == "504"), "{codes:?}");
    // Without it, the 1m default applies.
    let mut a = args.clone();
    a.extend([
        "-d",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"plain"}}"#,
    ]);
    let out = curl(&s, &a, "/api/v1/namespaces/default/configmaps");
    assert!(
        common::text(&out.stdout).ends_with("\n201"),
        "{}",
        common::text(&out.stdout)
    );
}

/// The SETTINGS the server sends first on an HTTP/2 connection, as (id, value) pairs.
fn h2_server_settings(s: &TestServer) -> Vec<(u16, u32)> {
    let mut tls = tls_socket_alpn(s, &[b"h2"]);
    tls.conn.complete_io(&mut tls.sock).expect("handshake");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .expect("preface");
    let mut head = [0u8; 9];
    tls.read_exact(&mut head).expect("frame header");
    assert_eq!(head[3], 4, "first server frame is not SETTINGS: {head:?}");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    tls.read_exact(&mut payload).expect("settings payload");
    payload
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect()
}

const MAX_CONCURRENT_STREAMS: u16 = 3;
const INITIAL_WINDOW_SIZE: u16 = 4;
const MAX_FRAME_SIZE: u16 = 5;

#[test]
fn http2_settings_follow_upstream_and_the_stream_flag() {
    let s = TestServer::start();
    let settings = h2_server_settings(&s);
    assert!(settings.contains(&(MAX_CONCURRENT_STREAMS, 100)), "{settings:?}");
    assert!(settings.contains(&(INITIAL_WINDOW_SIZE, 256 * 1024)), "{settings:?}");
    assert!(settings.contains(&(MAX_FRAME_SIZE, 256 * 1024)), "{settings:?}");
    drop(s);
    let s = TestServer::start_with(&["--http2-max-streams-per-connection=7"]);
    let settings = h2_server_settings(&s);
    assert!(settings.contains(&(MAX_CONCURRENT_STREAMS, 7)), "{settings:?}");
    s.kubectl_ok("1.33", &["get", "namespaces", "default"]);
}
