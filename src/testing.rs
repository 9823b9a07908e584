//! Helpers for tests that start real processes (etcd, capstan) on loopback ports, shared by the
//! unit tests under `src/` and the integration harness in `tests/common`:
//!
//! - [`free_port`], [`stop_process`];
//! - [`hex_bytes`]: the bytes of a hex test vector;
//! - [`eventually`] / [`eventually_async`]: poll a condition until it holds, or fail with what was
//!   awaited and the last thing seen. Tests synchronise on conditions, never on fixed sleeps;
//! - [`require_tool`]: an external tool a test needs (curl, etcd, openssl, …). Missing under
//!   `CI=true` it fails the test; elsewhere the test is skipped with a loud message;
//! - [`LoggedChild`]: a child process whose output goes to a log file, killed on drop;
//! - [`TestEtcd`]: real etcd, one member or a cluster, on free ports with temp data dirs.

use std::collections::HashSet;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The bytes of a hex string (a test vector); panics on anything else.
pub fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A loopback TCP port that is free now and was never handed out before in this process.
///
/// Ports come from below the kernel's ephemeral range (32768+ on Linux), so an outgoing
/// connection cannot take one between this call and the server's bind, and the process-wide
/// set keeps parallel tests from being given the same port twice.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..10_000 {
        let port = rand::random_range(20_000..32_000u16);
        if given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000");
}

/// SIGSTOP `pid` and wait until every one of its threads has stopped. A stop signal is acted
/// on by one thread first; under CPU load the others may serve requests for a while longer.
pub fn stop_process(pid: i32) {
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    eventually(
        &format!("every thread of process {pid} to stop"),
        Duration::from_secs(10),
        || {
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
            tasks.is_ok_and(|dir| {
                dir.flatten().all(|t| {
                    let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                    // The state follows the parenthesised command name.
                    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
                    matches!(state, Some('T' | 't') | None)
                })
            })
        },
    );
}

// ------------------------------------------------------------------------------------------------
// Polling for a condition.

/// What a probe of [`eventually`] returns: `true`, `Some(v)` or `Ok(v)` when the condition holds;
/// otherwise `false`, `None` or `Err(e)` (shown in the failure message if it never holds).
pub trait Probe<T> {
    fn check(self) -> Result<T, String>;
}

impl Probe<()> for bool {
    fn check(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("false".into())
        }
    }
}

impl<T> Probe<T> for Option<T> {
    fn check(self) -> Result<T, String> {
        self.ok_or_else(|| "None".into())
    }
}

impl<T, E: Display> Probe<T> for Result<T, E> {
    fn check(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A probe result that reports what it saw: `Ok(value)` when `ok(&value)`, else an error showing
/// the value, e.g. `eventually("Available", t, || matching(status(), |s| s.starts_with("True")))`.
pub fn matching<T: std::fmt::Debug>(value: T, ok: impl FnOnce(&T) -> bool) -> Result<T, String> {
    if ok(&value) {
        Ok(value)
    } else {
        Err(format!("saw {value:?}"))
    }
}

/// The pause before the next attempt: short at first, at most 250 ms.
fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(Duration::from_millis(250))
}

fn timed_out(what: &str, timeout: Duration, attempts: usize, last: &str) -> ! {
    panic!("timed out after {timeout:?} ({attempts} attempts) waiting for {what}; last attempt: {last}")
}

/// Call `probe` until it reports success and return its value; panic after `timeout` naming
/// `what` and the last failure. Blocks the thread between attempts: in async code use
/// [`eventually_async`].
pub fn eventually<T, P: Probe<T>>(what: &str, timeout: Duration, mut probe: impl FnMut() -> P) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match probe().check() {
            Ok(v) => return v,
            Err(last) if start.elapsed() >= timeout => timed_out(what, timeout, attempts, &last),
            Err(_) => {
                std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
                pause = next_pause(pause);
            }
        }
    }
}

/// [`eventually`] for async probes: `eventually_async("…", timeout, || async { … }).await`.
pub async fn eventually_async<T, P: Probe<T>, F: std::future::Future<Output = P>>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match probe().await.check() {
            Ok(v) => return v,
            Err(last) if start.elapsed() >= timeout => timed_out(what, timeout, attempts, &last),
            Err(_) => {
                tokio::time::sleep(pause.min(timeout.saturating_sub(start.elapsed()))).await;
                pause = next_pause(pause);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// External tools.

/// Whether this is a CI run: `CI` set to anything but empty, `0` or `false` (CI services set
/// `CI=true`; `.ci/run` sets it too).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// `name` as found on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// For a test that needs the external tool `name`: `true` when it is on `PATH`. When it is
/// missing the test must not pass silently: under CI this panics (the test fails with what is
/// missing); elsewhere it prints a loud SKIPPED line and returns `false`, and the caller returns.
pub fn require_tool(name: &str) -> bool {
    require_tool_in(name, in_ci())
}

fn require_tool_in(name: &str, ci: bool) -> bool {
    if find_tool(name).is_some() {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("this test").to_string();
    let why =
        format!("{test} needs `{name}`, which is not on PATH (install it; scripts/setup.sh installs etcd and the packaging tools)");
    if ci {
        panic!("{why}; CI is set, so a missing tool is a failure, not a skip");
    }
    eprintln!("\n*** SKIPPED: {why}. Under CI=true this fails. ***\n");
    false
}

/// [`require_tool`] for each of `names`; `false` at the first one missing outside CI.
pub fn require_tools(names: &[&str]) -> bool {
    names.iter().all(|n| require_tool(n))
}

// ------------------------------------------------------------------------------------------------
// Processes and scratch directories.

/// A temporary directory, removed with everything in it on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(prefix: &str) -> ScratchDir {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag: u32 = rand::random();
        let dir = std::env::temp_dir().join(format!("{prefix}{}-{n}-{tag:08x}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        ScratchDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process with stdin closed and stdout and stderr appended to one log file. Killed
/// (continued first, in case it was stopped) and reaped on drop.
pub struct LoggedChild {
    child: Child,
    log: PathBuf,
}

impl LoggedChild {
    /// Spawn `cmd` with its output appended to `log`; panics with `cmd` if it cannot start.
    pub fn spawn(mut cmd: Command, log: &Path) -> LoggedChild {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open log {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        LoggedChild {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Send `sig` to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: a signal to our own child, which is not reaped before drop.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait until the process exits; panics (with its log) after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let what = format!("process {} to exit", self.pid());
        let log = self.log.clone();
        eventually(&what, timeout, || {
            self.child.try_wait().ok().flatten().ok_or_else(|| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                format!("still running; log:\n{}", tail(&log, 4000))
            })
        })
    }

    /// SIGKILL the process (SIGCONT first, so a stopped one dies at once) and reap it.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            // SAFETY: a signal to our own child, which has not been reaped.
            unsafe {
                libc::kill(self.pid(), libc::SIGCONT);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

// ------------------------------------------------------------------------------------------------
// etcd.

/// One member of a [`TestEtcd`].
pub struct EtcdMember {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    child: Option<LoggedChild>,
    /// How many times its log has said it is ready (restarts append to the log).
    readies: usize,
}

/// Real etcd for tests: one member or a cluster on free loopback ports, with data dirs in a temp
/// dir (Debian's `etcd-server`, installed by `scripts/setup.sh`). Every member is killed on drop
/// and the data goes with the temp dir.
pub struct TestEtcd {
    pub members: Vec<EtcdMember>,
    dir: ScratchDir,
    /// Extra command-line flags for every member (TLS).
    extra: Vec<String>,
    /// Scheme of the client URLs (`https` with TLS flags in `extra`).
    scheme: &'static str,
}

const ETCD_READY: &str = "ready to serve client requests";

impl TestEtcd {
    /// One member, ready to serve.
    pub fn start() -> TestEtcd {
        Self::launch(1, Vec::new(), "http")
    }

    /// One member with extra flags (e.g. TLS) and the scheme of its client URL.
    pub fn start_with(extra: Vec<String>, scheme: &'static str) -> TestEtcd {
        Self::launch(1, extra, scheme)
    }

    /// `n` members forming one cluster, every member ready to serve.
    pub fn cluster(n: usize) -> TestEtcd {
        Self::launch(n, Vec::new(), "http")
    }

    fn launch(n: usize, extra: Vec<String>, scheme: &'static str) -> TestEtcd {
        let mut e = TestEtcd {
            members: Vec::new(),
            dir: ScratchDir::new("capstan-etcd-"),
            extra,
            scheme,
        };
        // Ports free a moment ago may be taken by another process before etcd binds them: then
        // a member exits (and a client could reach somebody else's etcd). Retry on new ports.
        for _ in 0..5 {
            e.members = (0..n)
                .map(|i| EtcdMember {
                    name: format!("m{i}"),
                    client_port: free_port(),
                    peer_port: free_port(),
                    child: None,
                    readies: 0,
                })
                .collect();
            for i in 0..n {
                e.spawn_member(i, "new");
            }
            if (0..n).all(|i| e.wait_member_ready(i)) {
                return e;
            }
            for i in 0..n {
                e.kill_member(i);
                let _ = std::fs::remove_dir_all(e.member_data_dir(i));
                let _ = std::fs::remove_file(e.member_log_path(i));
            }
        }
        panic!("etcd did not start:\n{}", e.log());
    }

    fn peer_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[i].peer_port)
    }

    fn initial_cluster(&self) -> String {
        (0..self.members.len())
            .map(|i| format!("{}={}", self.members[i].name, self.peer_url(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Start member `i` on its ports and data dir; `state` is `new` or `existing`. Does not wait.
    pub fn spawn_member(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        let (client, peer) = (self.member_endpoint(i), self.peer_url(i));
        let mut cmd = Command::new("etcd");
        cmd.args(["--name", &self.members[i].name, "--data-dir"])
            .arg(self.member_data_dir(i))
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial, "--initial-cluster-state", state])
            .args(["--initial-cluster-token", "capstan-test"])
            // Quick elections on loopback.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(&self.extra)
            .env(
                "ETCD_UNSUPPORTED_ARCH",
                std::env::consts::ARCH
                    .replace("x86_64", "amd64")
                    .replace("aarch64", "arm64"),
            );
        assert!(
            find_tool("etcd").is_some(),
            "etcd is not on PATH: run scripts/setup.sh (Debian package etcd-server)"
        );
        let child = LoggedChild::spawn(cmd, &self.member_log_path(i));
        self.members[i].child = Some(child);
    }

    /// Restart member `i` (after [`kill_member`](Self::kill_member)) into the existing cluster
    /// and wait until it serves again.
    pub fn restart_member(&mut self, i: usize) {
        self.spawn_member(i, "existing");
        assert!(
            self.wait_member_ready(i),
            "etcd member {i} exited on restart:\n{}",
            self.log()
        );
    }

    /// Wait until member `i` (this process, not another on the same port) logs that it serves
    /// clients; `false` if it exited first.
    pub fn wait_member_ready(&mut self, i: usize) -> bool {
        let before = self.members[i].readies;
        let what = format!("etcd member {i} to serve clients");
        let ready = eventually(&what, Duration::from_secs(20), || {
            let log = std::fs::read_to_string(self.member_log_path(i)).unwrap_or_default();
            if log.matches(ETCD_READY).count() > before {
                return Ok(true);
            }
            match self.members[i].child.as_mut().map(LoggedChild::try_wait) {
                Some(None) => Err(format!("not yet; log tail:\n{}", tail(&log, 2000))),
                _ => Ok(false),
            }
        });
        if ready {
            self.members[i].readies += 1;
        }
        ready
    }

    /// SIGKILL member `i` (continued first if it was stopped).
    pub fn kill_member(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            c.kill();
        }
    }

    /// Send `sig` to member `i`, if it runs.
    pub fn signal_member(&self, i: usize, sig: i32) {
        if let Some(c) = &self.members[i].child {
            c.signal(sig);
        }
    }

    pub fn member_pid(&self, i: usize) -> Option<i32> {
        self.members[i].child.as_ref().map(LoggedChild::pid)
    }

    pub fn member_endpoint(&self, i: usize) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.members[i].client_port)
    }

    pub fn member_data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    fn member_log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.members[i].name))
    }

    /// Client URLs of every member.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.member_endpoint(i)).collect()
    }

    /// The `--etcd-servers` value for every member.
    pub fn servers_flag(&self) -> String {
        self.endpoints().join(",")
    }

    /// The first member's client URL.
    pub fn endpoint(&self) -> String {
        self.member_endpoint(0)
    }

    /// The first member's data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.member_data_dir(0)
    }

    /// The first member's pid (0 if it is not running).
    pub fn pid(&self) -> i32 {
        self.member_pid(0).unwrap_or(0)
    }

    /// SIGKILL the first member.
    pub fn kill(&mut self) {
        self.kill_member(0);
    }

    /// Start the first member again on its ports and data dir (does not wait; see
    /// [`wait_member_ready`](Self::wait_member_ready)).
    pub fn spawn(&mut self) {
        let state = if self.members.len() == 1 { "new" } else { "existing" };
        self.spawn_member(0, state);
    }

    /// A scratch directory that lives as long as the cluster (e.g. for TLS files).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Every member's log, one after another.
    pub fn log(&self) -> String {
        (0..self.members.len())
            .map(|i| {
                let log = std::fs::read_to_string(self.member_log_path(i)).unwrap_or_default();
                format!("--- etcd member {} ---\n{log}", self.members[i].name)
            })
            .collect()
    }

    /// A raw client on the given members.
    pub async fn client(&self, members: &[usize]) -> etcd_client::Client {
        let eps: Vec<String> = members.iter().map(|&i| self.member_endpoint(i)).collect();
        etcd_client::Client::connect(
            eps,
            Some(etcd_client::ConnectOptions::new().with_timeout(Duration::from_secs(2))),
        )
        .await
        .expect("etcd client")
    }

    /// Wait until every live member answers and they agree on a leader; returns its index.
    pub async fn wait_healthy(&self, timeout: Duration) -> usize {
        eventually_async("a healthy etcd cluster with one leader", timeout, || async {
            self.leader().await.ok_or_else(|| tail(&self.log(), 4000).to_string())
        })
        .await
    }

    /// Index of the current leader, if the live members agree on one.
    pub async fn leader(&self) -> Option<usize> {
        let mut leader_id = None;
        let mut ids = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.child.is_none() {
                ids.push(None);
                continue;
            }
            let mut c = tokio::time::timeout(Duration::from_secs(2), self.client(&[i]))
                .await
                .ok()?;
            let st = tokio::time::timeout(Duration::from_secs(2), c.status())
                .await
                .ok()?
                .ok()?;
            let me = st.header()?.member_id();
            if st.leader() == 0 {
                return None;
            }
            match leader_id {
                None => leader_id = Some(st.leader()),
                Some(l) if l != st.leader() => return None,
                _ => {}
            }
            ids.push(Some(me));
        }
        let l = leader_id?;
        ids.iter().position(|id| *id == Some(l))
    }
}

/// The last `n` characters of `s`.
pub fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let start = (start..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventually_returns_the_first_success() {
        let mut calls = 0;
        let v = eventually("the third call", Duration::from_secs(5), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(v, 3);
    }

    #[test]
    #[should_panic(expected = "waiting for a condition that never holds; last attempt: saw 7")]
    fn eventually_names_what_it_waited_for_and_the_last_value() {
        eventually("a condition that never holds", Duration::from_millis(50), || {
            matching(7, |v| *v == 8)
        });
    }

    #[tokio::test]
    async fn eventually_async_polls_an_async_probe() {
        let mut calls = 0;
        let v: u32 = eventually_async("two calls", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move {
                if n >= 2 {
                    Ok(n)
                } else {
                    Err("not yet")
                }
            }
        })
        .await;
        assert_eq!(v, 2);
    }

    #[test]
    fn a_missing_tool_skips_outside_ci() {
        assert!(!require_tool_in("capstan-no-such-tool", false));
        assert!(require_tool_in("sh", true));
    }

    #[test]
    #[should_panic(expected = "needs `capstan-no-such-tool`, which is not on PATH")]
    fn a_missing_tool_fails_under_ci() {
        require_tool_in("capstan-no-such-tool", true);
    }
}
