//! The client-go programs under `tests/clients/go/<name>`, built with the machine's Go into the
//! cache dir and rebuilt only when their sources change; a missing Go fails in CI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary of `tests/clients/go/<name>`; None (after a loud message) when Go is missing
/// outside CI.
pub fn program(name: &str) -> Option<PathBuf> {
    if !super::require_tool("go") {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/go");
    let mut sources = vec![dir.join("go.mod"), dir.join("go.sum")];
    let mut progs: Vec<PathBuf> = std::fs::read_dir(dir.join(name))
        .unwrap_or_else(|e| panic!("tests/clients/go/{name}: {e}"))
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
    let out = PathBuf::from(home).join(format!(".cache/capstan/go-clients/{name}-{hash}"));
    if out.exists() {
        return Some(out);
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).expect("cache dir");
    }
    let status = Command::new("go")
        .args(["build", "-mod=readonly", "-o"])
        .arg(&out)
        .arg(format!("./{name}"))
        .current_dir(&dir)
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of tests/clients/go/{name} failed");
    Some(out)
}
