use super::*;
use std::os::unix::fs::PermissionsExt;

fn opts(dir: &Path) -> CertsOptions {
    CertsOptions {
        cert_dir: dir.join("pki"),
        kubeconfig_dir: dir.to_path_buf(),
        node_name: "node-a".to_string(),
        advertise_address: "192.168.1.10".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        extra_sans: vec!["api.example.com".into(), "10.0.0.5".into(), "Not_Valid".into()],
        ..CertsOptions::default()
    }
}

fn info(path: &Path) -> CertInfo {
    CertInfo::from_pem(&fs::read_to_string(path).expect("read cert")).expect("parse cert")
}

#[test]
fn first_service_ip_of_cidrs() {
    assert_eq!(first_service_ip("10.96.0.0/12").ok(), "10.96.0.1".parse().ok());
    assert_eq!(
        first_service_ip("10.100.5.7/16,fd00::/108").ok(),
        "10.100.0.1".parse().ok()
    );
    assert_eq!(first_service_ip("fd00:10:96::/112").ok(), "fd00:10:96::1".parse().ok());
    assert!(first_service_ip("10.96.0.0").is_err());
}

#[test]
fn short_human_duration_matches_apimachinery() {
    assert_eq!(short_human_duration(-5), "<invalid>");
    assert_eq!(short_human_duration(-1), "0s");
    assert_eq!(short_human_duration(59), "59s");
    assert_eq!(short_human_duration(3599), "59m");
    assert_eq!(short_human_duration(23 * 3600), "23h");
    assert_eq!(short_human_duration(364 * 86_400 + 86_000), "364d");
    assert_eq!(short_human_duration(10 * 365 * 86_400 - 600), "9y");
}

#[test]
fn expiry_format_is_go_layout() {
    // 2027-11-24T09:40:00Z
    assert_eq!(format_expiry(1_827_049_200), "Nov 24, 2027 09:40 UTC");
    assert_eq!(format_expiry(951_782_400), "Feb 29, 2000 00:00 UTC");
}

#[test]
fn init_creates_kubeadm_layout_with_profiles() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(tmp.path());
    let log = init(&o).expect("init");
    assert!(log.iter().any(|l| l == "[certs] Generating \"ca\" certificate and key"));
    assert!(log
        .iter()
        .any(|l| l.contains("'Not_Valid' was not added to the 'apiserver' SAN")));
    let pki = &o.cert_dir;
    for base in [
        "ca",
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-ca",
        "front-proxy-client",
        "etcd/ca",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
        "apiserver-etcd-client",
    ] {
        let key = pki.join(format!("{base}.key"));
        let mode = fs::metadata(&key).expect("key exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{base}.key");
        assert!(pki.join(format!("{base}.crt")).exists(), "{base}.crt");
    }
    assert_eq!(
        fs::metadata(pki.join("sa.key")).expect("sa.key").permissions().mode() & 0o777,
        0o600
    );
    assert!(fs::read_to_string(pki.join("sa.pub"))
        .expect("sa.pub")
        .starts_with("-----BEGIN PUBLIC KEY-----"));

    let api = info(&pki.join("apiserver.crt"));
    assert_eq!(api.common_name, "kube-apiserver");
    assert_eq!(api.issuer_common_name, "kubernetes");
    assert_eq!(
        api.dns,
        vec![
            "api.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "node-a"
        ]
    );
    let ips: Vec<String> = api.ips.iter().map(|i| i.to_string()).collect();
    assert_eq!(ips, vec!["10.96.0.1", "192.168.1.10", "10.0.0.5"]);

    let kc = info(&pki.join("apiserver-kubelet-client.crt"));
    assert_eq!(kc.organizations, vec!["kubeadm:cluster-admins"]);
    let fp = info(&pki.join("front-proxy-client.crt"));
    assert_eq!(
        (fp.common_name.as_str(), fp.issuer_common_name.as_str()),
        ("front-proxy-client", "front-proxy-ca")
    );
    let es = info(&pki.join("etcd/server.crt"));
    assert_eq!(es.common_name, "node-a");
    assert_eq!(es.issuer_common_name, "etcd-ca");
    assert_eq!(es.dns, vec!["localhost", "node-a"]);
    let ips: Vec<String> = es.ips.iter().map(|i| i.to_string()).collect();
    assert_eq!(ips, vec!["192.168.1.10", "127.0.0.1", "::1"]);
    let ec = info(&pki.join("apiserver-etcd-client.crt"));
    assert_eq!(ec.common_name, "kube-apiserver-etcd-client");
    assert!(ec.organizations.is_empty());

    // Validity: CA ~10y, leaf ~1y.
    let now = now_unix();
    let ca = info(&pki.join("ca.crt"));
    assert!((ca.not_after - now - 10 * 365 * 86_400).abs() < 120);
    assert!((api.not_after - now - 365 * 86_400).abs() < 120);

    // Idempotent: a second run keeps every file.
    let before = fs::read(pki.join("apiserver.crt")).expect("read");
    let log = init(&o).expect("init again");
    assert!(log
        .iter()
        .any(|l| l == "[certs] Using existing ca certificate authority"));
    assert_eq!(fs::read(pki.join("apiserver.crt")).expect("read"), before);
    // --force regenerates.
    init(&CertsOptions {
        force: true,
        ..o.clone()
    })
    .expect("force");
    assert_ne!(fs::read(pki.join("apiserver.crt")).expect("read"), before);
}

#[test]
fn kubeconfigs_renew_and_expiration_table() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = opts(tmp.path());
    init(&o).expect("init");
    write_kubeconfigs(&o).expect("kubeconfigs");
    for (file, user, orgs) in [
        ("admin.conf", "kubernetes-admin", vec!["kubeadm:cluster-admins"]),
        ("super-admin.conf", "kubernetes-super-admin", vec!["system:masters"]),
        ("kubelet.conf", "system:node:node-a", vec!["system:nodes"]),
        ("controller-manager.conf", "system:kube-controller-manager", vec![]),
        ("scheduler.conf", "system:kube-scheduler", vec![]),
    ] {
        let path = tmp.path().join(file);
        assert_eq!(fs::metadata(&path).expect("exists").permissions().mode() & 0o777, 0o600);
        let doc: serde_json::Value = yaml_serde::from_str(&fs::read_to_string(&path).expect("read")).expect("yaml");
        assert_eq!(doc["current-context"], format!("{user}@kubernetes"));
        assert_eq!(doc["clusters"][0]["cluster"]["server"], "https://192.168.1.10:6443");
        let cert = CertInfo::from_pem(&kubeconfig_cert(&doc).expect("cert")).expect("parse");
        assert_eq!(cert.common_name, user);
        assert_eq!(cert.organizations, orgs);
    }

    let table = check_expiration(&o.cert_dir, &o.kubeconfig_dir, now_unix()).expect("table");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED"), "{table}");
    assert!(lines[1].starts_with("admin.conf "), "{table}");
    assert!(
        lines[1].contains(" 364d ") && lines[1].ends_with("ca                      no"),
        "{table}"
    );
    assert!(
        table.contains("\nCERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED\nca    "),
        "{table}"
    );
    assert!(table.contains("\nfront-proxy-ca "), "{table}");

    let before = fs::read(o.cert_dir.join("apiserver.crt")).expect("read");
    let old = info(&o.cert_dir.join("apiserver.crt"));
    let log = renew(&o.cert_dir, &o.kubeconfig_dir, "apiserver").expect("renew");
    assert_eq!(log[0], "certificate for serving the Kubernetes API renewed");
    let new = info(&o.cert_dir.join("apiserver.crt"));
    assert_ne!(fs::read(o.cert_dir.join("apiserver.crt")).expect("read"), before);
    assert_eq!((new.dns.clone(), new.ips.clone()), (old.dns, old.ips));
    let log = renew(&o.cert_dir, &o.kubeconfig_dir, "all").expect("renew all");
    assert!(log.contains(
        &"certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed".to_string()
    ));
    let err = renew(&o.cert_dir, &o.kubeconfig_dir, "bogus").expect_err("unknown");
    assert!(err.to_string().starts_with("unknown certificate \"bogus\""));
    // renewed admin.conf still carries the admin identity
    let doc: serde_json::Value =
        yaml_serde::from_str(&fs::read_to_string(tmp.path().join("admin.conf")).expect("read")).expect("yaml");
    let cert = CertInfo::from_pem(&kubeconfig_cert(&doc).expect("cert")).expect("parse");
    assert_eq!(cert.organizations, vec!["kubeadm:cluster-admins"]);
}
