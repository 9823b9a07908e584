//! `TestServer`: a real `capstan serve` process, started by a builder that covers every way the
//! tests run the binary (extra flags, a config file, environment variables, a program name such
//! as `kube-apiserver`, a given data dir or port, the etcd backend), with its output captured per
//! start, and stop / SIGKILL / restart / signals.

use super::kubectl::{kubectl_path, run_with_timeout, StreamingKubectl, KUBECTL_TIMEOUT, SEQ};
use capstan::testing::{eventually, free_port, tail, LoggedChild, TestEtcd};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a server may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// What the server prints once it serves.
const READY_LINE: &str = "capstan: serving on";
/// What the server prints once its port is bound (before its start-up tasks finish).
const LISTENING_LINE: &str = "capstan: listening on";

/// How a server is started; kept by the [`TestServer`] for restarts.
#[derive(Clone)]
struct Spec {
    args: Vec<String>,
    envs: Vec<(OsString, OsString)>,
    program: Option<String>,
    data_dir: PathBuf,
    port: u16,
    /// The port came from the test (a flag or a config file names it): never replaced.
    fixed_port: bool,
    /// Only the test's own arguments: no `--data-dir`, `--secure-port`, `--bind-address` or
    /// default `--authorization-mode` (a config file or a kubeadm command line sets them).
    bare: bool,
    /// The log line a start waits for.
    ready_line: &'static str,
}

/// Builds a [`TestServer`]. Every server gets a scratch dir (logs, files the test writes, the
/// default data dir `data/`) and a free port, known before the start.
pub struct TestServerBuilder {
    dir: tempfile::TempDir,
    spec: Spec,
}

impl Default for TestServerBuilder {
    fn default() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("capstan-it-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = dir.path().join("data");
        TestServerBuilder {
            spec: Spec {
                args: Vec::new(),
                envs: Vec::new(),
                program: None,
                data_dir,
                port: free_port(),
                fixed_port: false,
                bare: false,
                ready_line: READY_LINE,
            },
            dir,
        }
    }
}

impl TestServerBuilder {
    /// One more `serve` argument.
    pub fn arg(mut self, a: impl AsRef<str>) -> Self {
        self.spec.args.push(a.as_ref().to_string());
        self
    }

    /// More `serve` arguments. Unless the test passes `--authorization-mode`, the server
    /// authorizes as kubeadm configures it (`Node,RBAC`).
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.spec.args.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// An environment variable for the server. The test process's own `CAPSTAN_*` variables are
    /// never passed on.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.spec.envs.push((k.into(), v.into()));
        self
    }

    /// Store in this etcd (`--etcd-servers`) instead of the embedded store.
    pub fn etcd(self, etcd: &TestEtcd) -> Self {
        let servers = etcd.servers_flag();
        self.args(["--etcd-servers", &servers])
    }

    /// Write `yaml` to a config file in the scratch dir and pass `--config` with it.
    pub fn config(self, yaml: &str) -> Self {
        let path = self.write_file("capstan.yaml", yaml);
        self.arg("--config").arg(path.to_string_lossy())
    }

    /// Run the binary under another name (a symlink), e.g. `kube-apiserver`.
    pub fn program_name(mut self, name: &str) -> Self {
        self.spec.program = Some(name.to_string());
        self
    }

    /// Use this data dir (e.g. one a previous server left) instead of a fresh one.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spec.data_dir = dir.into();
        self
    }

    /// Serve on this port (set it in a flag or config file yourself with [`bare`](Self::bare)).
    pub fn port(mut self, port: u16) -> Self {
        self.spec.port = port;
        self.spec.fixed_port = true;
        self
    }

    /// Pass only the test's arguments: the data dir, port and bind address come from the test's
    /// own flags or config file (tell the harness with [`data_dir`](Self::data_dir) and
    /// [`port`](Self::port)).
    pub fn bare(mut self) -> Self {
        self.spec.bare = true;
        self.spec.fixed_port = true;
        self
    }

    /// Return from `start` once the port is bound instead of once the server is ready (for
    /// tests that hold a start-up task back and watch `/readyz` fail).
    pub fn until_listening(mut self) -> Self {
        self.spec.ready_line = LISTENING_LINE;
        self
    }

    /// The port the server will serve on.
    pub fn server_port(&self) -> u16 {
        self.spec.port
    }

    /// The data dir the server will use.
    pub fn server_data_dir(&self) -> PathBuf {
        self.spec.data_dir.clone()
    }

    /// The scratch dir (lives as long as the server).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file into the scratch dir (subdirectories are created) and return its path.
    pub fn write_file(&self, name: &str, content: &str) -> PathBuf {
        write_scratch(self.dir.path(), name, content)
    }

    /// Start with `--token-auth-file` holding `csv` (`token,user,uid,"group1,group2"` lines).
    pub fn start_with_tokens(self, csv: &str) -> TestServer {
        let tokens = self.write_file("tokens.csv", csv);
        self.arg("--token-auth-file").arg(tokens.to_string_lossy()).start()
    }

    /// Start the server and wait until it serves; panics with its log if it does not.
    pub fn start(self) -> TestServer {
        std::fs::create_dir_all(&self.spec.data_dir).expect("create data dir");
        let mut s = TestServer {
            child: None,
            dir: self.dir,
            spec: self.spec,
            starts: 0,
        };
        s.spawn();
        s
    }

    /// Run `serve` expecting it to refuse to start: returns stdout and stderr once it exited
    /// with a failure; panics if it serves or keeps running for 30 s.
    pub fn start_fails(self) -> String {
        let mut cmd = command(&self.spec, self.dir.path());
        cmd.stdin(Stdio::null());
        let out = run_with_timeout(cmd, self.dir.path(), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("capstan serve {:?}: {e}", self.spec.args));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "capstan serve {:?} exited successfully:\n{text}",
            self.spec.args
        );
        text
    }
}

fn write_scratch(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("create scratch subdir");
    }
    std::fs::write(&p, content).expect("write scratch file");
    p
}

/// The `serve` command line for `spec`, with the test's `CAPSTAN_*` environment removed.
fn command(spec: &Spec, scratch: &Path) -> Command {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_capstan"));
    let mut cmd = match &spec.program {
        Some(name) => {
            let bin = scratch.join("bin");
            std::fs::create_dir_all(&bin).expect("create bin dir");
            let link = bin.join(name);
            if !link.exists() {
                std::os::unix::fs::symlink(&exe, &link).expect("symlink the binary");
            }
            Command::new(link)
        }
        None => {
            let mut c = Command::new(exe);
            c.arg("serve");
            c
        }
    };
    if !spec.bare {
        cmd.arg("--data-dir").arg(&spec.data_dir).args([
            "--secure-port",
            &spec.port.to_string(),
            "--bind-address",
            "127.0.0.1",
        ]);
        // Authorize as kubeadm configures it, unless the test picks its own modes.
        if !spec
            .args
            .iter()
            .any(|a| a.starts_with("--authorization-mode") || a.starts_with("--authorization-config"))
        {
            cmd.arg("--authorization-mode=Node,RBAC");
        }
    }
    cmd.args(&spec.args);
    // Keep the test environment's CAPSTAN_* variables out of the server's layers.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CAPSTAN_") {
            cmd.env_remove(&k);
        }
    }
    cmd.envs(spec.envs.iter().map(|(k, v)| (k, v)));
    cmd
}

/// A running `capstan serve` process. Killed (SIGKILL) and reaped on drop; the scratch dir goes
/// with it (a data dir given to the builder stays).
pub struct TestServer {
    child: Option<LoggedChild>,
    dir: tempfile::TempDir,
    spec: Spec,
    starts: usize,
}

impl TestServer {
    /// A builder for a server with options.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// Start a server with the default options.
    pub fn start() -> TestServer {
        TestServer::builder().start()
    }

    /// Start a server with extra `serve` arguments.
    pub fn start_with(args: &[&str]) -> TestServer {
        TestServer::builder().args(args).start()
    }

    /// Start a server storing in `etcd`, with extra `serve` arguments.
    pub fn start_on_etcd(etcd: &TestEtcd, args: &[&str]) -> TestServer {
        TestServer::builder().etcd(etcd).args(args).start()
    }

    fn spawn(&mut self) {
        let mut last_err = String::new();
        // A port picked from the OS can be taken by someone else before we bind it: retry on a new one.
        for attempt in 0..3 {
            if attempt > 0 {
                if self.spec.fixed_port {
                    break;
                }
                self.spec.port = free_port();
            }
            let log = self.log_path(self.starts);
            self.starts += 1;
            let cmd = command(&self.spec, self.dir.path());
            self.child = Some(LoggedChild::spawn(cmd, &log));
            match self.wait_ready() {
                Ok(()) => return,
                Err(e) => {
                    last_err = e;
                    self.kill9();
                }
            }
        }
        panic!("capstan did not become ready: {last_err}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let child = self.child.as_mut().expect("spawned");
        let line = self.spec.ready_line;
        eventually("capstan to serve", READY_TIMEOUT, || {
            let log = child.log();
            if log.contains(line) {
                return Ok(Ok(()));
            }
            match child.try_wait() {
                Some(status) => Ok(Err(format!("server exited with {status}; log:\n{log}"))),
                None => Err(format!("no ready line yet; log so far:\n{}", tail(&log, 4000))),
            }
        })
    }

    fn log_path(&self, start: usize) -> PathBuf {
        self.dir.path().join(format!("server-{start}.log"))
    }

    /// Stop the server (SIGKILL) and start it again with the same options and data dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGKILL the server process and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Send `sig` (e.g. `libc::SIGHUP`) to the server.
    pub fn signal(&self, sig: i32) {
        self.child.as_ref().expect("server is running").signal(sig);
    }

    /// SIGTERM, then wait for the exit (graceful shutdown); returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(timeout)
    }

    /// Wait until the server exits by itself; panics with its log after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = self.child.as_mut().expect("server is running").wait_exit(timeout);
        self.child = None;
        status
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").pid() as u32
    }

    pub fn port(&self) -> u16 {
        self.spec.port
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.spec.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.spec.data_dir.clone()
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
        std::fs::read_to_string(self.log_path(self.starts.saturating_sub(1))).unwrap_or_default()
    }

    /// The server's CA certificate (generated PKI).
    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("pki/ca.crt")
    }

    /// The admin client certificate and key (generated PKI).
    pub fn admin_cert(&self) -> (PathBuf, PathBuf) {
        let pki = self.data_dir().join("pki");
        (pki.join("admin.crt"), pki.join("admin.key"))
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

    /// The server's generated CA (certificate and key), to sign client certificates with.
    pub fn ca(&self) -> super::pki::Ca {
        let pki = self.data_dir().join("pki");
        let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
        super::pki::Ca::load(&read("ca.crt"), &read("ca.key"))
    }

    /// A kubeconfig in the scratch dir that authenticates with this client certificate.
    pub fn cert_kubeconfig(&self, name: &str, cert: &super::pki::Cert) -> PathBuf {
        let (crt, key) = cert.write(self.scratch(), name);
        let cfg = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": self.url(), "certificate-authority": self.ca_file()}}],
            "users": [{"name": "u", "user": {"client-certificate": crt, "client-key": key}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        });
        self.write_file(&format!("{name}.kubeconfig"), &cfg.to_string())
    }

    /// Write a file into the scratch dir and return its path.
    pub fn write_file(&self, name: &str, content: &str) -> PathBuf {
        write_scratch(self.dir.path(), name, content)
    }

    /// `curl -sS --max-time 20 --cacert <ca> EXTRA URL` against `path` on this server.
    pub fn curl(&self, extra: &[&str], path: &str) -> Output {
        super::tool("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(self.ca_file())
            .args(extra)
            .arg(format!("{}{path}", self.url()))
            .output()
            .expect("run curl")
    }

    /// curl with `-w '\n%{http_code}'`: (status, body). `-s`: a failed transfer is status 0.
    pub fn curl_status(&self, extra: &[&str], path: &str) -> (u16, String) {
        let mut args = vec!["-w", "\n%{http_code}"];
        args.extend_from_slice(extra);
        let out = self.curl(&args, path);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// A kubectl command for `version` ("1.27" … "1.33") with our kubeconfig and a private cache dir.
    pub fn kubectl_command(&self, version: &str, args: &[&str]) -> Command {
        let cache = self.dir.path().join(format!("kube-cache-{version}"));
        let mut cmd = Command::new(kubectl_path(version));
        cmd.arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", &cache)
            .stdin(Stdio::null());
        cmd
    }

    /// Run kubectl `version` with `args`; killed after [`KUBECTL_TIMEOUT`].
    pub fn kubectl(&self, version: &str, args: &[&str]) -> Output {
        let cmd = self.kubectl_command(version, args);
        run_with_timeout(cmd, self.dir.path(), KUBECTL_TIMEOUT)
            .unwrap_or_else(|e| panic!("kubectl {version} {args:?}: {e}\nserver log:\n{}", self.log()))
    }

    /// Run kubectl: (succeeded, stdout, stderr).
    pub fn kubectl_run(&self, version: &str, args: &[&str]) -> (bool, String, String) {
        let o = self.kubectl(version, args);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
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
        let cmd = self.kubectl_command(version, args);
        let err_path = self
            .dir
            .path()
            .join(format!("stream-{}.err", SEQ.fetch_add(1, Ordering::Relaxed)));
        StreamingKubectl::spawn(cmd, err_path)
    }

    /// A kube-rs client built from the admin kubeconfig.
    pub async fn kube_client(&self) -> kube::Client {
        self.kube_client_for(&self.kubeconfig()).await
    }

    /// A kube-rs client built from `kubeconfig` (e.g. a [`token_kubeconfig`](Self::token_kubeconfig)).
    pub async fn kube_client_for(&self, kubeconfig: &Path) -> kube::Client {
        self.kube_client_with(kubeconfig, true).await
    }

    /// [`kube_client_for`](Self::kube_client_for) without kube-rs' retries of 429/503/504, for
    /// tests that look at those answers themselves.
    pub async fn kube_client_without_retries(&self, kubeconfig: &Path) -> kube::Client {
        self.kube_client_with(kubeconfig, false).await
    }

    async fn kube_client_with(&self, kubeconfig: &Path, retries: bool) -> kube::Client {
        super::install_crypto_provider();
        let kc = Kubeconfig::read_from(kubeconfig).expect("read the kubeconfig");
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kube config from the kubeconfig");
        cfg.default_retry = retries;
        kube::Client::try_from(cfg).expect("build kube client")
    }
}
