//! The official Python client (`kubernetes` on PyPI, pinned) as a test client: a venv under the
//! cache dir, created on first use (`python3 -m venv` + pip; later runs reuse it), and a runner
//! for a Python script against a [`TestServer`] with its admin kubeconfig. A missing `python3`
//! or a failed install fails the test under `CI=true`.

use super::TestServer;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The client release matching Kubernetes 1.33.
pub const KUBERNETES_PY: &str = "33.1.0";

/// The venv's python with `kubernetes==KUBERNETES_PY` installed; None (after a loud message)
/// when python3 is missing outside CI.
pub fn python() -> Option<PathBuf> {
    if !capstan::testing::require_tool("python3") {
        return None;
    }
    let root = std::env::var_os("CAPSTAN_PYTHON_VENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            home.join(".cache/capstan/python")
        });
    let venv = root.join(format!("kubernetes-{KUBERNETES_PY}"));
    let py = venv.join("bin/python");
    std::fs::create_dir_all(&root).expect("create the venv cache dir");
    // One installer at a time across test processes.
    let lock = std::fs::File::create(root.join(".lock")).expect("venv lock file");
    // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) },
        0,
        "flock the venv cache"
    );
    let ready = venv.join(".installed");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        let ok = |mut c: Command, what: &str| {
            let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let mut c = super::tool("python3");
        c.args(["-m", "venv"]).arg(&venv);
        ok(c, "python3 -m venv");
        let mut c = Command::new(&py);
        c.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &format!("kubernetes=={KUBERNETES_PY}"),
        ]);
        ok(c, "pip install kubernetes");
        std::fs::write(&ready, KUBERNETES_PY).expect("mark the venv installed");
    }
    Some(py)
}

/// Runs `script` with the venv's python; `KUBECONFIG` points at the server's admin kubeconfig.
/// Returns the output (the script prints what the test checks).
pub fn run(py: &PathBuf, server: &TestServer, script: &str) -> Output {
    let path = server.write_file("client.py", script);
    Command::new(py)
        .arg(&path)
        .env("KUBECONFIG", server.kubeconfig())
        .output()
        .expect("run python")
}

/// [`run`] that must succeed; returns stdout.
pub fn run_ok(py: &PathBuf, server: &TestServer, script: &str) -> String {
    let out = run(py, server, script);
    assert!(
        out.status.success(),
        "python client script failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
