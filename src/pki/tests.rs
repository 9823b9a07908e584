use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use x509_parser::extensions::GeneralName;

use super::bootstrap::key_pair_from_pem;
use super::*;

const MULTI_GROUP_CERT: &str = include_str!("testdata/multi-group.crt");
const RSA_PKCS1_KEY: &str = include_str!("testdata/ca-rsa-pkcs1.key");
const EC_SEC1_KEY: &str = include_str!("testdata/ca-ec-sec1.key");

fn opts(dir: &Path) -> BootstrapOptions {
    BootstrapOptions {
        dir: dir.to_path_buf(),
        hostname: "Node-1".to_string(),
        advertise_address: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10))),
        first_service_ip: IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1)),
        dns_domain: "cluster.local".to_string(),
        extra_sans: vec![
            "api.example.com".to_string(),
            "10.0.0.5".to_string(),
            "*.apps.example.com".to_string(),
            "bad_name!".to_string(),
            "Upper.example.com".to_string(),
        ],
        server_url: "https://127.0.0.1:6443".to_string(),
    }
}

fn all_files(paths: &PkiPaths) -> Vec<&Path> {
    vec![
        &paths.ca_cert,
        &paths.ca_key,
        &paths.serving_cert,
        &paths.serving_key,
        &paths.admin_cert,
        &paths.admin_key,
        &paths.kubeconfig,
    ]
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn first_cert_der(path: &Path) -> Vec<u8> {
    load_certs(path).expect("certs")[0].to_vec()
}

fn verify_serving(paths: &PkiPaths, name: ServerName<'static>) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    for ca in load_certs(&paths.ca_cert).expect("ca") {
        roots.add(ca).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .expect("verifier");
    let leaf = load_certs(&paths.serving_cert).expect("serving");
    verifier
        .verify_server_cert(&leaf[0], &[], &name, &[], UnixTime::now())
        .map(|_| ())
}

#[test]
fn bootstrap_creates_all_files_with_private_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    assert_eq!(paths, PkiPaths::for_dir(dir.path()));
    assert_eq!(paths.ca_cert, dir.path().join("pki/ca.crt"));
    assert_eq!(paths.serving_key, dir.path().join("pki/apiserver.key"));
    assert_eq!(paths.admin_cert, dir.path().join("pki/admin.crt"));
    assert_eq!(paths.kubeconfig, dir.path().join("admin.kubeconfig"));
    for file in all_files(&paths) {
        assert!(file.is_file(), "{} missing", file.display());
    }
    for key in [&paths.ca_key, &paths.serving_key, &paths.admin_key, &paths.kubeconfig] {
        assert_eq!(mode(key), 0o600, "{}", key.display());
    }
    for cert in [&paths.ca_cert, &paths.serving_cert, &paths.admin_cert] {
        assert_eq!(mode(cert), 0o644, "{}", cert.display());
    }
    for key in [&paths.ca_key, &paths.serving_key, &paths.admin_key] {
        let pem = fs::read_to_string(key).expect("read key");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        assert!(matches!(
            load_private_key(key).expect("load key"),
            rustls::pki_types::PrivateKeyDer::Pkcs8(_)
        ));
    }
    // No temp files left behind.
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("pki"))
        .expect("readdir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn second_bootstrap_keeps_files_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let before: Vec<Vec<u8>> = all_files(&paths).iter().map(|p| fs::read(p).expect("read")).collect();
    let paths2 = bootstrap(&opts(dir.path())).expect("bootstrap again");
    let after: Vec<Vec<u8>> = all_files(&paths2).iter().map(|p| fs::read(p).expect("read")).collect();
    assert_eq!(before, after);
}

#[test]
fn ca_profile_matches_kubeadm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let der = first_cert_der(&paths.ca_cert);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parse");
    assert!(cert.is_ca());
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .collect();
    assert_eq!(cn, vec!["kubernetes"]);
    assert_eq!(cert.subject().to_string(), cert.issuer().to_string());
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .expect("san ext")
        .expect("san present")
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            other => format!("other:{other}"),
        })
        .collect();
    assert_eq!(sans, vec!["DNS:kubernetes"]);
    let validity = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    assert_eq!(validity, 10 * 365 * 24 * 3600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let backdate = now - cert.validity().not_before.timestamp();
    assert!((299..=360).contains(&backdate), "backdate {backdate}");
    let serial = cert.raw_serial();
    assert!(!serial.is_empty() && serial.len() <= 9);
}

#[test]
fn serving_cert_has_required_sans_and_usage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let der = first_cert_der(&paths.serving_cert);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parse");
    assert!(!cert.is_ca());
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .collect();
    assert_eq!(cn, vec!["kube-apiserver"]);
    let ca_der = first_cert_der(&paths.ca_cert);
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).expect("parse ca");
    assert_eq!(cert.issuer().to_string(), ca.subject().to_string());

    let eku = cert.extended_key_usage().expect("eku").expect("eku present").value;
    assert!(eku.server_auth);
    assert!(!eku.client_auth);

    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &cert
        .subject_alternative_name()
        .expect("san ext")
        .expect("san present")
        .value
        .general_names
    {
        match name {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(raw) => ips.push(match raw.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*raw).expect("v4")),
                16 => IpAddr::from(<[u8; 16]>::try_from(*raw).expect("v6")),
                n => panic!("bad IP length {n}"),
            }),
            other => panic!("unexpected SAN {other}"),
        }
    }
    assert_eq!(
        dns,
        vec![
            "*.apps.example.com",
            "api.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
            "node-1",
        ]
    );
    assert_eq!(
        ips,
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        ]
    );
    let validity = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    assert_eq!(validity, 365 * 24 * 3600);

    // webpki accepts the chain for the in-cluster names and IPs.
    for name in ["kubernetes.default.svc", "localhost", "node-1", "foo.apps.example.com"] {
        let server_name = ServerName::try_from(name.to_string()).expect("name");
        verify_serving(&paths, server_name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for ip in ["10.96.0.1", "127.0.0.1", "::1", "192.168.1.10"] {
        let server_name = ServerName::IpAddress(ip.parse::<IpAddr>().expect("ip").into());
        verify_serving(&paths, server_name).unwrap_or_else(|e| panic!("{ip}: {e}"));
    }
    let wrong = ServerName::try_from("example.org".to_string()).expect("name");
    assert!(verify_serving(&paths, wrong).is_err());
}

#[test]
fn serving_alt_names_uses_server_url_host_and_ipv6_service_ip() {
    let options = BootstrapOptions {
        hostname: "node_with_underscore".to_string(),
        advertise_address: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        first_service_ip: "fd00:10:96::1".parse().expect("ip"),
        dns_domain: "corp.internal.".to_string(),
        extra_sans: vec!["127.0.0.1".to_string(), "".to_string()],
        server_url: "https://api.corp.example:6443/".to_string(),
        ..BootstrapOptions::default()
    };
    let (dns, ips) = serving_alt_names(&options);
    assert_eq!(
        dns,
        vec![
            "api.corp.example",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.corp.internal",
            "localhost",
        ]
    );
    assert_eq!(
        ips,
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            "fd00:10:96::1".parse::<IpAddr>().expect("ip"),
        ]
    );
    let v6 = BootstrapOptions {
        server_url: "https://[fd00::5]:6443".to_string(),
        ..BootstrapOptions::default()
    };
    let (_, ips) = serving_alt_names(&v6);
    assert!(ips.contains(&"fd00::5".parse::<IpAddr>().expect("ip")));
}

#[test]
fn admin_identity_is_kubernetes_admin_in_system_masters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let der = first_cert_der(&paths.admin_cert);
    assert_eq!(
        identity_from_der(&der),
        Some(("kubernetes-admin".to_string(), vec!["system:masters".to_string()]))
    );
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parse");
    let eku = cert.extended_key_usage().expect("eku").expect("eku present").value;
    assert!(eku.client_auth);
    assert!(!eku.server_auth);
    // The serving certificate has no groups.
    assert_eq!(
        identity_from_der(&first_cert_der(&paths.serving_cert)),
        Some(("kube-apiserver".to_string(), vec![]))
    );
}

#[test]
fn identity_uses_last_cn_and_all_organizations_in_order() {
    let der = rustls_pemfile::certs(&mut MULTI_GROUP_CERT.as_bytes())
        .next()
        .expect("one cert")
        .expect("pem");
    assert_eq!(
        identity_from_der(&der),
        Some((
            "alice".to_string(),
            vec!["system:masters".to_string(), "team-a".to_string()]
        ))
    );
    assert_eq!(identity_from_der(b"not a certificate"), None);
    assert_eq!(identity_from_der(&[]), None);
}

#[test]
fn missing_serving_cert_is_signed_by_existing_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let ca_before = fs::read(&paths.ca_cert).expect("ca");
    let admin_before = fs::read(&paths.admin_cert).expect("admin");
    let serving_before = fs::read(&paths.serving_cert).expect("serving");
    fs::remove_file(&paths.serving_cert).expect("rm");
    fs::remove_file(&paths.serving_key).expect("rm");
    bootstrap(&opts(dir.path())).expect("bootstrap again");
    assert_eq!(fs::read(&paths.ca_cert).expect("ca"), ca_before);
    assert_eq!(fs::read(&paths.admin_cert).expect("admin"), admin_before);
    assert_ne!(fs::read(&paths.serving_cert).expect("serving"), serving_before);
    verify_serving(&paths, ServerName::try_from("kubernetes").expect("name")).expect("chains to CA");
}

#[test]
fn leaves_are_reissued_when_the_ca_is_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let admin_before = fs::read(&paths.admin_cert).expect("admin");
    fs::remove_file(&paths.ca_cert).expect("rm");
    fs::remove_file(&paths.ca_key).expect("rm");
    bootstrap(&opts(dir.path())).expect("bootstrap again");
    assert_ne!(fs::read(&paths.admin_cert).expect("admin"), admin_before);
    verify_serving(&paths, ServerName::try_from("kubernetes").expect("name")).expect("chains to new CA");
}

#[test]
fn missing_ca_key_with_missing_leaf_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    fs::remove_file(&paths.ca_key).expect("rm");
    // Nothing to issue: fine (external CA mode).
    bootstrap(&opts(dir.path())).expect("no-op bootstrap");
    fs::remove_file(&paths.admin_cert).expect("rm");
    let err = bootstrap(&opts(dir.path())).expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot issue missing certificates: CA key "), "{msg}");
    assert!(!paths.admin_cert.exists());
}

fn existing_ca_signs_leaves(key_pem: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    fs::create_dir_all(&pki).expect("mkdir");
    let key = key_pair_from_pem(key_pem).expect("load key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "kubernetes");
    params.distinguished_name = dn;
    let ca_cert = params.self_signed(&key).expect("self sign");
    fs::write(pki.join("ca.crt"), ca_cert.pem()).expect("write");
    fs::write(pki.join("ca.key"), key_pem).expect("write");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    assert_eq!(fs::read_to_string(&paths.ca_key).expect("key"), key_pem);
    verify_serving(&paths, ServerName::try_from("kubernetes.default").expect("name")).expect("chain");
    server_tls_config(&paths.serving_cert, &paths.serving_key, Some(&paths.ca_cert)).expect("tls config");
}

#[test]
fn existing_pkcs1_rsa_ca_key_signs_leaves() {
    existing_ca_signs_leaves(RSA_PKCS1_KEY);
}

#[test]
fn existing_sec1_ec_ca_key_signs_leaves() {
    existing_ca_signs_leaves(EC_SEC1_KEY);
}

#[test]
fn kubeconfig_follows_server_url_changes_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = opts(dir.path());
    let paths = bootstrap(&options).expect("bootstrap");
    let first = fs::read_to_string(&paths.kubeconfig).expect("kubeconfig");
    assert!(first.contains("server: https://127.0.0.1:6443\n"), "{first}");
    options.server_url = "https://10.1.2.3:7443".to_string();
    bootstrap(&options).expect("bootstrap");
    let second = fs::read_to_string(&paths.kubeconfig).expect("kubeconfig");
    assert!(second.contains("server: https://10.1.2.3:7443\n"), "{second}");
    assert_eq!(first.replace("https://127.0.0.1:6443", "https://10.1.2.3:7443"), second);
    assert_eq!(mode(&paths.kubeconfig), 0o600);
}

#[test]
fn kubeconfig_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/kc.yaml");
    write_kubeconfig(&path, "c1", "https://h:1", "CA", "u1", "CERT", "KEY").expect("write");
    let text = fs::read_to_string(&path).expect("read");
    assert_eq!(
        text,
        "apiVersion: v1\n\
         clusters:\n\
         - cluster:\n    certificate-authority-data: Q0E=\n    server: https://h:1\n  name: c1\n\
         contexts:\n\
         - context:\n    cluster: c1\n    user: u1\n  name: u1@c1\n\
         current-context: u1@c1\n\
         kind: Config\n\
         preferences: {}\n\
         users:\n\
         - name: u1\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n"
    );
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn server_tls_config_loads_and_rejects_mismatched_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let config = server_tls_config(&paths.serving_cert, &paths.serving_key, Some(&paths.ca_cert)).expect("config");
    assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    server_tls_config(&paths.serving_cert, &paths.serving_key, None).expect("no client CA");
    assert!(server_tls_config(&paths.serving_cert, &paths.admin_key, None).is_err());
    let missing = dir.path().join("nope.crt");
    let err = server_tls_config(&missing, &paths.serving_key, None).expect_err("missing");
    assert!(err.to_string().starts_with("opening "), "{err}");
}

fn client_config(paths: &PkiPaths, client_cert: Option<(&Path, &Path)>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for ca in load_certs(&paths.ca_cert).expect("ca") {
        roots.add(ca).expect("root");
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client_cert {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert).expect("cert"), load_private_key(key).expect("key"))
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

type Seen = (Option<(String, Vec<String>)>, Option<Vec<u8>>);

/// One TLS handshake over loopback; returns what the server saw (identity, ALPN), or the
/// client-side error.
async fn handshake(paths: &PkiPaths, client: ClientConfig, server_name: ServerName<'static>) -> Result<Seen, String> {
    let server_config =
        server_tls_config(&paths.serving_cert, &paths.serving_key, Some(&paths.ca_cert)).expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let identity = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| identity_from_der(leaf));
        let alpn = conn.alpn_protocol().map(|p| p.to_vec());
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(&buf).await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<Seen, String>((identity, alpn))
    });
    let connector = TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let client_result = async {
        let mut tls = connector.connect(server_name, tcp).await.map_err(|e| e.to_string())?;
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"ping");
        Ok::<(), String>(())
    }
    .await;
    let server_result = server.await.expect("join");
    client_result?;
    server_result
}

#[tokio::test]
async fn tls_handshake_with_admin_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let client = client_config(&paths, Some((&paths.admin_cert, &paths.admin_key)));
    let (identity, alpn) = handshake(
        &paths,
        client,
        ServerName::try_from("kubernetes.default.svc").expect("name"),
    )
    .await
    .expect("handshake");
    assert_eq!(
        identity,
        Some(("kubernetes-admin".to_string(), vec!["system:masters".to_string()]))
    );
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    // By IP, without a client certificate: allowed (anonymous), no peer identity.
    let client = client_config(&paths, None);
    let ip = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    let (identity, _) = handshake(&paths, client, ip).await.expect("anonymous handshake");
    assert_eq!(identity, None);
}

#[tokio::test]
async fn tls_handshake_rejects_client_certificate_from_foreign_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let other = tempfile::tempdir().expect("tempdir");
    let other_paths = bootstrap(&opts(other.path())).expect("bootstrap other");
    let client = client_config(&paths, Some((&other_paths.admin_cert, &other_paths.admin_key)));
    let result = handshake(&paths, client, ServerName::try_from("localhost").expect("name")).await;
    assert!(result.is_err(), "foreign client certificate accepted: {result:?}");
}

/// kubectl on PATH; missing, the test fails under CI and is skipped (loudly) elsewhere.
fn kubectl_available() -> bool {
    crate::testing::require_tool("kubectl")
}

#[test]
fn kubectl_reads_the_admin_kubeconfig() {
    if !kubectl_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = bootstrap(&opts(dir.path())).expect("bootstrap");
    let query = |expr: &str| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&paths.kubeconfig)
            .args(["config", "view", "--raw", "--minify", "-o"])
            .arg(format!("jsonpath={expr}"))
            .output()
            .expect("run kubectl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    };
    assert_eq!(query("{.users[0].name}"), "kubernetes-admin");
    assert_eq!(query("{.current-context}"), "kubernetes-admin@capstan");
    assert_eq!(query("{.clusters[0].name}"), "capstan");
    assert_eq!(query("{.clusters[0].cluster.server}"), "https://127.0.0.1:6443");
}

/// kubectl (Go crypto/tls) trusts the CA, accepts the serving certificate for 127.0.0.1, and
/// presents the admin client certificate (so Go parses our PKCS#8 EC key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_talks_tls_to_a_server_using_the_bootstrap_pki() {
    if !kubectl_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut options = opts(dir.path());
    options.server_url = format!("https://127.0.0.1:{}", addr.port());
    let paths = bootstrap(&options).expect("bootstrap");
    let mut config =
        server_tls_config(&paths.serving_cert, &paths.serving_key, Some(&paths.ca_cert)).expect("server config");
    // Plain HTTP/1.1 responder for the test.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let user = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|leaf| identity_from_der(leaf))
                    .map(|(user, groups)| format!("{user}|{}", groups.join(",")))
                    .unwrap_or_default();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!("{{\"user\":\"{user}\"}}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&paths.kubeconfig)
        .args(["get", "--raw", "/whoami"])
        .output()
        .await
        .expect("run kubectl");
    server.abort();
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "{\"user\":\"kubernetes-admin|system:masters\"}"
    );
}
