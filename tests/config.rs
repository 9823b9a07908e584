//! The real binary with layered configuration: a config file that sets the port and data dir,
//! systemd notification, the pid file, log file, graceful shutdown, a kubeadm command line
//! (as `kube-apiserver`), and the `capstan config` commands.

mod common;

use common::{eventually, free_port, matching, secs, text, TestServer};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn capstan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capstan"))
}

fn kubectl_raw(server: &TestServer, path: &str) -> Output {
    server.kubectl("1.33", &["--request-timeout=10s", "get", "--raw", path])
}

#[test]
fn config_file_sets_port_and_data_dir_then_graceful_shutdown() {
    // Only `serve --config <file>`: the port and data dir come from the file.
    let b = TestServer::builder().bare();
    let (port, data, dir) = (b.server_port(), b.server_data_dir(), b.scratch().to_path_buf());
    let pid_file = dir.join("run/capstan.pid");
    let log_file = dir.join("logs/capstan.log");
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut server = b
        .config(&format!(
            "secure-port: {port}\nbind-address: 127.0.0.1\ndata-dir: {}\npid-file: {}\nshutdown-delay-duration: 3s\nlogging:\n  format: json\n  file: {}\n  file-rotation: never\n",
            data.display(),
            pid_file.display(),
            log_file.display()
        ))
        .env("NOTIFY_SOCKET", &notify_path)
        .start();
    let cfg = server.scratch().join("capstan.yaml");
    assert!(
        server.log().contains(&format!("serving on https://127.0.0.1:{port}")),
        "{}",
        server.log()
    );

    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 from the server");
    let msg = text(&buf[..n]);
    assert!(msg.starts_with("READY=1\n"), "{msg}");
    assert!(msg.contains(&format!("MAINPID={}", server.pid())), "{msg}");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        server.pid().to_string()
    );

    let ready = kubectl_raw(&server, "/readyz");
    assert!(ready.status.success(), "readyz: {}", text(&ready.stderr));
    assert_eq!(text(&ready.stdout), "ok");

    // SIGHUP: the log level applies at once; a changed port needs a restart and says so.
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    let other_port = free_port();
    std::fs::write(
        &cfg,
        text_cfg.replace(&format!("secure-port: {port}"), &format!("secure-port: {other_port}")) + "  verbosity: 3\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    eventually("the restart-required warning", secs(10), || {
        matching(server.log(), |log| {
            log.contains("restart required for changed settings: secure-port")
        })
    });
    let ready = kubectl_raw(&server, "/readyz");
    assert!(
        ready.status.success(),
        "still serving after SIGHUP: {}",
        text(&ready.stderr)
    );

    // SIGTERM: readyz fails at once, the server keeps serving through the delay, then exits 0.
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    let n = notify.recv(&mut buf).expect("STOPPING=1 from the server");
    assert_eq!(text(&buf[..n]), "STOPPING=1");
    let ready = kubectl_raw(&server, "/readyz");
    assert!(!ready.status.success(), "readyz must fail while shutting down");
    let live = kubectl_raw(&server, "/livez");
    assert!(
        live.status.success(),
        "livez keeps passing during the delay: {}",
        text(&live.stderr)
    );
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}; log:\n{}", server.log());
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "exited before --shutdown-delay-duration"
    );
    assert!(!pid_file.exists(), "pid file removed on exit");

    // Logs went to the file, as JSON.
    let logged = std::fs::read_to_string(&log_file).unwrap_or_default();
    let serving = logged
        .lines()
        .find(|l| l.contains("capstan is serving"))
        .unwrap_or_else(|| panic!("no serving line in {}:\n{logged}", log_file.display()));
    let v: serde_json::Value = serde_json::from_str(serving).expect("JSON log line");
    assert_eq!(v["level"], "INFO");
    let reloaded = logged
        .lines()
        .find(|l| l.contains("SIGHUP: configuration reloaded"))
        .unwrap_or_else(|| panic!("no reload line:\n{logged}"));
    assert!(reloaded.contains("logging.verbosity"), "{reloaded}");
}

#[test]
fn kubeadm_flag_set_starts_as_kube_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().join("data");

    // First run: the server's own bootstrap writes a CA, serving cert and admin kubeconfig.
    let first = TestServer::builder()
        .bare()
        .data_dir(&data)
        .port(port)
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--secure-port={port}"))
        .start();
    drop(first);

    // Second run: kubeadm's command line (apiserver-facts.md §1.2), argv[0] = kube-apiserver.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_capstan"), bin.join("kube-apiserver")).unwrap();
    let pki = data.join("pki");
    let p = |f: &str| pki.join(f).display().to_string();
    // kubeadm's other PKI files (service-account keys, front proxy, kubelet client) from
    // `capstan certs init`: the server reads them all now, as upstream does.
    let kpki = dir.path().join("etc/kubernetes/pki");
    let out = capstan()
        .args(["certs", "init", "--advertise-address", "127.0.0.1", "--dir"])
        .arg(&kpki)
        .arg("--kubeconfig-dir")
        .arg(dir.path().join("etc/kubernetes"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let k = |f: &str| kpki.join(f).display().to_string();
    let args = vec![
        "--advertise-address=127.0.0.1".to_string(),
        "--allow-privileged=true".into(),
        "--authorization-mode=Node,RBAC".into(),
        format!("--client-ca-file={}", p("ca.crt")),
        "--enable-admission-plugins=NodeRestriction".into(),
        "--enable-bootstrap-token-auth=true".into(),
        format!("--etcd-cafile={}", k("etcd/ca.crt")),
        format!("--etcd-certfile={}", k("apiserver-etcd-client.crt")),
        format!("--etcd-keyfile={}", k("apiserver-etcd-client.key")),
        "--etcd-servers=https://127.0.0.1:2379".into(),
        format!("--kubelet-client-certificate={}", k("apiserver-kubelet-client.crt")),
        format!("--kubelet-client-key={}", k("apiserver-kubelet-client.key")),
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
        format!("--proxy-client-cert-file={}", k("front-proxy-client.crt")),
        format!("--proxy-client-key-file={}", k("front-proxy-client.key")),
        "--requestheader-allowed-names=front-proxy-client".into(),
        format!("--requestheader-client-ca-file={}", k("front-proxy-ca.crt")),
        "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
        "--requestheader-group-headers=X-Remote-Group".into(),
        "--requestheader-username-headers=X-Remote-User".into(),
        format!("--secure-port={port}"),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", k("sa.pub")),
        format!("--service-account-signing-key-file={}", k("sa.key")),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        format!("--tls-cert-file={}", p("apiserver.crt")),
        format!("--tls-private-key-file={}", p("apiserver.key")),
        // Capstan's own: where the embedded store lives (no etcd runs in this test).
        format!("--data-dir={}", data.display()),
        "--storage-backend=embedded".into(),
    ];
    let server = TestServer::builder()
        .bare()
        .program_name("kube-apiserver")
        .data_dir(&data)
        .port(port)
        .args(&args)
        .start();
    let log = server.log();
    // Every flag kubeadm sets is implemented: nothing is reported as accepted and ignored.
    assert!(!log.contains("accepted and ignored"), "{log}");
    let ready = kubectl_raw(&server, "/readyz");
    assert!(ready.status.success(), "readyz: {}\nlog:\n{log}", text(&ready.stderr));
    assert_eq!(text(&ready.stdout), "ok");
    drop(server);

    // Not an upstream flag: refused, with a suggestion.
    let out = Command::new(bin.join("kube-apiserver"))
        .arg("--secure-prot=6443")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error: unknown flag: --secure-prot (did you mean --secure-port?)"
    );
    let out = Command::new(bin.join("kube-apiserver"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with("Kubernetes v1.33."),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn config_show_and_validate_commands() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "etcd:\n  prefix: /kube\n").unwrap();
    std::fs::create_dir_all(dir.path().join("c.yaml.d")).unwrap();
    std::fs::write(dir.path().join("c.yaml.d/10-port.toml"), "secure-port = 7000\n").unwrap();
    let out = capstan()
        .args(["config", "show", "--sources", "--config"])
        .arg(&cfg)
        .arg("--min-request-timeout=60")
        .env("CAPSTAN_LOGGING__FORMAT", "json")
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        shown.contains(&format!("  prefix: /kube  # file {}\n", cfg.display())),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "secure-port: 7000  # file {}\n",
            dir.path().join("c.yaml.d/10-port.toml").display()
        )),
        "{shown}"
    );
    assert!(
        shown.contains("  format: json  # environment variable CAPSTAN_LOGGING__FORMAT\n"),
        "{shown}"
    );
    assert!(
        shown.contains("min-request-timeout: 60  # flag --min-request-timeout\n"),
        "{shown}"
    );
    assert!(shown.contains("max-requests-inflight: 400  # default\n"), "{shown}");

    let good = capstan().args(["config", "validate"]).arg(&cfg).output().unwrap();
    assert!(good.status.success(), "{}", text(&good.stderr));

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "secure-port: 6443\nlogging:\n  verbosity: loud\nsecure-prot: 1\n").unwrap();
    let out = capstan().args(["config", "validate"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let b = bad.display();
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "2 configuration errors:\n  {b}:3: key \"logging.verbosity\" (flag --v): expected integer 0-255, got \"loud\" (string)\n  {b}:4: unknown key \"secure-prot\" (did you mean \"secure-port\"?)"
        )
    );

    // A broken config stops `serve` before anything starts, naming the layer.
    let out = capstan().args(["serve", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("{b}:4: unknown key \"secure-prot\"")),
        "{}",
        text(&out.stderr)
    );
}

/// Read an HTTP/1.1 response until the server closes the connection. A reset or a read error
/// is a failure (the stream must end cleanly).
fn read_to_close(stream: &mut std::net::TcpStream) -> Result<String, std::io::Error> {
    use std::io::Read;
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf)? {
            0 => return Ok(text(&all)),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Read until the response headers are complete.
fn read_headers(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut all = Vec::new();
    let mut byte = [0u8; 1];
    while !all.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read response headers");
        assert!(n > 0, "connection closed before the headers: {}", text(&all));
        all.push(byte[0]);
    }
    text(&all)
}

/// Graceful shutdown keeps no request hanging: after `--shutdown-delay-duration` the listener
/// closes, a watch open during SIGTERM ends with a clean end of stream (the last chunk, then the
/// connection closes; no reset), a request still uploading its body completes with its normal
/// answer, and the process exits 0.
#[test]
fn graceful_shutdown_ends_watches_and_finishes_in_flight_requests() {
    use std::io::Write;
    use std::net::TcpStream;
    let insecure = free_port();
    let mut server = TestServer::builder()
        .arg("--authorization-mode=AlwaysAllow")
        .args([
            "--insecure-port",
            &insecure.to_string(),
            "--shutdown-delay-duration",
            "2s",
        ])
        .start();
    let addr = format!("127.0.0.1:{insecure}");

    // A long watch (5 minutes), streaming.
    let mut watch = TcpStream::connect(&addr).expect("connect for the watch");
    watch.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    watch
        .write_all(
            b"GET /api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=300 HTTP/1.1\r\nHost: capstan\r\n\r\n",
        )
        .unwrap();
    let head = read_headers(&mut watch);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("transfer-encoding: chunked"),
        "{head}"
    );

    // A create whose body is still being uploaded when the server begins to drain. With
    // `Expect: 100-continue` the server says when it reads the body: the request is in flight.
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"},"data":{"k":"v"}}"#;
    let mut slow = TcpStream::connect(&addr).expect("connect for the slow create");
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        slow,
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: capstan\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    slow.flush().unwrap();
    let go_on = read_headers(&mut slow);
    assert!(go_on.starts_with("HTTP/1.1 100"), "{go_on}");
    slow.write_all(&body[..20]).unwrap();
    slow.flush().unwrap();

    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    // The watch streams through the delay and ends once the server drains.
    let watched = read_to_close(&mut watch).expect("the watch must end cleanly, not with a reset");
    let ended = signalled.elapsed();
    assert!(
        ended >= Duration::from_millis(1900),
        "watch ended before the delay: {ended:?}"
    );
    assert!(ended < Duration::from_secs(10), "watch kept open: {ended:?}");
    assert!(watched.ends_with("0\r\n\r\n"), "no final chunk: {watched:?}");
    // Draining: no new connections.
    eventually("the listener to close after the delay", secs(5), || {
        TcpStream::connect(&addr).is_err()
    });

    // The in-flight create finishes with its normal answer.
    slow.write_all(&body[20..]).unwrap();
    let answer = read_to_close(&mut slow).expect("the in-flight request must complete");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"name\":\"late\""), "{answer}");

    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}; log:\n{}", server.log());
}

/// As in a pod beside a Service named `capstan`: the kubelet's `CAPSTAN_PORT`,
/// `CAPSTAN_SERVICE_HOST`, … are warned about and ignored, and a config file written with
/// kube-apiserver flag names as keys (k3s style) is read as the nested keys.
#[test]
fn kubelet_service_variables_and_flag_named_keys() {
    let b = TestServer::builder();
    let server = b
        .config("service-node-port-range: 31000-31100\nmax-requests-inflight: 123\n")
        .env("CAPSTAN_PORT", "tcp://10.96.0.7:443")
        .env("CAPSTAN_SERVICE_HOST", "10.96.0.7")
        .env("CAPSTAN_PORT_443_TCP_PROTO", "tcp")
        .start();
    let log = server.log();
    assert!(
        log.contains("environment variable CAPSTAN_SERVICE_HOST is not a setting, ignoring it"),
        "{log}"
    );
    // The alias took effect: a NodePort outside 31000-31100 is refused with upstream's message.
    let err = server.kubectl_err(
        "1.33",
        &[
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=80:80",
            "--node-port=30001",
        ],
    );
    assert!(
        err.contains("spec.ports[0].nodePort: Invalid value: 30001: provided port is not in the valid range. The range of valid ports is 31000-31100"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k3s.yaml");
    std::fs::write(&cfg, "service-node-port-range: 31000-31100\netcd-prefix: /k\n").unwrap();
    let out = capstan()
        .args(["config", "show", "--sources", "--config"])
        .arg(&cfg)
        .env("CAPSTAN_SERVICE_PORT", "443")
        .output()
        .unwrap();
    let (shown, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Warning: environment variable CAPSTAN_SERVICE_PORT is not a setting, ignoring it"),
        "{stderr}"
    );
    let file = format!("# file {}\n", cfg.display());
    assert!(
        shown.contains(&format!("  node-port-range: 31000-31100  {file}")),
        "{shown}"
    );
    assert!(shown.contains(&format!("  prefix: /k  {file}")), "{shown}");
    // A malformed value of a real setting still stops the server.
    let out = capstan()
        .args(["serve"])
        .env("CAPSTAN_SECURE_PORT", "https")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("environment variable CAPSTAN_SECURE_PORT (key \"secure-port\")"),
        "{}",
        text(&out.stderr)
    );
}
