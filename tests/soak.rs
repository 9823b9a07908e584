//! The short form of `scripts/soak.sh`, run by CI: the mixed workload of `capstan-load --scenario
//! soak` (kubelets, an admin, controllers' list/watch, a tenant flooding LISTs, conflicting
//! writers) while the storage fails under it — `kill -9` of Capstan on the embedded store, the
//! etcd leader killed in a 3-member cluster — then no acknowledged write is missing, no watcher
//! saw a gap or a duplicate, the kubelets kept being served, and memory did not run away.

mod common;

use common::{secs, TestEtcd, TestServer, TestServerBuilder};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the workload runs, and when the faults hit (seconds into the run).
const DURATION: u64 = 45;
const FAULTS_AT: &[u64] = &[12, 27];

/// The pid file is how the load follows the server's RSS across restarts.
fn with_pid_file(b: TestServerBuilder) -> TestServerBuilder {
    let pid_file = b.scratch().join("capstan.pid");
    b.arg("--pid-file").arg(pid_file.to_string_lossy())
}

fn start_load(ts: &TestServer, report: &std::path::Path) -> Child {
    let log = std::fs::File::create(ts.scratch().join("load.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_capstan-load"))
        .arg("--kubeconfig")
        .arg(ts.kubeconfig())
        .args(["--scenario", "soak", "--duration", &DURATION.to_string()])
        .args(["--nodes", "10", "--node-period-ms", "1000"])
        .args(["--flood-objects", "2000", "--flood-workers", "24"])
        .args(["--writers", "4", "--write-keys", "8", "--watchers", "2"])
        .args(["--request-timeout", "10"])
        .arg("--pid-file")
        .arg(ts.scratch().join("capstan.pid"))
        .arg("--report")
        .arg(report)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start capstan-load")
}

/// Wait for the load to start running (its setup creates the flood's objects first).
fn wait_running(ts: &TestServer) -> Instant {
    common::eventually("the soak workload to start", secs(180), || {
        std::fs::read_to_string(ts.scratch().join("load.log"))
            .unwrap_or_default()
            .contains("soak: running for")
    });
    Instant::now()
}

fn finish(ts: &TestServer, mut load: Child, report: &std::path::Path) -> Value {
    let deadline = Instant::now() + secs(DURATION + 420);
    let status = loop {
        if let Some(s) = load.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "capstan-load did not finish");
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = std::fs::read_to_string(ts.scratch().join("load.log")).unwrap_or_default();
    eprintln!("{log}");
    assert!(
        status.success(),
        "capstan-load failed:\n{log}\nserver log:\n{}",
        ts.log()
    );
    serde_json::from_slice(&std::fs::read(report).expect("the soak report")).unwrap()
}

fn assert_sound(r: &Value) {
    assert!(r["acked_creates"].as_u64().unwrap() > 0, "{r}");
    assert!(r["acked_updates"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["writes_lost"], 0, "lost writes: {}", r["lost_samples"]);
    assert_eq!(r["watch_gaps"], 0, "watch gaps: {}", r["gap_samples"]);
    assert_eq!(r["watch_duplicates"], 0, "{r}");
    assert!(r["watch_events"].as_u64().unwrap() > 0, "{r}");
    let kubelet = &r["classes"]["kubelet"];
    let ok = kubelet["ok"].as_u64().unwrap();
    let failed = kubelet["failed"].as_u64().unwrap();
    assert!(ok > 100 && failed * 5 < ok, "kubelets were not served: {kubelet}");
    assert_eq!(kubelet["rejected"], 0, "kubelets were throttled: {kubelet}");
    assert_eq!(r["classes"]["masters"]["rejected"], 0, "{r}");
    // The tenant's LISTs go through APF: any rejection carries Retry-After.
    let flood = &r["classes"]["flood"];
    assert_eq!(flood["rejected"], flood["retry_after"], "{flood}");
}

#[test]
fn soak_with_capstan_killed_on_the_embedded_store() {
    let mut ts = with_pid_file(TestServer::builder()).start();
    let report = ts.scratch().join("report.json");
    let load = start_load(&ts, &report);
    let t0 = wait_running(&ts);
    for at in FAULTS_AT {
        std::thread::sleep(secs(*at).saturating_sub(t0.elapsed()));
        ts.restart();
    }
    let r = finish(&ts, load, &report);
    assert_sound(&r);
    assert!(r["server_restarts_seen"].as_u64().unwrap() >= 1, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_the_etcd_leader_killed() {
    if !common::require_tool("etcd") {
        return;
    }
    let mut etcd = TestEtcd::cluster(3);
    etcd.wait_healthy(secs(30)).await;
    let ts = with_pid_file(TestServer::builder().etcd(&etcd)).start();
    let report = ts.scratch().join("report.json");
    let load = start_load(&ts, &report);
    let t0 = wait_running(&ts);
    for at in FAULTS_AT {
        tokio::time::sleep(secs(*at).saturating_sub(t0.elapsed())).await;
        let leader = etcd.wait_healthy(secs(30)).await;
        etcd.kill_member(leader);
        // The survivors elect a new leader under the load; the old one rejoins.
        etcd.wait_healthy(secs(30)).await;
        etcd.restart_member(leader);
    }
    let r = finish(&ts, load, &report);
    assert_sound(&r);
    // One process for the whole run: memory at the end stays near memory after warm-up.
    let (start, end) = (r["rss_start_kib"].as_u64().unwrap(), r["rss_end_kib"].as_u64().unwrap());
    assert!(
        end < start * 3 / 2 + 64 * 1024,
        "RSS grew from {start} KiB to {end} KiB"
    );
}
