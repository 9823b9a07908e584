//! Encryption at rest against real upstream kube-apiserver v1.33: both servers on one etcd
//! with one EncryptionConfiguration file (aescbc, aesgcm, secretbox and KMS v2 through the
//! test plugin), taking turns: upstream writes, capstan reads and writes, upstream reads what
//! capstan wrote. Proves the stored format is byte-compatible both ways.
//!
//! Opt-in (needs the upstream binaries, which `bash scripts/upstream.sh build` builds and
//! caches): `cargo test --test encryption_upstream -- --ignored` (`make interop`). Upstream
//! runs with `--storage-media-type=application/json`, so the check does not depend on capstan
//! reading upstream's protobuf encoding (issue 17).

mod common;
#[path = "common/kms_plugin.rs"]
mod kms_plugin;

use base64::Engine as _;
use capstan::testing::LoggedChild;
use common::{eventually, free_port, local_ip, secs, TestEtcd, TestServer};
use kms_plugin::KmsPlugin;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET_B64: &str = "c3VwZXJzZWNyZXQ=";

fn upstream_bin(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/upstream.sh"))
        .args(["path", name])
        .output()
        .expect("run scripts/upstream.sh");
    assert!(
        out.status.success(),
        "upstream {name} is not built: run `bash scripts/upstream.sh build` ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn capstan(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(args)
        .output()
        .expect("run capstan");
    assert!(
        out.status.success(),
        "capstan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The kubeadm PKI both servers use, and a system:masters kubeconfig.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(root: &Path, port: u16) -> Pki {
        let pki = root.join("pki");
        let (p, r) = (pki.display().to_string(), root.display().to_string());
        let common = [
            "--dir",
            &p,
            "--kubeconfig-dir",
            &r,
            "--node-name",
            "interop",
            "--advertise-address",
            "127.0.0.1",
        ];
        capstan(&[&["certs", "init"][..], &common].concat());
        let port = port.to_string();
        capstan(&[&["kubeconfig"][..], &common, &["--secure-port", &port]].concat());
        Pki {
            dir: root.to_path_buf(),
        }
    }
    fn file(&self, name: &str) -> String {
        self.dir.join("pki").join(name).display().to_string()
    }
    fn admin(&self) -> PathBuf {
        self.dir.join("super-admin.conf")
    }
    /// The flags both servers take (kubeadm's, reduced to what this test needs).
    fn server_args(&self, port: u16, etcd: &TestEtcd, enc: &Path) -> Vec<String> {
        vec![
            format!("--advertise-address={}", local_ip()),
            "--authorization-mode=Node,RBAC".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--client-ca-file={}", self.file("ca.crt")),
            format!("--etcd-servers={}", etcd.servers_flag()),
            format!("--encryption-provider-config={}", enc.display()),
            format!("--secure-port={port}"),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", self.file("sa.pub")),
            format!("--service-account-signing-key-file={}", self.file("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            format!("--tls-cert-file={}", self.file("apiserver.crt")),
            format!("--tls-private-key-file={}", self.file("apiserver.key")),
        ]
    }
}

fn kubectl(pki: &Pki, port: u16, args: &[&str]) -> String {
    let out = Command::new(common::kubectl::kubectl_path("1.33"))
        .arg(format!("--kubeconfig={}", pki.admin().display()))
        .arg(format!("--server=https://127.0.0.1:{port}"))
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?} on :{port}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_ready(pki: &Pki, port: u16, child: &mut LoggedChild) {
    eventually("upstream kube-apiserver to be ready", secs(120), || {
        if let Some(st) = child.try_wait() {
            return Ok(Err(format!("kube-apiserver exited with {st}:\n{}", child.log())));
        }
        let out = Command::new(common::kubectl::kubectl_path("1.33"))
            .arg(format!("--kubeconfig={}", pki.admin().display()))
            .arg(format!("--server=https://127.0.0.1:{port}"))
            .args(["get", "--raw", "/readyz"])
            .output()
            .expect("kubectl");
        if String::from_utf8_lossy(&out.stdout) == "ok" {
            Ok(Ok(()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    })
    .unwrap_or_else(|e: String| panic!("{e}"));
}

fn start_upstream(pki: &Pki, port: u16, etcd: &TestEtcd, enc: &Path, log: &Path) -> LoggedChild {
    let mut cmd = Command::new(upstream_bin("kube-apiserver"));
    cmd.args(pki.server_args(port, etcd, enc))
        .arg("--storage-media-type=application/json")
        .arg(format!("--cert-dir={}", pki.dir.join("upstream-certs").display()));
    let mut child = LoggedChild::spawn(cmd, log);
    wait_ready(pki, port, &mut child);
    child
}

fn raw(etcd_rt: &tokio::runtime::Handle, etcd: &TestEtcd, key: &str) -> Vec<u8> {
    etcd_rt.block_on(async {
        let mut c = etcd.client(&[0]).await;
        let r = c.get(key, None).await.expect("etcd get");
        r.kvs()
            .first()
            .unwrap_or_else(|| panic!("{key} not in etcd"))
            .value()
            .to_vec()
    })
}

fn prefix_of(v: &[u8]) -> String {
    let end = v
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b':')
        .nth(4)
        .map_or(0, |(i, _)| i + 1);
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// What each resource is encrypted with, and the prefix it must carry in etcd.
const CASES: &[(&str, &str, &str)] = &[
    ("secret", "/registry/secrets/default/", "k8s:enc:aescbc:v1:k1:"),
    ("configmap", "/registry/configmaps/default/", "k8s:enc:aesgcm:v1:g1:"),
    (
        "deployment",
        "/registry/deployments/default/",
        "k8s:enc:secretbox:v1:s1:",
    ),
    ("job", "/registry/jobs/default/", "k8s:enc:kms:v2:interop-kms:"),
];

fn create_all(pki: &Pki, port: u16, suffix: &str) {
    kubectl(
        pki,
        port,
        &[
            "create",
            "secret",
            "generic",
            &format!("secret-{suffix}"),
            "--from-literal=password=supersecret",
        ],
    );
    kubectl(
        pki,
        port,
        &[
            "create",
            "configmap",
            &format!("configmap-{suffix}"),
            "--from-literal=password=supersecret",
        ],
    );
    kubectl(
        pki,
        port,
        &[
            "create",
            "deployment",
            &format!("deployment-{suffix}"),
            "--image=registry.k8s.io/pause:3.10",
        ],
    );
    kubectl(
        pki,
        port,
        &[
            "create",
            "job",
            &format!("job-{suffix}"),
            "--image=registry.k8s.io/pause:3.10",
        ],
    );
}

fn check_all(pki: &Pki, port: u16, suffix: &str, rt: &tokio::runtime::Handle, etcd: &TestEtcd) {
    for (kind, key, prefix) in CASES {
        let stored = raw(rt, etcd, &format!("{key}{kind}-{suffix}"));
        assert_eq!(prefix_of(&stored), *prefix, "{kind}-{suffix} in etcd");
        let name = format!("{kind}-{suffix}");
        let got = kubectl(pki, port, &["get", kind, &name, "-o", "jsonpath={.metadata.name}"]);
        assert_eq!(got, name, "{kind} readable on :{port}");
    }
    let s = kubectl(
        pki,
        port,
        &[
            "get",
            "secret",
            &format!("secret-{suffix}"),
            "-o",
            "jsonpath={.data.password}",
        ],
    );
    assert_eq!(s, SECRET_B64);
    let c = kubectl(
        pki,
        port,
        &[
            "get",
            "configmap",
            &format!("configmap-{suffix}"),
            "-o",
            "jsonpath={.data.password}",
        ],
    );
    assert_eq!(c, "supersecret");
}

#[test]
#[ignore = "needs upstream kube-apiserver (bash scripts/upstream.sh build); run: make interop"]
fn upstream_and_capstan_read_each_others_encrypted_data() {
    common::require_tool("etcd");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let etcd = TestEtcd::start();
    let plugin = rt.block_on(KmsPlugin::start(&dir.path().join("kms.sock"), "interop-key-1"));
    let b64 = |b: u8, n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b; n]);
    let enc = dir.path().join("enc.yaml");
    std::fs::write(
        &enc,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
- resources: [secrets]\n  providers:\n  - aescbc: {{keys: [{{name: k1, secret: {}}}]}}\n  - identity: {{}}\n\
- resources: [configmaps]\n  providers:\n  - aesgcm: {{keys: [{{name: g1, secret: {}}}]}}\n  - identity: {{}}\n\
- resources: ['*.apps']\n  providers:\n  - secretbox: {{keys: [{{name: s1, secret: {}}}]}}\n  - identity: {{}}\n\
- resources: ['*.batch']\n  providers:\n  - kms: {{apiVersion: v2, name: interop-kms, endpoint: '{}'}}\n  - identity: {{}}\n",
            b64(1, 32),
            b64(2, 24),
            b64(3, 32),
            plugin.endpoint()
        ),
    )
    .unwrap();
    let port = free_port();
    let pki = Pki::new(dir.path(), port);

    // 1. Upstream writes.
    let mut up = start_upstream(&pki, port, &etcd, &enc, &dir.path().join("upstream-1.log"));
    create_all(&pki, port, "upstream");
    check_all(&pki, port, "upstream", rt.handle(), &etcd);
    let verbose = kubectl(&pki, port, &["get", "--raw", "/readyz?verbose"]);
    assert!(verbose.contains("[+]kms-providers ok"), "{verbose}");
    drop(up);

    // 2. Capstan reads upstream's data and writes its own, with the same file and PKI.
    let b = TestServer::builder()
        .bare()
        .port(port)
        .data_dir(dir.path().join("capstan-data"));
    let mut args = pki.server_args(port, &etcd, &enc);
    args.push(format!("--data-dir={}", dir.path().join("capstan-data").display()));
    let s = b.args(&args).start();
    check_all(&pki, port, "upstream", rt.handle(), &etcd);
    create_all(&pki, port, "capstan");
    check_all(&pki, port, "capstan", rt.handle(), &etcd);
    let capstan_verbose = kubectl(&pki, port, &["get", "--raw", "/readyz?verbose"]);
    assert!(capstan_verbose.contains("[+]kms-providers ok"), "{capstan_verbose}");
    drop(s);

    // 3. Upstream reads what capstan wrote (and its own data still).
    up = start_upstream(&pki, port, &etcd, &enc, &dir.path().join("upstream-2.log"));
    check_all(&pki, port, "capstan", rt.handle(), &etcd);
    check_all(&pki, port, "upstream", rt.handle(), &etcd);
    // The same health checks, in the same order.
    let upstream_checks: Vec<&str> = verbose.lines().filter(|l| l.starts_with("[+]")).collect();
    let capstan_checks: Vec<&str> = capstan_verbose.lines().filter(|l| l.starts_with("[+]")).collect();
    let pos = |v: &[&str], c: &str| v.iter().position(|l| l.starts_with(c));
    assert_eq!(
        pos(&upstream_checks, "[+]kms-providers").map(|i| upstream_checks[i - 1]),
        pos(&capstan_checks, "[+]kms-providers").map(|i| capstan_checks[i - 1]),
        "kms-providers follows the same check:\nupstream:\n{verbose}\ncapstan:\n{capstan_verbose}"
    );
    drop(up);
    assert!(plugin.decrypts() >= 2, "each server decrypted the other's seed");
}
