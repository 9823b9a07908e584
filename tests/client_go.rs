//! Real client-go (v0.33) programs from `tests/clients/go` against Capstan.
//!
//! The read-modify-write cycle: `tests/clients/go/cycle` takes each kind `kubectl create` makes
//! through Get/Update, a stale update's conflict, pager-driven list pagination, a watch with
//! bookmarks, server-side apply (conflict, force, field removal) and strategic merge patch.
//!
//! WatchList through a real client-go (v0.33) informer with `KUBE_FEATURE_WatchListClient=true`:
//! the Go program in `tests/clients/go/watchlist` syncs an informer from one streaming watch (no
//! LIST), checks the `k8s.io/initial-events-end` bookmark and upstream's validation error.

mod common;

use common::TestServer;
use std::process::Command;

#[test]
fn client_go_informer_syncs_through_watch_list() {
    let Some(bin) = common::go::program("watchlist") else {
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

/// Upstream's "should receive events on concurrent watches in same order", four times at once in
/// four namespaces: watches started from successive resourceVersions must deliver the same next
/// event (a namespace's watch once received other namespaces' live events).
#[test]
fn client_go_concurrent_watches_see_the_same_order() {
    let Some(bin) = common::go::program("watchorder") else {
        return;
    };
    let s = TestServer::start();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = Command::new(&bin);
            cmd.arg("-kubeconfig").arg(s.kubeconfig()).args(["-iterations", "40"]);
            let scratch = s.scratch().to_path_buf();
            std::thread::spawn(move || common::kubectl::run_with_timeout(cmd, &scratch, common::secs(120)))
        })
        .collect();
    for r in runs {
        let out = r.join().expect("thread").expect("run watchorder");
        assert!(
            out.status.success(),
            "watchorder failed ({}):\n{}\n{}",
            out.status,
            common::text(&out.stdout),
            common::text(&out.stderr)
        );
    }
}

/// client-go as a controller uses it, kind by kind.
#[test]
fn client_go_read_modify_write_watch_apply_patch() {
    let Some(bin) = common::go::program("cycle") else {
        return;
    };
    let s = TestServer::start();
    s.kubectl_ok("1.33", &["create", "namespace", "cycle"]);
    let out = common::go::run(&bin, &s, &["-namespace", "cycle"], &[]);
    let (stdout, stderr) = (common::text(&out.stdout), common::text(&out.stderr));
    assert!(
        out.status.success() && stdout.ends_with("OK\n"),
        "cycle failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        out.status,
        s.log()
    );
    for kind in common::KUBECTL_CREATE_KINDS {
        assert!(stdout.contains(&format!("rmw {kind}\n")), "{kind}: {stdout}");
    }
    assert!(stdout.contains("paged list: 7 items in 3 pages\n"), "{stdout}");
}
