//! Shared harness for the integration tests: a real `capstan serve` process on a free loopback
//! port with its own data directory, plus helpers to drive it with kubectl and kube-rs.
#![allow(dead_code)]

pub mod http;

use capstan::testing::free_port;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one kubectl invocation may run before it is killed.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

/// The kubectl versions every kubectl scenario runs with.
pub const KUBECTL_VERSIONS: &[&str] = &["1.27", "1.33"];

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A running `capstan serve` process. Killed (SIGKILL) and reaped on drop; the temp dir goes with it.
pub struct TestServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    extra_args: Vec<String>,
    starts: usize,
}

impl TestServer {
    /// Start a server with the default options.
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Start a server with extra `serve` arguments.
    pub fn start_with(args: &[&str]) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("capstan-it-")
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir_all(dir.path().join("data")).expect("create data dir");
        let mut s = TestServer {
            child: None,
            dir,
            port: free_port(),
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            starts: 0,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut last_err = String::new();
        // A port picked from the OS can be taken by someone else before we bind it: retry on a new one.
        for attempt in 0..3 {
            if attempt > 0 {
                self.port = free_port();
            }
            let log_path = self.dir.path().join(format!("server-{}.log", self.starts));
            self.starts += 1;
            let log = std::fs::File::create(&log_path).expect("create server log");
            let log2 = log.try_clone().expect("clone log handle");
            let child = Command::new(env!("CARGO_BIN_EXE_capstan"))
                .arg("serve")
                .arg("--data-dir")
                .arg(self.data_dir())
                .args(["--secure-port", &self.port.to_string(), "--bind-address", "127.0.0.1"])
                // Authorize as kubeadm configures it, unless the test picks its own modes.
                .args(
                    (!self.extra_args.iter().any(|a| a.starts_with("--authorization-mode")))
                        .then_some("--authorization-mode=Node,RBAC"),
                )
                .args(&self.extra_args)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log2))
                .spawn()
                .expect("spawn capstan");
            self.child = Some(child);
            match self.wait_ready(&log_path) {
                Ok(()) => return,
                Err(e) => {
                    last_err = e;
                    self.kill9();
                }
            }
        }
        panic!("capstan did not become ready: {last_err}");
    }

    fn wait_ready(&mut self, log_path: &Path) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if log.contains("capstan: serving on") && self.kubeconfig().exists() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("server exited with {status}; log:\n{log}"));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}; log:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server (SIGKILL) and start it again on the same data dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGKILL the server process and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory that lives as long as the server.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("admin.kubeconfig")
    }

    /// Everything the server printed since the last (re)start.
    pub fn log(&self) -> String {
        let n = self.starts.saturating_sub(1);
        std::fs::read_to_string(self.dir.path().join(format!("server-{n}.log"))).unwrap_or_default()
    }

    /// Write a file into the scratch dir and return its path.
    /// The server's CA certificate (generated PKI).
    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("pki/ca.crt")
    }

    /// A kubeconfig in the scratch dir that authenticates with the bearer `token` only.
    pub fn token_kubeconfig(&self, name: &str, token: &str) -> PathBuf {
        let cfg = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.url(), "certificate-authority": self.ca_file()}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        });
        self.write_file(&format!("{name}.kubeconfig"), &cfg.to_string())
    }

    pub fn write_file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write scratch file");
        p
    }

    /// A kubectl command for `version` ("1.27" … "1.33") with our kubeconfig and a private cache dir.
    pub fn kubectl_command(&self, version: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl_path(version));
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join(format!("kube-cache-{version}")))
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join(format!("kube-cache-{version}")))
            .stdin(Stdio::null());
        cmd
    }

    /// Run kubectl `version` with `args`; killed after [`KUBECTL_TIMEOUT`].
    pub fn kubectl(&self, version: &str, args: &[&str]) -> Output {
        let cmd = self.kubectl_command(version, args);
        run_with_timeout(cmd, &self.dir, KUBECTL_TIMEOUT)
            .unwrap_or_else(|e| panic!("kubectl {version} {args:?}: {e}\nserver log:\n{}", self.log()))
    }

    /// Run kubectl and require success; returns stdout.
    pub fn kubectl_ok(&self, version: &str, args: &[&str]) -> String {
        let out = self.kubectl(version, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl {version} {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        stdout
    }

    /// Run kubectl and require failure; returns stderr.
    pub fn kubectl_err(&self, version: &str, args: &[&str]) -> String {
        let out = self.kubectl(version, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "kubectl {version} {args:?} unexpectedly succeeded:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stderr
    }

    /// Spawn a long-running kubectl (e.g. `get -w`) whose stdout lines arrive on a channel.
    pub fn kubectl_stream(&self, version: &str, args: &[&str]) -> StreamingKubectl {
        let mut cmd = self.kubectl_command(version, args);
        let err_path = self
            .dir
            .path()
            .join(format!("stream-{}.err", SEQ.fetch_add(1, Ordering::Relaxed)));
        cmd.stdout(Stdio::piped()).stderr(Stdio::from(
            std::fs::File::create(&err_path).expect("create stderr file"),
        ));
        let mut child = cmd.spawn().expect("spawn kubectl");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        StreamingKubectl {
            child,
            lines: rx,
            err_path,
        }
    }

    /// A kube-rs client built from the admin kubeconfig.
    pub async fn kube_client(&self) -> kube::Client {
        install_crypto_provider();
        let kc = Kubeconfig::read_from(self.kubeconfig()).expect("read admin.kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kube config from admin.kubeconfig");
        kube::Client::try_from(cfg).expect("build kube client")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A kubectl process streaming its output (watch). Killed on drop.
pub struct StreamingKubectl {
    child: Child,
    lines: mpsc::Receiver<String>,
    err_path: PathBuf,
}

impl StreamingKubectl {
    /// Read lines until one satisfies `pred`; returns every line read. Panics after `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = pred(&l);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => {
                    let err = std::fs::read_to_string(&self.err_path).unwrap_or_default();
                    panic!("watch output did not show the expected line within {timeout:?}; lines: {seen:#?}\nstderr:\n{err}");
                }
            }
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err_path).unwrap_or_default()
    }
}

impl Drop for StreamingKubectl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a command with stdout/stderr captured to files, killing it after `timeout`.
fn run_with_timeout(mut cmd: Command, dir: &tempfile::TempDir, timeout: Duration) -> Result<Output, String> {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.path().join(format!("cmd-{n}.out"));
    let err_path = dir.path().join(format!("cmd-{n}.err"));
    let out_f = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err_f = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    cmd.stdout(Stdio::from(out_f)).stderr(Stdio::from(err_f));
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
                return Err(format!("timed out after {timeout:?}; stderr so far:\n{stderr}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let stdout = std::fs::read(&out_path).unwrap_or_default();
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok(Output { status, stdout, stderr })
}

/// The versioned kubectl binary (`kubectl.1.27` …) next to the `kubectl` found on PATH.
pub fn kubectl_path(version: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        let k = d.join("kubectl");
        if k.is_file() {
            let real = std::fs::canonicalize(&k).unwrap_or(k);
            let dir = real.parent().map(Path::to_path_buf).unwrap_or(d);
            let versioned = dir.join(format!("kubectl.{version}"));
            assert!(versioned.is_file(), "no {} found", versioned.display());
            return versioned;
        }
    }
    panic!("kubectl not found on PATH");
}

/// kube-rs may be built with more than one rustls provider: pick ring explicitly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Stringify kubectl output for assertions.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
