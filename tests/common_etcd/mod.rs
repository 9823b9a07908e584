//! Real etcd for the integration tests: one or three members on free loopback ports with temp
//! data dirs (Debian's `etcd-server`, installed by `scripts/setup.sh`). Every member is killed
//! on drop (continued first if it was stopped); the data dirs go with the temp dir.
#![allow(dead_code)]

use capstan::testing::free_port;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }
}

pub struct EtcdCluster {
    pub members: Vec<Member>,
    dir: tempfile::TempDir,
    starts: usize,
}

impl EtcdCluster {
    /// Start `n` members and wait until the cluster serves requests.
    pub fn start(n: usize) -> EtcdCluster {
        let dir = tempfile::Builder::new()
            .prefix("capstan-etcd-")
            .tempdir()
            .expect("create temp dir");
        let members = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let mut c = EtcdCluster {
            members,
            dir,
            starts: 0,
        };
        for i in 0..n {
            c.spawn_member(i, "new");
        }
        c
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer()))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// (Re)start member `i` on its ports and data dir.
    pub fn spawn_member(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        let data = self.data_dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("etcd log");
        let m = &mut self.members[i];
        let (client, peer) = (m.endpoint(), m.peer());
        let child = Command::new("etcd")
            .args(["--name", &m.name, "--data-dir"])
            .arg(data)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial, "--initial-cluster-state", state])
            .args(["--initial-cluster-token", "capstan-test"])
            // Quick elections on loopback.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .env(
                "ETCD_UNSUPPORTED_ARCH",
                std::env::consts::ARCH
                    .replace("x86_64", "amd64")
                    .replace("aarch64", "arm64"),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("cannot start etcd: run scripts/setup.sh (Debian package etcd-server)");
        m.child = Some(child);
        self.starts += 1;
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::endpoint).collect()
    }

    /// `--etcd-servers` value.
    pub fn servers_flag(&self) -> String {
        self.endpoints().join(",")
    }

    /// SIGKILL member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGCONT);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, i: usize, sig: i32) {
        if let Some(pid) = self.members[i].pid() {
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// A raw client on the given members.
    pub async fn client(&self, members: &[usize]) -> etcd_client::Client {
        let eps: Vec<String> = members.iter().map(|&i| self.members[i].endpoint()).collect();
        etcd_client::Client::connect(
            eps,
            Some(etcd_client::ConnectOptions::new().with_timeout(Duration::from_secs(2))),
        )
        .await
        .expect("etcd client")
    }

    /// Wait until every live member answers and agrees on a leader; returns the leader's index.
    pub async fn wait_healthy(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader().await {
                return leader;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                let tail: String = log
                    .chars()
                    .rev()
                    .take(4000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!("etcd cluster not healthy after {timeout:?}; log tail:\n{tail}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Index of the current leader, if the live members agree on one.
    pub async fn leader(&self) -> Option<usize> {
        let mut leader_id = None;
        let mut ids = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.child.is_none() {
                ids.push(None);
                continue;
            }
            let mut c = tokio::time::timeout(Duration::from_secs(2), self.client(&[i]))
                .await
                .ok()?;
            let st = tokio::time::timeout(Duration::from_secs(2), c.status())
                .await
                .ok()?
                .ok()?;
            let me = st.header()?.member_id();
            if st.leader() == 0 {
                return None;
            }
            match leader_id {
                None => leader_id = Some(st.leader()),
                Some(l) if l != st.leader() => return None,
                _ => {}
            }
            ids.push(Some(me));
        }
        let l = leader_id?;
        ids.iter().position(|id| *id == Some(l))
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
