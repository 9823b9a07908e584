//! Running kubectl (every supported version) and other commands with a timeout.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one kubectl invocation may run before it is killed.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

/// The kubectl versions every kubectl scenario runs with.
pub const KUBECTL_VERSIONS: &[&str] = &["1.27", "1.33"];

/// Numbers scratch files of command output.
pub(crate) static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Run a command with stdout/stderr captured to files in `dir`, killing it after `timeout`.
pub fn run_with_timeout(mut cmd: Command, dir: &Path, timeout: Duration) -> Result<Output, String> {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!("cmd-{n}.out"));
    let err_path = dir.join(format!("cmd-{n}.err"));
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
    let k = super::tool_path("kubectl");
    let real = std::fs::canonicalize(&k).unwrap_or(k);
    let dir = real.parent().map(Path::to_path_buf).unwrap_or_default();
    let versioned = dir.join(format!("kubectl.{version}"));
    assert!(
        versioned.is_file(),
        "the tests run kubectl {version}, but there is no {} next to kubectl",
        versioned.display()
    );
    versioned
}

/// A kubectl process streaming its output (watch). Killed on drop.
pub struct StreamingKubectl {
    child: Child,
    lines: mpsc::Receiver<String>,
    err_path: PathBuf,
}

impl StreamingKubectl {
    /// Spawn `cmd` with stdout read line by line and stderr to `err_path`.
    pub fn spawn(mut cmd: Command, err_path: PathBuf) -> StreamingKubectl {
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

/// The last response body `kubectl -v=8` logged (a Go-quoted string holding JSON).
pub fn last_response_body(log: &str) -> serde_json::Value {
    let at = log.rfind("\"Response Body\" body=\"").expect("a logged response body") + "\"Response Body\" body=".len();
    let mut quoted = serde_json::Deserializer::from_str(&log[at..]).into_iter::<String>();
    let body = quoted.next().expect("a quoted body").expect("JSON-compatible quoting");
    serde_json::from_str(&body).expect("a JSON body")
}
