//! WatchList through a real client-go (v0.33) informer with `KUBE_FEATURE_WatchListClient=true`:
//! the Go program in `tests/clients/go/watchlist` syncs an informer from one streaming watch (no
//! LIST), checks the `k8s.io/initial-events-end` bookmark and upstream's validation error. It is
//! built with the machine's Go into the cache dir and rebuilt only when its sources change; a
//! missing Go fails in CI.

mod common;

use common::TestServer;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The program's binary, built when no binary for the current sources exists.
fn watchlist_binary() -> Option<PathBuf> {
    if !common::require_tool("go") {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/go");
    let mut sources = vec![dir.join("go.mod"), dir.join("go.sum")];
    let mut progs: Vec<PathBuf> = std::fs::read_dir(dir.join("watchlist"))
        .expect("tests/clients/go/watchlist")
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
    let out = PathBuf::from(home).join(format!(".cache/capstan/go-clients/watchlist-{hash}"));
    if out.exists() {
        return Some(out);
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).expect("cache dir");
    }
    let status = Command::new("go")
        .args(["build", "-mod=readonly", "-o"])
        .arg(&out)
        .arg("./watchlist")
        .current_dir(&dir)
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of tests/clients/go/watchlist failed");
    Some(out)
}

#[test]
fn client_go_informer_syncs_through_watch_list() {
    let Some(bin) = watchlist_binary() else { return };
    let s = TestServer::start();
    s.kubectl_ok("1.33", &["create", "namespace", "watchlist"]);
    let mut cmd = Command::new(&bin);
    cmd.arg("-kubeconfig")
        .arg(s.kubeconfig())
        .args(["-namespace", "watchlist", "-count", "25"])
        .env("KUBE_FEATURE_WatchListClient", "true");
    let out = common::kubectl::run_with_timeout(cmd, s.scratch(), common::secs(120)).expect("run watchlist");
    let (stdout, stderr) = (common::text(&out.stdout), common::text(&out.stderr));
    assert!(
        out.status.success() && stdout.ends_with("OK\n"),
        "watchlist failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        out.status,
        s.log()
    );
    assert!(stdout.contains("raw watchlist: 25 initial events"), "{stdout}");
}
