//! Go programs under `tests/clients/go` (one module, a package per program), built with the
//! machine's Go into the cache dir and rebuilt only when their sources change. A missing Go
//! fails in CI (`require_tool`) and skips loudly elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary of the package `pkg` (`"."` for the module root, else a sub-directory), or None
/// when Go is missing outside CI.
pub fn go_program(pkg: &str) -> Option<PathBuf> {
    if !super::require_tool("go") {
        return None;
    }
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/go");
    let dir = module.join(pkg);
    let mut sources = vec![module.join("go.mod"), module.join("go.sum")];
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "go"))
        .collect();
    files.sort();
    sources.extend(files);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in &sources {
        ctx.update(p.strip_prefix(&module).unwrap_or(p).to_string_lossy().as_bytes());
        ctx.update(&std::fs::read(p).expect("read Go source"));
    }
    let hash: String = ctx.finish().as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name = if pkg == "." { "client" } else { pkg };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let bin = home.join(".cache/capstan/go-clients").join(format!("{name}-{hash}"));
    if bin.is_file() {
        return Some(bin);
    }
    std::fs::create_dir_all(bin.parent().unwrap()).expect("cache dir");
    // Build beside the target and rename: concurrent tests never run a half-written binary.
    let tmp = bin.with_extension(format!("tmp{}", std::process::id()));
    let out = Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(&tmp)
        .arg(format!("./{}", pkg.trim_start_matches("./")))
        .current_dir(&module)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go build of tests/clients/go/{pkg} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &bin).expect("install Go binary");
    Some(bin)
}
