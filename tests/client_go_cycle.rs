//! client-go (v0.33) as a test client beside kubectl and kube-rs: the Go program in
//! `tests/clients/go/cycle` runs the read-modify-write cycle for each kind `kubectl create`
//! makes, a stale update's conflict, pager-driven list pagination, a watch with bookmarks,
//! server-side apply (conflict, force, field removal) and strategic merge patch. Built with the
//! machine's Go (cached); a missing Go fails in CI.

mod common;

use common::TestServer;

#[test]
fn client_go_read_modify_write_watch_apply_patch() {
    let Some(bin) = common::go::binary("cycle") else { return };
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
