//! Deployment artifacts: the static-pod manifests in `manifests/` parse as Pods, carry kubeadm's
//! kube-apiserver flags, and their exact command lines (host paths moved under a temp dir, ports
//! moved to free ones, `${...}` placeholders filled in) start Capstan as `kube-apiserver` with
//! certificates from `capstan certs init` and answer the Pod's probes over HTTPS.

mod common;

use capstan::testing::LoggedChild;
use common::{eventually, free_port, require_tool, require_tools, secs, TestServer};
use k8s_openapi::api::core::v1::{Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::path::{Path, PathBuf};
use std::process::Command;

const CAPSTAN: &str = env!("CARGO_BIN_EXE_capstan");
const NODE: &str = "capstan-test";

fn manifest(name: &str) -> Pod {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests").join(name);
    let text = std::fs::read_to_string(&path).expect("read manifest");
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{name} is not a Pod: {e}"))
}

/// kubeadm v1.33's default kube-apiserver flags (apiserver-facts.md §1.2), without values.
const KUBEADM_FLAGS: &[&str] = &[
    "--advertise-address",
    "--allow-privileged",
    "--authorization-mode",
    "--client-ca-file",
    "--enable-admission-plugins",
    "--enable-bootstrap-token-auth",
    "--etcd-cafile",
    "--etcd-certfile",
    "--etcd-keyfile",
    "--etcd-servers",
    "--kubelet-client-certificate",
    "--kubelet-client-key",
    "--kubelet-preferred-address-types",
    "--proxy-client-cert-file",
    "--proxy-client-key-file",
    "--requestheader-allowed-names",
    "--requestheader-client-ca-file",
    "--requestheader-extra-headers-prefix",
    "--requestheader-group-headers",
    "--requestheader-username-headers",
    "--secure-port",
    "--service-account-issuer",
    "--service-account-key-file",
    "--service-account-signing-key-file",
    "--service-cluster-ip-range",
    "--tls-cert-file",
    "--tls-private-key-file",
];

fn command(pod: &Pod) -> Vec<String> {
    let spec = pod.spec.as_ref().expect("spec");
    let c = &spec.containers[0];
    let mut cmd = c.command.clone().expect("command");
    cmd.extend(c.args.clone().unwrap_or_default());
    cmd
}

fn flag_names(cmd: &[String]) -> Vec<String> {
    cmd[1..]
        .iter()
        .map(|a| a.split('=').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn manifests_have_kubeadm_form() {
    for (file, add, remove) in [
        (
            "kube-apiserver.yaml",
            &["--bind-address", "--data-dir"][..],
            &["--etcd-"][..],
        ),
        ("kube-apiserver-etcd.yaml", &["--bind-address"][..], &[][..]),
    ] {
        let pod = manifest(file);
        let meta = &pod.metadata;
        assert_eq!(meta.name.as_deref(), Some("kube-apiserver"));
        assert_eq!(meta.namespace.as_deref(), Some("kube-system"));
        let spec = pod.spec.as_ref().expect("spec");
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(spec.priority_class_name.as_deref(), Some("system-node-critical"));
        assert_eq!(spec.priority, Some(2000001000));
        let cmd = command(&pod);
        assert_eq!(cmd[0], "kube-apiserver");
        let mut want: Vec<String> = KUBEADM_FLAGS
            .iter()
            .filter(|f| !remove.iter().any(|r| f.starts_with(r)))
            .chain(add.iter())
            .map(|s| s.to_string())
            .collect();
        want.sort();
        let got = flag_names(&cmd);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted, "{file}: kubeadm emits flags sorted");
        assert_eq!(got, want, "{file}");
        let c = &spec.containers[0];
        let probe = |p: &Option<Probe>| {
            let p = p.as_ref().expect("probe");
            let g = p.http_get.as_ref().expect("httpGet");
            (
                g.path.clone().unwrap_or_default(),
                g.port.clone(),
                g.scheme.clone().unwrap_or_default(),
                p.initial_delay_seconds,
                p.timeout_seconds,
                p.failure_threshold,
                p.period_seconds,
            )
        };
        let https = "HTTPS".to_string();
        assert_eq!(
            probe(&c.liveness_probe),
            (
                "/livez".into(),
                IntOrString::Int(6443),
                https.clone(),
                Some(10),
                Some(15),
                Some(8),
                Some(10)
            )
        );
        assert_eq!(
            probe(&c.readiness_probe),
            (
                "/readyz".into(),
                IntOrString::Int(6443),
                https.clone(),
                None,
                Some(15),
                Some(3),
                Some(1)
            )
        );
        assert_eq!(
            probe(&c.startup_probe),
            (
                "/livez".into(),
                IntOrString::Int(6443),
                https,
                Some(10),
                Some(15),
                Some(24),
                Some(10)
            )
        );
        let mounts: Vec<(String, String, Option<bool>)> = c
            .volume_mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.name, m.mount_path, m.read_only))
            .collect();
        assert!(mounts.contains(&("k8s-certs".into(), "/etc/kubernetes/pki".into(), Some(true))));
        assert!(mounts.contains(&("ca-certs".into(), "/etc/ssl/certs".into(), Some(true))));
        assert!(mounts.contains(&("etc-capstan".into(), "/etc/capstan".into(), Some(true))));
        // Every mount has a hostPath volume at the same path.
        let volumes = spec.volumes.clone().unwrap_or_default();
        for (name, path, _) in &mounts {
            let v = volumes.iter().find(|v| &v.name == name).expect("volume for mount");
            assert_eq!(v.host_path.as_ref().map(|h| h.path.as_str()), Some(path.as_str()));
        }
    }
    let etcd = manifest("etcd.yaml");
    assert_eq!(command(&etcd)[0], "etcd");
}

/// Moves host paths under `root`, fills in placeholders and maps well-known ports to free ones.
struct Rewriter {
    root: PathBuf,
    ports: Vec<(u16, u16)>,
}

impl Rewriter {
    fn arg(&self, arg: &str) -> String {
        let mut s = arg
            .replace("${ADVERTISE_ADDRESS}", "127.0.0.1")
            .replace("${NODE_NAME}", NODE);
        for prefix in ["/etc/kubernetes", "/var/lib/capstan", "/var/lib/etcd", "/etc/capstan"] {
            s = s.replace(prefix, &format!("{}{prefix}", self.root.display()));
        }
        for (from, to) in &self.ports {
            s = s.replace(&format!(":{from}"), &format!(":{to}"));
            s = s.replace(&format!("={from}"), &format!("={to}"));
        }
        // `https://127.0.0.1:2379,https://${ADVERTISE_ADDRESS}:2379` collapses to one address.
        if let Some((flag, value)) = s.split_once('=') {
            if value.contains(',') && value.contains("://") {
                let mut seen: Vec<&str> = Vec::new();
                for v in value.split(',') {
                    if !seen.contains(&v) {
                        seen.push(v);
                    }
                }
                s = format!("{flag}={}", seen.join(","));
            }
        }
        s
    }

    fn port(&self, port: u16) -> u16 {
        self.ports
            .iter()
            .find(|(f, _)| *f == port)
            .map(|(_, t)| *t)
            .unwrap_or(port)
    }

    /// Creates the hostPath directories (`type: DirectoryOrCreate`).
    fn volumes(&self, pod: &Pod) {
        for v in pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default() {
            if let Some(h) = v.host_path {
                let dir = PathBuf::from(format!("{}{}", self.root.display(), h.path));
                std::fs::create_dir_all(&dir).expect("create hostPath dir");
            }
        }
    }
}

fn certs_init(root: &Path) {
    let pki = root.join("etc/kubernetes/pki");
    let out = Command::new(CAPSTAN)
        .args([
            "certs",
            "init",
            "--advertise-address",
            "127.0.0.1",
            "--node-name",
            NODE,
            "--dir",
        ])
        .arg(&pki)
        .arg("--kubeconfig-dir")
        .arg(root.join("etc/kubernetes"))
        .output()
        .expect("run capstan certs init");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(pki.join("apiserver.crt").exists());
}

/// GET https://host:port/path with the generated CA (curl); returns the status code.
fn https_status(ca: &Path, host: &str, port: u16, path: &str) -> Option<u16> {
    let out = common::tool("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            "--cacert",
        ])
        .arg(ca)
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Runs the manifest's kube-apiserver command line and waits until all three probes answer 200.
fn run_apiserver(pod: &Pod, rw: &Rewriter, env: &[(&str, String)], etcd: Option<&LoggedChild>) -> TestServer {
    rw.volumes(pod);
    let cmd: Vec<String> = command(pod).iter().map(|a| rw.arg(a)).collect();
    let mut builder = TestServer::builder()
        .bare()
        .program_name(&cmd[0])
        .port(rw.port(6443))
        .data_dir(rw.root.join("var/lib/capstan"))
        .args(&cmd[1..]);
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    let server = builder.start();
    let c = &pod.spec.as_ref().expect("spec").containers[0];
    let ca = rw.root.join("etc/kubernetes/pki/ca.crt");
    for probe in [&c.startup_probe, &c.liveness_probe, &c.readiness_probe] {
        let g = probe.as_ref().and_then(|p| p.http_get.clone()).expect("httpGet probe");
        assert_eq!(g.scheme.as_deref(), Some("HTTPS"));
        let IntOrString::Int(port) = g.port else {
            panic!("numeric probe port")
        };
        let host = rw.arg(g.host.as_deref().unwrap_or("127.0.0.1"));
        let path = g.path.unwrap_or_default();
        let port = rw.port(port as u16);
        eventually(
            &format!("probe {path} on {host}:{port} to answer 200"),
            secs(60),
            || {
                let status = https_status(&ca, &host, port, &path);
                (status == Some(200)).then_some(()).ok_or_else(|| {
                    format!(
                        "{status:?}\nserver log:\n{}\netcd log:\n{}",
                        server.log(),
                        etcd.map(LoggedChild::log).unwrap_or_default()
                    )
                })
            },
        );
    }
    server
}

#[test]
fn embedded_static_pod_command_line_starts_and_answers_probes() {
    if !require_tools(&["curl", "kubectl"]) {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("capstan-deploy-")
        .tempdir()
        .expect("tempdir");
    certs_init(tmp.path());
    let rw = Rewriter {
        root: tmp.path().to_path_buf(),
        ports: vec![(6443, free_port())],
    };
    let port = rw.port(6443);
    let _server = run_apiserver(&manifest("kube-apiserver.yaml"), &rw, &[], None);
    // A client certificate from `capstan certs init` is accepted in the TLS handshake
    // (--client-ca-file) and authenticates its CN; under Node,RBAC its group
    // kubeadm:cluster-admins has no rights until kubeadm's binding exists, exactly as upstream.
    let pki = tmp.path().join("etc/kubernetes/pki");
    let get_default = || {
        let out = common::tool("curl")
            .args(["-s", "-w", "\n%{http_code}", "--max-time", "5", "--cacert"])
            .arg(pki.join("ca.crt"))
            .arg("--cert")
            .arg(pki.join("apiserver-kubelet-client.crt"))
            .arg("--key")
            .arg(pki.join("apiserver-kubelet-client.key"))
            .arg(format!("https://127.0.0.1:{port}/api/v1/namespaces/default"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = get_default();
    assert!(before.ends_with("\n403"), "{before}");
    assert!(
        before.contains(r#"User \"kube-apiserver-kubelet-client\" cannot get resource \"namespaces\""#),
        "{before}"
    );
    // What `kubeadm init` does next: the kubeconfig phase, then the binding made with
    // super-admin.conf (group system:masters).
    let kubeconfigs = tmp.path().join("etc/kubernetes");
    let out = Command::new(CAPSTAN)
        .args(["kubeconfig", "--advertise-address", "127.0.0.1", "--node-name", NODE])
        .args(["--secure-port", &port.to_string(), "--dir"])
        .arg(&pki)
        .arg("--kubeconfig-dir")
        .arg(&kubeconfigs)
        .output()
        .expect("capstan kubeconfig");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = common::tool("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfigs.join("super-admin.conf"))
        .args([
            "create",
            "clusterrolebinding",
            "kubeadm:cluster-admins",
            "--clusterrole=cluster-admin",
            "--group=kubeadm:cluster-admins",
        ])
        .output()
        .expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = get_default();
    assert!(after.ends_with("\n200"), "{after}");
    // The embedded store lives in the hostPath volume.
    assert!(tmp
        .path()
        .join("var/lib/capstan")
        .read_dir()
        .expect("data dir")
        .next()
        .is_some());
}

#[test]
fn etcd_static_pods_command_lines_start_and_answer_probes() {
    if !require_tools(&["etcd", "curl"]) {
        return;
    }
    let etcd_bin = common::tool_path("etcd");
    let tmp = tempfile::Builder::new()
        .prefix("capstan-deploy-etcd-")
        .tempdir()
        .expect("tempdir");
    certs_init(tmp.path());
    let rw = Rewriter {
        root: tmp.path().to_path_buf(),
        ports: vec![
            (6443, free_port()),
            (2379, free_port()),
            (2380, free_port()),
            (2381, free_port()),
        ],
    };
    let etcd_pod = manifest("etcd.yaml");
    rw.volumes(&etcd_pod);
    let etcd_cmd: Vec<String> = command(&etcd_pod).iter().map(|a| rw.arg(a)).collect();
    let mut etcd = Command::new(&etcd_bin);
    etcd.args(&etcd_cmd[1..]);
    let etcd = LoggedChild::spawn(etcd, &tmp.path().join("etcd.log"));
    // Without --data-dir the server would pick /var/lib/capstan as root: keep it in the scratch dir.
    let env = [(
        "CAPSTAN_DATA_DIR",
        tmp.path().join("capstan-data").display().to_string(),
    )];
    let _server = run_apiserver(&manifest("kube-apiserver-etcd.yaml"), &rw, &env, Some(&etcd));
}

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("read repo file")
}

/// KEY=VALUE lines of a systemd EnvironmentFile (quotes stripped).
fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

#[test]
fn systemd_units_verify_and_env_file_is_accepted() {
    let service = repo_file("systemd/capstan.service");
    for directive in [
        "Type=notify",
        "Restart=on-failure",
        "LimitNOFILE=1048576",
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "User=capstan",
        "StateDirectory=capstan",
        "EnvironmentFile=-/etc/capstan/capstan.env",
        "ExecStart=/usr/bin/capstan serve $SERVE_ARGS",
    ] {
        assert!(
            service.lines().any(|l| l == directive),
            "capstan.service lacks {directive}"
        );
    }
    let certs = repo_file("systemd/capstan-certs.service");
    assert!(certs.lines().any(|l| l == "Type=oneshot"));

    // The env file's settings are accepted by `capstan config show`, its flags by serve and certs init.
    let env = env_file(&repo_file("systemd/capstan.env"));
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let capstan_env: Vec<(String, String)> = env.iter().filter(|(k, _)| k.starts_with("CAPSTAN_")).cloned().collect();
    let out = Command::new(CAPSTAN)
        .args(["config", "show"])
        .args(get("SERVE_ARGS").split_whitespace())
        .envs(capstan_env)
        .output()
        .expect("capstan config show");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("data-dir: /var/lib/capstan"), "{shown}");
    assert!(shown.contains("bind-address: 0.0.0.0"), "{shown}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(CAPSTAN)
        .args(["certs", "init", "--dir"])
        .arg(tmp.path().join("pki"))
        .arg("--kubeconfig-dir")
        .arg(tmp.path())
        .args(get("CERTS_ARGS").split_whitespace())
        .output()
        .expect("capstan certs init");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    if !require_tool("systemd-analyze") {
        return;
    }
    let analyze = common::tool_path("systemd-analyze");
    // verify needs ExecStart binaries to exist: point them at the built binary.
    for unit in ["capstan.service", "capstan-certs.service"] {
        let text = repo_file(&format!("systemd/{unit}")).replace("/usr/bin/capstan", CAPSTAN);
        std::fs::write(tmp.path().join(unit), text).expect("write unit");
    }
    let out = Command::new(analyze)
        .current_dir(tmp.path())
        .args(["verify", "--man=no", "capstan.service", "capstan-certs.service"])
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed: {stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("capstan")).collect();
    assert!(ours.is_empty(), "systemd-analyze verify warnings: {ours:?}");
}

/// Follows symlinks inside a scratch root (absolute targets are relative to `root`).
fn resolve_in_root(root: &Path, path: &str) -> PathBuf {
    let mut p = root.join(path.trim_start_matches('/'));
    for _ in 0..10 {
        match std::fs::read_link(&p) {
            Ok(target) if target.is_absolute() => {
                p = root.join(target.strip_prefix("/").expect("absolute"));
            }
            Ok(target) => p = p.parent().expect("parent").join(target),
            Err(_) => break,
        }
    }
    p
}

#[test]
fn deb_package_unpacks_into_scratch_root() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !require_tools(&["dpkg-deb", "dpkg", "update-alternatives"]) {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("capstan-deb-")
        .tempdir()
        .expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/build-deb.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(CAPSTAN)
        .arg(tmp.path().join("out"))
        .arg("0.1.0")
        .env("DEB_COMPRESS", "none")
        .output()
        .expect("build-deb.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(deb
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("capstan_0.1.0_")));

    let info = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .output()
        .expect("dpkg-deb -f");
    let control = String::from_utf8_lossy(&info.stdout);
    for line in ["Package: capstan", "Version: 0.1.0", "Provides: kube-apiserver"] {
        assert!(control.lines().any(|l| l == line), "control lacks {line}:\n{control}");
    }

    // Install (unpack; maintainer scripts are not run against the host) into a scratch root.
    let root = tmp.path().join("root");
    for d in [
        "var/lib/dpkg/updates",
        "var/lib/dpkg/info",
        "var/lib/dpkg/alternatives",
        "etc/alternatives",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
    let out = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-depends", "--force-not-root", "--unpack"])
        .arg(&deb)
        .output()
        .expect("dpkg --unpack");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mode = |rel: &str| {
        std::fs::metadata(root.join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("usr/bin/capstan"), 0o755);
    assert_eq!(mode("lib/systemd/system/capstan.service"), 0o644);
    assert_eq!(mode("lib/systemd/system/capstan-certs.service"), 0o644);
    // Unpacked (not yet configured) conffiles wait as `.dpkg-new`; configure renames them.
    assert_eq!(mode("etc/capstan/config.yaml.dpkg-new"), 0o644);
    assert_eq!(mode("etc/capstan/capstan.env.dpkg-new"), 0o644);
    let conffiles = std::fs::read_to_string(root.join("var/lib/dpkg/info/capstan.conffiles")).expect("conffiles");
    assert_eq!(conffiles, "/etc/capstan/config.yaml\n/etc/capstan/capstan.env\n");
    for script in ["postinst", "prerm", "postrm"] {
        let path = root.join(format!("var/lib/dpkg/info/capstan.{script}"));
        assert_eq!(
            std::fs::metadata(&path).expect(script).permissions().mode() & 0o777,
            0o755
        );
        let ok = Command::new("sh").arg("-n").arg(&path).status().expect("sh -n");
        assert!(ok.success(), "{script} has a syntax error");
    }
    let postinst = std::fs::read_to_string(root.join("var/lib/dpkg/info/capstan.postinst")).expect("postinst");
    assert!(postinst.contains("adduser --system --ingroup capstan --home /var/lib/capstan"));
    assert!(postinst.contains("chmod 0700 /var/lib/capstan"));
    let alt = postinst
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("update-alternatives --install"))
        .expect("postinst installs the kube-apiserver alternative");
    assert_eq!(
        alt,
        "update-alternatives --install /usr/bin/kube-apiserver kube-apiserver /usr/bin/capstan 50"
    );

    // The installed binary runs.
    let out = Command::new(root.join("usr/bin/capstan"))
        .arg("--version")
        .output()
        .expect("capstan --version");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("capstan {}\n", env!("CARGO_PKG_VERSION"))
    );
    // The postinst's alternative, applied to the scratch root, makes kube-apiserver run capstan.
    let args: Vec<&str> = alt.split_whitespace().skip(1).collect();
    let out = Command::new("update-alternatives")
        .arg("--root")
        .arg(&root)
        .args(&args)
        .output()
        .expect("update-alternatives");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target = resolve_in_root(&root, "/usr/bin/kube-apiserver");
    assert_eq!(target, root.join("usr/bin/capstan"));
    let out = Command::new(&target)
        .arg0("kube-apiserver")
        .arg("--version")
        .output()
        .expect("kube-apiserver");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Kubernetes v1."),
        "{out:?}"
    );

    // The packaged default config is valid.
    let out = Command::new(CAPSTAN)
        .args(["config", "validate"])
        .arg(root.join("etc/capstan/config.yaml.dpkg-new"))
        .output()
        .expect("config validate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn certs_cli_init_is_idempotent_and_check_expiration_renew_work() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = Command::new(CAPSTAN)
            .args(args)
            .arg("--dir")
            .arg(tmp.path().join("pki"))
            .arg("--kubeconfig-dir")
            .arg(tmp.path())
            .output()
            .expect("run capstan");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run(&["certs", "init", "--node-name", NODE, "--advertise-address", "127.0.0.1"]);
    assert!(
        first.contains("[certs] Generating \"apiserver\" certificate and key"),
        "{first}"
    );
    let second = run(&["certs", "init", "--node-name", NODE, "--advertise-address", "127.0.0.1"]);
    assert!(
        second.contains("[certs] Using existing apiserver certificate and key on disk"),
        "{second}"
    );
    assert!(!second.contains("Generating"), "{second}");
    run(&["kubeconfig", "--node-name", NODE, "--advertise-address", "127.0.0.1"]);
    let table = run(&["certs", "check-expiration"]);
    assert!(!table.contains("MISSING"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("super-admin.conf ") && l.contains(" 364d ")),
        "{table}"
    );
    let renewed = run(&["certs", "renew", "all"]);
    assert_eq!(
        renewed.lines().filter(|l| l.ends_with(" renewed")).count(),
        11,
        "{renewed}"
    );
    let out = Command::new(CAPSTAN)
        .args(["certs", "renew", "nope", "--dir"])
        .arg(tmp.path().join("pki"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

/// `packaging/build-rpm.sh` builds an .rpm whose payload extracts into a scratch root, with the
/// files and modes the .deb has and a binary that runs.
#[test]
fn rpm_package_builds_and_extracts_into_scratch_root() {
    if !require_tools(&["rpmbuild", "rpm", "rpm2cpio", "cpio"]) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let build = std::process::Command::new("bash")
        .arg(repo_path("packaging/build-rpm.sh"))
        .arg(env!("CARGO_BIN_EXE_capstan"))
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "build-rpm: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let rpm = String::from_utf8_lossy(&build.stdout).trim().to_string();
    let q = std::process::Command::new("rpm")
        .args(["-qp", "--qf", "%{NAME} %{VERSION} %{ARCH}", &rpm])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&q.stdout),
        format!("capstan {} x86_64", env!("CARGO_PKG_VERSION"))
    );
    let cfg = std::process::Command::new("rpm").args(["-qpc", &rpm]).output().unwrap();
    let cfg = String::from_utf8_lossy(&cfg.stdout).into_owned();
    assert!(
        cfg.contains("/etc/capstan/config.yaml") && cfg.contains("/etc/capstan/capstan.env"),
        "{cfg}"
    );
    let scripts = std::process::Command::new("rpm")
        .args(["-qp", "--scripts", &rpm])
        .output()
        .unwrap();
    let scripts = String::from_utf8_lossy(&scripts.stdout).into_owned();
    assert!(scripts.contains("useradd -r -g capstan"), "{scripts}");
    assert!(
        scripts.contains("update-alternatives --install /usr/bin/kube-apiserver"),
        "{scripts}"
    );

    let root = tempfile::tempdir().unwrap();
    let extract = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("rpm2cpio '{rpm}' | cpio -idm --quiet"))
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(extract.status.success(), "{}", String::from_utf8_lossy(&extract.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(root.path().join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("usr/bin/capstan"), 0o755);
    assert_eq!(mode("etc/capstan/config.yaml"), 0o644);
    assert_eq!(mode("usr/lib/systemd/system/capstan.service"), 0o644);
    let v = std::process::Command::new(root.path().join("usr/bin/capstan"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("capstan {}", env!("CARGO_PKG_VERSION"))
    );
}

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
