//! WatchList through a real client-go (v0.33) informer with `KUBE_FEATURE_WatchListClient=true`:
//! the Go program in `tests/clients/go/watchlist` syncs an informer from one streaming watch (no
//! LIST), checks the `k8s.io/initial-events-end` bookmark and upstream's validation error. It is
//! built with the machine's Go into the cache dir and rebuilt only when its sources change; a
//! missing Go fails in CI.

mod common;

use common::TestServer;
use std::process::Command;

#[test]
fn client_go_informer_syncs_through_watch_list() {
    let Some(bin) = common::go::go_program("watchlist") else {
        return;
    };
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
