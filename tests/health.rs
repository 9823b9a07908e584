//! `/livez`, `/readyz` and `/healthz` check for real, and read like upstream's: each check fails
//! when its condition fails — a stopped etcd, a wedged embedded writer (debug-build fault
//! switch), informers that have not listed, start-up tasks that have not finished, shutdown —
//! and recovers when the condition clears.

mod common;

use common::{eventually, matching, secs, text, TestEtcd, TestServer};

const K: &str = "1.33";

/// `kubectl get --raw PATH`: (success, stdout + stderr).
fn raw(ts: &TestServer, path: &str) -> (bool, String) {
    let out = ts.kubectl(K, &["get", "--raw", path]);
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// The check names, in upstream's order.
const LIVEZ: &[&str] = &[
    "ping",
    "log",
    "etcd",
    "poststarthook/priority-and-fairness-config-consumer",
    "poststarthook/priority-and-fairness-filter",
    "poststarthook/crd-informer-synced",
    "poststarthook/start-system-namespaces-controller",
    "poststarthook/start-service-ip-repair-controllers",
    "poststarthook/rbac/bootstrap-roles",
    "poststarthook/priority-and-fairness-config-producer",
    "poststarthook/bootstrap-controller",
    "poststarthook/kube-apiserver-autoregistration",
];

#[test]
fn endpoints_read_like_upstream() {
    let ts = TestServer::start();
    let (ok, live) = raw(&ts, "/livez?verbose");
    assert!(ok, "{live}");
    let mut want: String = LIVEZ.iter().map(|c| format!("[+]{c} ok\n")).collect();
    want.push_str("livez check passed\n");
    assert_eq!(live, want);
    let (ok, health) = raw(&ts, "/healthz?verbose");
    assert!(ok);
    assert_eq!(health, want.replace("livez check", "healthz check"));
    let (ok, ready) = raw(&ts, "/readyz?verbose&exclude=log&exclude=nothing");
    assert!(ok, "{ready}");
    for line in [
        "[+]ping ok\n[+]log excluded: ok\n[+]etcd ok\n[+]etcd-readiness ok\n[+]informer-sync ok\n",
        "[+]poststarthook/kube-apiserver-autoregistration ok\n[+]shutdown ok\nwarn: some health checks cannot be excluded: no matches for \"nothing\"\nreadyz check passed\n",
    ] {
        assert!(ready.contains(line), "{ready}");
    }
    for path in [
        "/readyz/shutdown",
        "/readyz/informer-sync",
        "/livez/etcd",
        "/healthz/log",
    ] {
        assert_eq!(raw(&ts, path), (true, "ok".to_string()), "{path}");
    }
    // Anonymous probes, as the kubelet sends them.
    let (code, body) = ts.curl_status(&[], "/livez");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (ok, body) = raw(&ts, "/livez/shutdown");
    assert!(!ok && body.contains("NotFound"), "shutdown is a readyz check: {body}");
}

/// A writer stuck in a transaction fails `etcd` (livez) and `etcd-readiness` (readyz) on the
/// embedded store; unwedged, the pending write completes and the checks pass again.
#[test]
fn a_wedged_embedded_writer_fails_the_storage_checks() {
    let faults = tempfile::tempdir().unwrap();
    let ts = TestServer::builder().env("TEST_FAULT_DIR", faults.path()).start();
    let wedge = faults.path().join("sqlite-writer-wedge");
    std::fs::write(&wedge, "").unwrap();
    // A write walks into the wedge and waits.
    let mut pending = ts.kubectl_command(K, &["create", "configmap", "during-wedge", "--from-literal=a=b"]);
    let mut pending = pending.spawn().unwrap();
    let body = eventually("livez/etcd to fail", secs(30), || {
        let (ok, body) = raw(&ts, "/livez/etcd");
        (!ok).then_some(body)
    });
    assert!(
        body.contains("internal server error: the embedded store's writer has been stuck in one write transaction"),
        "{body}"
    );
    let (ok, ready) = raw(&ts, "/readyz?verbose");
    assert!(!ok);
    assert!(
        ready.contains("[-]etcd failed: reason withheld")
            && ready.contains("[-]etcd-readiness failed: reason withheld"),
        "{ready}"
    );
    assert!(ready.contains("[+]ping ok"), "{ready}");
    std::fs::remove_file(&wedge).unwrap();
    eventually("the checks to pass again", secs(30), || raw(&ts, "/readyz").0);
    let status = pending.wait().unwrap();
    assert!(status.success(), "the wedged write completes");
    ts.kubectl_ok(K, &["get", "configmap", "during-wedge"]);
    assert!(
        ts.log().contains("stuck in one write transaction"),
        "the reason is logged"
    );
}

/// etcd killed: `etcd` and `etcd-readiness` fail (livez and readyz); restarted: they pass.
#[test]
fn the_etcd_checks_follow_etcd() {
    if !common::require_tool("etcd") {
        return;
    }
    let mut etcd = TestEtcd::start();
    let ts = TestServer::builder().etcd(&etcd).start();
    assert!(raw(&ts, "/livez/etcd").0);
    etcd.kill();
    let body = eventually("livez/etcd to fail", secs(30), || {
        let (ok, body) = raw(&ts, "/livez/etcd");
        (!ok).then_some(body)
    });
    assert!(body.contains("internal server error: etcd at "), "{body}");
    let (ok, ready) = raw(&ts, "/readyz?verbose");
    assert!(
        !ok && ready.contains("[-]etcd-readiness failed: reason withheld"),
        "{ready}"
    );
    let (ok, live) = raw(&ts, "/livez?verbose");
    assert!(!ok && live.contains("[-]etcd failed: reason withheld"), "{live}");
    etcd.spawn();
    assert!(etcd.wait_member_ready(0));
    eventually("readyz to pass again", secs(30), || raw(&ts, "/readyz").0);
}

/// Until the informers have listed and the start-up tasks have run, `informer-sync` and the
/// `poststarthook/*` checks fail (with upstream's reasons on their own paths); then they pass
/// and the server reports ready.
#[test]
fn informers_and_start_up_tasks_gate_readiness() {
    let faults = tempfile::tempdir().unwrap();
    for f in ["informer-sync-hold", "apf-producer-hold"] {
        std::fs::write(faults.path().join(f), "").unwrap();
    }
    let ts = TestServer::builder()
        .env("TEST_FAULT_DIR", faults.path())
        .until_listening()
        .start();
    let ready = eventually("readyz to answer (and fail)", secs(30), || {
        let (ok, body) = raw(&ts, "/readyz?verbose");
        matching((ok, body), |(ok, b)| {
            !ok && b.contains("[-]informer-sync failed: reason withheld")
        })
    })
    .1;
    assert!(
        ready.contains("[-]poststarthook/priority-and-fairness-config-producer failed: reason withheld"),
        "{ready}"
    );
    let (ok, body) = raw(&ts, "/readyz/informer-sync");
    assert!(
        !ok && body.contains("internal server error: ") && body.contains("informers not started yet: [*v1."),
        "{body}"
    );
    let (ok, body) = raw(&ts, "/livez/poststarthook/priority-and-fairness-config-producer");
    assert!(!ok && body.contains("internal server error: not finished"), "{body}");
    let (ok, live) = raw(&ts, "/livez?verbose");
    assert!(
        !ok && !live.contains("]informer-sync"),
        "informer-sync is a readyz check: {live}"
    );
    for f in ["informer-sync-hold", "apf-producer-hold"] {
        std::fs::remove_file(faults.path().join(f)).unwrap();
    }
    eventually("readyz to pass", secs(30), || raw(&ts, "/readyz").0);
    eventually("the ready line", secs(30), || ts.log().contains("capstan: serving on"));
}

/// `--livez-grace-period`: an unfinished start-up task fails `/readyz` but passes `/livez`
/// during the grace period (upstream's `AddBootSequenceHealthChecks`).
#[test]
fn livez_grace_period_covers_unfinished_start_up_tasks() {
    let faults = tempfile::tempdir().unwrap();
    std::fs::write(faults.path().join("apf-producer-hold"), "").unwrap();
    let ts = TestServer::builder()
        .env("TEST_FAULT_DIR", faults.path())
        .arg("--livez-grace-period=1h")
        .until_listening()
        .start();
    let ready = eventually("readyz to answer (and fail)", secs(30), || {
        let (ok, body) = raw(&ts, "/readyz?verbose");
        matching((ok, body), |(ok, b)| {
            !ok && b.contains("[-]poststarthook/priority-and-fairness-config-producer failed")
        })
    })
    .1;
    assert!(!ready.is_empty());
    let (ok, live) = raw(&ts, "/livez?verbose");
    assert!(
        ok && live.contains("[+]poststarthook/priority-and-fairness-config-producer ok"),
        "{live}"
    );
    std::fs::remove_file(faults.path().join("apf-producer-hold")).unwrap();
    eventually("readyz to pass", secs(30), || raw(&ts, "/readyz").0);
}

/// SIGTERM: `/readyz/shutdown` fails at once (with upstream's reason) while `/livez` passes
/// through `--shutdown-delay-duration`.
#[test]
fn shutdown_fails_readyz_first() {
    let mut ts = TestServer::start_with(&["--shutdown-delay-duration=10s"]);
    ts.signal(libc::SIGTERM);
    let body = eventually("readyz/shutdown to fail", secs(10), || {
        let (ok, body) = raw(&ts, "/readyz/shutdown");
        (!ok).then_some(body)
    });
    assert!(
        body.contains("internal server error: process is shutting down"),
        "{body}"
    );
    assert!(raw(&ts, "/livez").0, "livez passes during the delay");
    let status = ts.wait_exit(secs(30));
    assert!(status.success());
}
