//! client-go (v0.33, `tests/clients/go`) as a test client: each program under that module is
//! built with the machine's Go into the cache dir, rebuilt only when its sources change, and
//! run against a [`TestServer`] with its admin kubeconfig. A missing `go` fails under `CI=true`.

use super::TestServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary of `tests/clients/go/<program>`; None (after a loud message) when Go is missing
/// outside CI.
pub fn program(program: &str) -> Option<PathBuf> {
    if !super::require_tool("go") {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/go");
    let mut sources = vec![dir.join("go.mod"), dir.join("go.sum")];
    let mut progs: Vec<PathBuf> = std::fs::read_dir(dir.join(program))
        .unwrap_or_else(|e| panic!("tests/clients/go/{program}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "go"))
        .collect();
    progs.sort();
    sources.extend(progs);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in &sources {
        ctx.update(p.to_string_lossy().as_bytes());
        ctx.update(&std::fs::read(p).expect("read Go source"));
    }
    let hash: String = ctx.finish().as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let out = PathBuf::from(home).join(format!(".cache/capstan/go-clients/{program}-{hash}"));
    if out.exists() {
        return Some(out);
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).expect("cache dir");
    }
    // Build to a temporary name and rename: tests building the same program at once never see
    // a half-written binary.
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let built = Command::new("go")
        .args(["build", "-mod=readonly", "-o"])
        .arg(&tmp)
        .arg(format!("./{program}"))
        .current_dir(&dir)
        .output()
        .expect("run go build");
    assert!(
        built.status.success(),
        "go build of tests/clients/go/{program} failed:\n{}",
        super::text(&built.stderr)
    );
    std::fs::rename(&tmp, &out).expect("move the built program into the cache");
    Some(out)
}

/// Runs `bin` with `-kubeconfig <the server's admin kubeconfig>` and `args` (two minutes at most).
pub fn run(bin: &Path, server: &TestServer, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.arg("-kubeconfig").arg(server.kubeconfig()).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    super::kubectl::run_with_timeout(cmd, server.scratch(), super::secs(120)).expect("run the client-go program")
}
