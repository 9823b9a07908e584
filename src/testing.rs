//! Helpers for tests that start real processes (etcd, capstan) on loopback ports.

use std::collections::HashSet;
use std::sync::Mutex;

/// A loopback TCP port that is free now and was never handed out before in this process.
///
/// Ports come from below the kernel's ephemeral range (32768+ on Linux), so an outgoing
/// connection cannot take one between this call and the server's bind, and the process-wide
/// set keeps parallel tests from being given the same port twice.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..10_000 {
        let port = rand::random_range(20_000..32_000u16);
        if given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000");
}

/// SIGSTOP `pid` and wait until every one of its threads has stopped. A stop signal is acted
/// on by one thread first; under CPU load the others may serve requests for a while longer.
pub fn stop_process(pid: i32) {
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
        let all_stopped = tasks.is_ok_and(|dir| {
            dir.flatten().all(|t| {
                let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                // The state follows the parenthesised command name.
                let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
                matches!(state, Some('T' | 't') | None)
            })
        });
        if all_stopped {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("process {pid} did not stop within 10 s");
}
