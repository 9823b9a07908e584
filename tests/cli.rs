//! The pinned command-line interface: `capstan --version`, the data-dir layout, and the
//! insecure port (off unless set, loopback only unless explicitly overridden).

mod common;

use capstan::testing::free_port;
use common::{eventually, matching, secs, TestServer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_capstan")
}

/// One plain HTTP/1.1 request; returns (status line, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the insecure port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

#[test]
fn version_flag_prints_the_version() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("capstan {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn data_dir_holds_store_pki_and_kubeconfig() {
    let s = TestServer::start();
    let d = s.data_dir();
    for f in [
        "admin.kubeconfig",
        "pki/ca.crt",
        "pki/ca.key",
        "pki/apiserver.crt",
        "pki/admin.crt",
        "capstan.db",
    ] {
        assert!(d.join(f).exists(), "{f} missing under the data dir");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("pki/ca.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private keys are 0600");
}

#[test]
fn insecure_port_is_loopback_only_and_serves_without_authentication() {
    let port = free_port();
    let s = TestServer::start_with(&["--insecure-port", &port.to_string()]);
    let (status, body) = http_get(port, "/api/v1/namespaces");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    assert!(body.contains("\"kind\":\"NamespaceList\""), "{body}");
    assert!(body.contains("kube-system"), "{body}");
    assert!(s.log().contains("INSECURE PORT ENABLED"), "a loud warning is logged");

    // A non-loopback address is refused unless explicitly allowed.
    let err = TestServer::builder()
        .arg("--authorization-mode=AlwaysAllow")
        .args(["--insecure-port", &free_port().to_string()])
        .args(["--insecure-bind-address", "0.0.0.0"])
        .start_fails();
    assert!(
        err.contains("--insecure-bind-address=0.0.0.0 is not a loopback address"),
        "{err}"
    );
    assert!(
        err.contains("--insecure-allow-non-loopback"),
        "the error names the override: {err}"
    );
}

/// The serial of the certificate the server presents.
fn served_serial(port: u16) -> String {
    let out = common::tool("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn renewed_serving_certificate_is_picked_up_without_restart() {
    if !common::require_tool("openssl") {
        return;
    }
    let s = TestServer::start();
    let before = served_serial(s.port());
    assert!(before.starts_with("serial="), "{before}");
    let pki = s.data_dir().join("pki");
    let kc = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["certs", "renew", "apiserver", "--dir", pki.to_str().unwrap()])
        .args(["--kubeconfig-dir", kc.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "renew: {}", String::from_utf8_lossy(&out.stderr));
    eventually("the renewed serving certificate", secs(15), || {
        matching(served_serial(s.port()), |now| {
            *now != before && now.starts_with("serial=")
        })
    });
    // Same CA: clients keep working.
    let ns = s.kubectl_ok("1.33", &["get", "ns", "default", "-o", "name"]);
    assert_eq!(ns.trim(), "namespace/default");
}
