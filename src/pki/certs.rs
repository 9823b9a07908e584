//! `capstan certs init|check-expiration|renew` and `capstan kubeconfig`: kubeadm's PKI layout.
//!
//! Profiles follow kubeadm v1.33 (`cmd/kubeadm/app/phases/certs/certlist.go`,
//! `cmd/kubeadm/app/util/pkiutil/pki_helpers.go`, `phases/kubeconfig/kubeconfig.go`):
//!
//! | name | file | signed by | CN | O | EKU |
//! |---|---|---|---|---|---|
//! | ca | `ca` | self | `kubernetes` | | CA |
//! | apiserver | `apiserver` | ca | `kube-apiserver` | | server |
//! | apiserver-kubelet-client | `apiserver-kubelet-client` | ca | `kube-apiserver-kubelet-client` | `kubeadm:cluster-admins` | client |
//! | front-proxy-ca | `front-proxy-ca` | self | `front-proxy-ca` | | CA |
//! | front-proxy-client | `front-proxy-client` | front-proxy-ca | `front-proxy-client` | | client |
//! | etcd-ca | `etcd/ca` | self | `etcd-ca` | | CA |
//! | etcd-server | `etcd/server` | etcd-ca | node name | | server, client |
//! | etcd-peer | `etcd/peer` | etcd-ca | node name | | server, client |
//! | etcd-healthcheck-client | `etcd/healthcheck-client` | etcd-ca | `kube-etcd-healthcheck-client` | | client |
//! | apiserver-etcd-client | `apiserver-etcd-client` | etcd-ca | `kube-apiserver-etcd-client` | | client |
//!
//! CAs are valid 10 years, leaves 1 year, all backdated 5 minutes, random serials. Keys are
//! ECDSA P-256 (kubeadm's `encryptionAlgorithm: ECDSA-P256`; `ring` cannot generate RSA), so leaf
//! key usage is digitalSignature only, as kubeadm does for non-RSA keys. `sa.key` is an ECDSA
//! P-256 PKCS#8 key and `sa.pub` its SubjectPublicKeyInfo (`PUBLIC KEY`). Keys are mode 0600.

use super::bootstrap::is_dns1123_subdomain;
use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType, PKCS_ECDSA_P256_SHA256,
};

use super::bootstrap::{
    key_pair_from_pem, load_ca, new_ca, random_serial, read_string, BACKDATE, CA_VALIDITY, LEAF_VALIDITY,
};
use super::files::write_file;

/// Default certificate directory (kubeadm `certificatesDir`).
pub const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";
/// Default kubeconfig directory (kubeadm `KubernetesDir`).
pub const DEFAULT_KUBECONFIG_DIR: &str = "/etc/kubernetes";
/// Cluster name kubeadm writes into its kubeconfigs.
pub const KUBEADM_CLUSTER_NAME: &str = "kubernetes";

/// One of kubeadm's three certificate authorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaSpec {
    /// Name used by `check-expiration` (`ca`, `front-proxy-ca`, `etcd-ca`).
    pub name: &'static str,
    /// Path of `.crt`/`.key` relative to the certificate directory, without extension.
    pub base: &'static str,
    pub common_name: &'static str,
}

pub const CA: CaSpec = CaSpec {
    name: "ca",
    base: "ca",
    common_name: "kubernetes",
};
pub const FRONT_PROXY_CA: CaSpec = CaSpec {
    name: "front-proxy-ca",
    base: "front-proxy-ca",
    common_name: "front-proxy-ca",
};
pub const ETCD_CA: CaSpec = CaSpec {
    name: "etcd-ca",
    base: "etcd/ca",
    common_name: "etcd-ca",
};
/// The CAs in kubeadm's `check-expiration` order.
pub const CAS: [CaSpec; 3] = [CA, ETCD_CA, FRONT_PROXY_CA];

/// Which subject alternative names a leaf certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sans {
    None,
    /// kubeadm `GetAPIServerAltNames`.
    ApiServer,
    /// kubeadm `GetEtcdAltNames` / `GetEtcdPeerAltNames`: node name, localhost, advertise address, loopbacks.
    Etcd,
}

/// A leaf certificate of kubeadm's PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSpec {
    /// kubeadm's name (`kubeadm certs renew <name>`).
    pub name: &'static str,
    /// kubeadm's long name, used in messages.
    pub long_name: &'static str,
    pub base: &'static str,
    pub ca: CaSpec,
    /// Common name; `None` means the node name.
    pub common_name: Option<&'static str>,
    pub organizations: &'static [&'static str],
    pub server: bool,
    pub client: bool,
    pub sans: Sans,
}

#[allow(clippy::too_many_arguments)]
const fn leaf(
    name: &'static str,
    long_name: &'static str,
    base: &'static str,
    ca: CaSpec,
    common_name: Option<&'static str>,
    organizations: &'static [&'static str],
    (server, client): (bool, bool),
    sans: Sans,
) -> CertSpec {
    CertSpec {
        name,
        long_name,
        base,
        ca,
        common_name,
        organizations,
        server,
        client,
        sans,
    }
}

/// The leaf certificates, in kubeadm's generation order.
pub const CERTS: [CertSpec; 7] = [
    leaf(
        "apiserver",
        "certificate for serving the Kubernetes API",
        "apiserver",
        CA,
        Some("kube-apiserver"),
        &[],
        (true, false),
        Sans::ApiServer,
    ),
    leaf(
        "apiserver-kubelet-client",
        "certificate for the API server to connect to kubelet",
        "apiserver-kubelet-client",
        CA,
        Some("kube-apiserver-kubelet-client"),
        &["kubeadm:cluster-admins"],
        (false, true),
        Sans::None,
    ),
    leaf(
        "front-proxy-client",
        "certificate for the front proxy client",
        "front-proxy-client",
        FRONT_PROXY_CA,
        Some("front-proxy-client"),
        &[],
        (false, true),
        Sans::None,
    ),
    leaf(
        "etcd-server",
        "certificate for serving etcd",
        "etcd/server",
        ETCD_CA,
        None,
        &[],
        (true, true),
        Sans::Etcd,
    ),
    leaf(
        "etcd-peer",
        "certificate for etcd nodes to communicate with each other",
        "etcd/peer",
        ETCD_CA,
        None,
        &[],
        (true, true),
        Sans::Etcd,
    ),
    leaf(
        "etcd-healthcheck-client",
        "certificate for liveness probes to healthcheck etcd",
        "etcd/healthcheck-client",
        ETCD_CA,
        Some("kube-etcd-healthcheck-client"),
        &[],
        (false, true),
        Sans::None,
    ),
    leaf(
        "apiserver-etcd-client",
        "certificate the apiserver uses to access etcd",
        "apiserver-etcd-client",
        ETCD_CA,
        Some("kube-apiserver-etcd-client"),
        &[],
        (false, true),
        Sans::None,
    ),
];

/// A kubeconfig file kubeadm writes (client certificate signed by `ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeconfigSpec {
    pub file: &'static str,
    pub long_name: &'static str,
    /// User (certificate CN); `None` means `system:node:<node name>`.
    pub user: Option<&'static str>,
    pub organizations: &'static [&'static str],
    /// Whether `check-expiration`/`renew` handle it (kubelet.conf is rotated by the kubelet).
    pub renewable: bool,
}

pub const KUBECONFIGS: [KubeconfigSpec; 5] = [
    KubeconfigSpec {
        file: "admin.conf",
        long_name: "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
        user: Some("kubernetes-admin"),
        organizations: &["kubeadm:cluster-admins"],
        renewable: true,
    },
    KubeconfigSpec {
        file: "super-admin.conf",
        long_name: "certificate embedded in the kubeconfig file for the super-admin",
        user: Some("kubernetes-super-admin"),
        organizations: &["system:masters"],
        renewable: true,
    },
    KubeconfigSpec {
        file: "kubelet.conf",
        long_name: "certificate embedded in the kubeconfig file for the kubelet to use",
        user: None,
        organizations: &["system:nodes"],
        renewable: false,
    },
    KubeconfigSpec {
        file: "controller-manager.conf",
        long_name: "certificate embedded in the kubeconfig file for the controller manager to use",
        user: Some("system:kube-controller-manager"),
        organizations: &[],
        renewable: true,
    },
    KubeconfigSpec {
        file: "scheduler.conf",
        long_name: "certificate embedded in the kubeconfig file for the scheduler manager to use",
        user: Some("system:kube-scheduler"),
        organizations: &[],
        renewable: true,
    },
];

/// Inputs of [`init`], [`renew`] and [`write_kubeconfigs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertsOptions {
    /// Certificate directory (`/etc/kubernetes/pki`).
    pub cert_dir: PathBuf,
    /// Kubeconfig directory (`/etc/kubernetes`).
    pub kubeconfig_dir: PathBuf,
    /// Node name (lower-cased host name by default).
    pub node_name: String,
    pub advertise_address: IpAddr,
    /// Service CIDR(s), comma separated; the first IP of the first one is a SAN.
    pub service_cidr: String,
    pub dns_domain: String,
    /// `--apiserver-cert-extra-sans`.
    pub extra_sans: Vec<String>,
    /// `controlPlaneEndpoint` host\[:port\], written into admin/super-admin/kubelet kubeconfigs.
    pub control_plane_endpoint: Option<String>,
    pub secure_port: u16,
    /// Regenerate files that already exist.
    pub force: bool,
}

impl Default for CertsOptions {
    fn default() -> Self {
        CertsOptions {
            cert_dir: PathBuf::from(DEFAULT_CERT_DIR),
            kubeconfig_dir: PathBuf::from(DEFAULT_KUBECONFIG_DIR),
            node_name: default_node_name(),
            advertise_address: default_advertise_address(),
            service_cidr: "10.96.0.0/12".to_string(),
            dns_domain: "cluster.local".to_string(),
            extra_sans: Vec::new(),
            control_plane_endpoint: None,
            secure_port: 6443,
            force: false,
        }
    }
}

/// Lower-cased host name (kubeadm `GetHostname("")`), `localhost` if unknown.
pub fn default_node_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The source address of the default route (no packet is sent), else `127.0.0.1`.
pub fn default_advertise_address() -> IpAddr {
    let probe = || -> Option<IpAddr> {
        let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
        sock.connect("192.0.2.1:9").ok()?;
        let ip = sock.local_addr().ok()?.ip();
        (!ip.is_unspecified()).then_some(ip)
    };
    probe().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The first usable IP of a CIDR (`10.96.0.0/12` → `10.96.0.1`); for a list, of the first entry.
pub fn first_service_ip(cidrs: &str) -> anyhow::Result<IpAddr> {
    let cidr = cidrs.split(',').next().unwrap_or("").trim();
    let (addr, bits) = cidr
        .split_once('/')
        .ok_or_else(|| anyhow!("invalid CIDR address: {cidr}"))?;
    let ip: IpAddr = addr.parse().map_err(|_| anyhow!("invalid CIDR address: {cidr}"))?;
    let bits: u32 = bits.parse().map_err(|_| anyhow!("invalid CIDR address: {cidr}"))?;
    match ip {
        IpAddr::V4(v4) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            let net = u32::from(v4) & mask;
            Ok(IpAddr::V4(Ipv4Addr::from(net.wrapping_add(1))))
        }
        IpAddr::V6(v6) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            let net = u128::from(v6) & mask;
            Ok(IpAddr::V6(Ipv6Addr::from(net.wrapping_add(1))))
        }
        _ => bail!("invalid CIDR address: {cidr}"),
    }
}

fn is_wildcard_dns(name: &str) -> bool {
    name.strip_prefix("*.")
        .is_some_and(|rest| rest.contains('.') && is_dns1123_subdomain(rest))
}

/// Adds `value` as an IP or a DNS SAN; returns a warning for anything else (kubeadm `appendSANsToAltNames`).
fn push_san(value: &str, dns: &mut BTreeSet<String>, ips: &mut Vec<IpAddr>, warnings: &mut Vec<String>) {
    if let Ok(ip) = value.parse::<IpAddr>() {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    } else if is_dns1123_subdomain(value) || is_wildcard_dns(value) {
        dns.insert(value.to_string());
    } else {
        warnings.push(format!(
            "[certificates] WARNING: '{value}' was not added to the 'apiserver' SAN, because it is not a valid IP or RFC-1123 compliant DNS entry"
        ));
    }
}

/// SANs of a leaf: (sorted DNS names, IPs in order, warnings).
pub fn alt_names(spec: &CertSpec, opts: &CertsOptions) -> anyhow::Result<(Vec<String>, Vec<IpAddr>, Vec<String>)> {
    let mut dns = BTreeSet::new();
    let mut ips = Vec::new();
    let mut warnings = Vec::new();
    match spec.sans {
        Sans::None => {}
        Sans::ApiServer => {
            dns.insert(opts.node_name.clone());
            for name in ["kubernetes", "kubernetes.default", "kubernetes.default.svc"] {
                dns.insert(name.to_string());
            }
            dns.insert(format!("kubernetes.default.svc.{}", opts.dns_domain));
            ips.push(first_service_ip(&opts.service_cidr)?);
            if !ips.contains(&opts.advertise_address) {
                ips.push(opts.advertise_address);
            }
            if let Some(endpoint) = &opts.control_plane_endpoint {
                let host = endpoint_host(endpoint);
                push_san(&host, &mut dns, &mut ips, &mut warnings);
            }
            for san in &opts.extra_sans {
                push_san(san.trim(), &mut dns, &mut ips, &mut warnings);
            }
        }
        Sans::Etcd => {
            dns.insert(opts.node_name.clone());
            dns.insert("localhost".to_string());
            for ip in [
                opts.advertise_address,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ] {
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
        }
    }
    Ok((dns.into_iter().collect(), ips, warnings))
}

fn endpoint_host(endpoint: &str) -> String {
    if let Some(rest) = endpoint.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    if endpoint.parse::<IpAddr>().is_ok() {
        return endpoint.to_string();
    }
    endpoint
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(endpoint)
        .to_string()
}

fn base_params(common_name: &str, organizations: &[&str], validity: Duration) -> CertificateParams {
    let now = SystemTime::now();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for org in organizations {
        dn.push(DnType::OrganizationName, *org);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = now.checked_sub(BACKDATE).unwrap_or(now).into();
    params.not_after = now.checked_add(validity).unwrap_or(now).into();
    params.serial_number = Some(random_serial());
    params
}

fn client_params(common_name: &str, organizations: &[&str], server: bool, client: bool) -> CertificateParams {
    let mut params = base_params(common_name, organizations, LEAF_VALIDITY);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if server {
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if client {
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.use_authority_key_identifier_extension = true;
    params
}

fn set_sans(params: &mut CertificateParams, dns: &[String], ips: &[IpAddr]) -> anyhow::Result<()> {
    for name in dns {
        params.subject_alt_names.push(SanType::DnsName(
            name.as_str()
                .try_into()
                .with_context(|| format!("invalid DNS SAN {name:?}"))?,
        ));
    }
    params
        .subject_alt_names
        .extend(ips.iter().copied().map(SanType::IpAddress));
    Ok(())
}

type Ca = Issuer<'static, KeyPair>;

fn sign(params: CertificateParams, ca: &Ca) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating key")?;
    let cert = params.signed_by(&key, ca).context("signing certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn write_pair(dir: &Path, base: &str, cert_pem: &str, key_pem: &str) -> anyhow::Result<()> {
    let cert = dir.join(format!("{base}.crt"));
    let key = dir.join(format!("{base}.key"));
    if let Some(parent) = cert.parent() {
        ensure_dir(parent)?;
    }
    write_file(&key, key_pem.as_bytes(), 0o600)?;
    write_file(&cert, cert_pem.as_bytes(), 0o644)
}

fn pair_exists(dir: &Path, base: &str) -> (bool, bool) {
    (
        dir.join(format!("{base}.crt")).exists(),
        dir.join(format!("{base}.key")).exists(),
    )
}

/// Create kubeadm's PKI under `opts.cert_dir`. Existing files are kept unless `opts.force`; a
/// newly created CA re-issues its leaves. Returns kubeadm-style progress lines.
pub fn init(opts: &CertsOptions) -> anyhow::Result<Vec<String>> {
    let dir = &opts.cert_dir;
    ensure_dir(dir)?;
    let mut log = Vec::new();
    let mut cas: Vec<(CaSpec, Ca, bool)> = Vec::new();
    for ca in [CA, FRONT_PROXY_CA, ETCD_CA] {
        let (crt, key) = pair_exists(dir, ca.base);
        if crt && key && !opts.force {
            log.push(format!("[certs] Using existing {} certificate authority", ca.name));
            let issuer = load_ca(
                &dir.join(format!("{}.crt", ca.base)),
                &dir.join(format!("{}.key", ca.base)),
            )?;
            cas.push((ca, issuer, false));
        } else if (crt || key) && !opts.force {
            bail!(
                "{} certificate authority is incomplete in {}: both {}.crt and {}.key are needed (use --force to regenerate)",
                ca.name,
                dir.display(),
                ca.base,
                ca.base
            );
        } else {
            log.push(format!("[certs] Generating \"{}\" certificate and key", ca.name));
            let (cert_pem, key_pem, issuer) = new_ca(base_params(ca.common_name, &[], CA_VALIDITY), ca.common_name)?;
            write_pair(dir, ca.base, &cert_pem, &key_pem)?;
            cas.push((ca, issuer, true));
        }
    }
    for spec in CERTS {
        let Some((_, issuer, ca_new)) = cas.iter().find(|(c, _, _)| *c == spec.ca) else {
            bail!("internal error: no CA for {}", spec.name);
        };
        let (crt, key) = pair_exists(dir, spec.base);
        if crt && key && !opts.force && !ca_new {
            log.push(format!(
                "[certs] Using existing {} certificate and key on disk",
                spec.name
            ));
            continue;
        }
        log.extend(issue(spec, opts, issuer)?);
    }
    let sa_key = dir.join("sa.key");
    let sa_pub = dir.join("sa.pub");
    if sa_key.exists() && !opts.force {
        log.push("[certs] Using the existing \"sa\" key".to_string());
        if !sa_pub.exists() {
            let key = key_pair_from_pem(&read_string(&sa_key)?).context("loading sa.key")?;
            write_file(&sa_pub, key.public_key_pem().as_bytes(), 0o644)?;
        }
    } else {
        log.push("[certs] Generating \"sa\" key and public key".to_string());
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating sa key")?;
        write_file(&sa_key, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&sa_pub, key.public_key_pem().as_bytes(), 0o644)?;
    }
    Ok(log)
}

fn issue(spec: CertSpec, opts: &CertsOptions, ca: &Ca) -> anyhow::Result<Vec<String>> {
    let mut log = vec![format!("[certs] Generating \"{}\" certificate and key", spec.name)];
    let cn = spec
        .common_name
        .map(str::to_string)
        .unwrap_or_else(|| opts.node_name.clone());
    let mut params = client_params(&cn, spec.organizations, spec.server, spec.client);
    let (dns, ips, warnings) = alt_names(&spec, opts)?;
    log.extend(warnings);
    if spec.sans != Sans::None {
        let ip_list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
        log.push(format!(
            "[certs] {} serving cert is signed for DNS names [{}] and IPs [{}]",
            spec.name,
            dns.join(" "),
            ip_list.join(" ")
        ));
    }
    set_sans(&mut params, &dns, &ips)?;
    let (cert_pem, key_pem) = sign(params, ca)?;
    write_pair(&opts.cert_dir, spec.base, &cert_pem, &key_pem)?;
    Ok(log)
}

fn ca_for(dir: &Path, ca: CaSpec) -> anyhow::Result<Ca> {
    load_ca(
        &dir.join(format!("{}.crt", ca.base)),
        &dir.join(format!("{}.key", ca.base)),
    )
}

fn server_url(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}"),
        _ => format!("https://{host}:{port}"),
    }
}

/// Write admin.conf, super-admin.conf, kubelet.conf, controller-manager.conf and scheduler.conf
/// into `opts.kubeconfig_dir` (kept if present unless `opts.force`). admin, super-admin and
/// kubelet point at the control-plane endpoint (else the advertise address), the others at the
/// local endpoint, as kubeadm does. Returns progress lines.
pub fn write_kubeconfigs(opts: &CertsOptions) -> anyhow::Result<Vec<String>> {
    let ca = ca_for(&opts.cert_dir, CA)?;
    let ca_pem = read_string(&opts.cert_dir.join("ca.crt"))?;
    ensure_dir(&opts.kubeconfig_dir)?;
    let local = server_url(&opts.advertise_address.to_string(), opts.secure_port);
    let cluster = match &opts.control_plane_endpoint {
        Some(ep) if ep.contains(':') && !ep.starts_with('[') && ep.parse::<IpAddr>().is_err() => {
            format!("https://{ep}")
        }
        Some(ep) if ep.starts_with('[') && ep.contains("]:") => format!("https://{ep}"),
        Some(ep) => server_url(&endpoint_host(ep), opts.secure_port),
        None => local.clone(),
    };
    let mut log = Vec::new();
    for spec in KUBECONFIGS {
        let path = opts.kubeconfig_dir.join(spec.file);
        if path.exists() && !opts.force {
            log.push(format!(
                "[kubeconfig] Using existing kubeconfig file: \"{}\"",
                path.display()
            ));
            continue;
        }
        let user = spec
            .user
            .map(str::to_string)
            .unwrap_or_else(|| format!("system:node:{}", opts.node_name));
        let params = client_params(&user, spec.organizations, false, true);
        let (cert_pem, key_pem) = sign(params, &ca)?;
        let url = match spec.file {
            "controller-manager.conf" | "scheduler.conf" => &local,
            _ => &cluster,
        };
        super::write_kubeconfig(&path, KUBEADM_CLUSTER_NAME, url, &ca_pem, &user, &cert_pem, &key_pem)?;
        log.push(format!("[kubeconfig] Writing \"{}\" kubeconfig file", spec.file));
    }
    Ok(log)
}

/// Names accepted by [`renew`] (besides `all`), sorted as kubeadm lists them.
pub fn renew_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = CERTS.iter().map(|c| c.name).collect();
    names.extend(KUBECONFIGS.iter().filter(|k| k.renewable).map(|k| k.file));
    names.sort_unstable();
    names
}

/// Renew one certificate (or `all`) with the existing CA, keeping its subject and SANs and
/// generating a new key. Missing files are skipped with a message. Returns progress lines.
pub fn renew(cert_dir: &Path, kubeconfig_dir: &Path, name: &str) -> anyhow::Result<Vec<String>> {
    let names = renew_names();
    let selected: Vec<&str> = if name == "all" {
        names.clone()
    } else if names.contains(&name) {
        vec![name]
    } else {
        bail!("unknown certificate {name:?}; valid names: {}, all", names.join(", "));
    };
    let mut log = Vec::new();
    for n in selected {
        if let Some(spec) = CERTS.iter().find(|c| c.name == n) {
            let crt = cert_dir.join(format!("{}.crt", spec.base));
            if !crt.exists() {
                log.push(format!("MISSING! {}", spec.long_name));
                continue;
            }
            let info = CertInfo::from_pem(&read_string(&crt)?)?;
            let ca = ca_for(cert_dir, spec.ca)?;
            let orgs: Vec<&str> = info.organizations.iter().map(String::as_str).collect();
            let mut params = client_params(&info.common_name, &orgs, spec.server, spec.client);
            set_sans(&mut params, &info.dns, &info.ips)?;
            let (cert_pem, key_pem) = sign(params, &ca)?;
            write_pair(cert_dir, spec.base, &cert_pem, &key_pem)?;
            log.push(format!("{} renewed", spec.long_name));
        } else if let Some(spec) = KUBECONFIGS.iter().find(|k| k.file == n) {
            let path = kubeconfig_dir.join(spec.file);
            if !path.exists() {
                log.push(format!("MISSING! {}", spec.long_name));
                continue;
            }
            renew_kubeconfig(&path, &ca_for(cert_dir, CA)?)?;
            log.push(format!("{} renewed", spec.long_name));
        }
    }
    log.push(String::new());
    log.push("Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.".to_string());
    Ok(log)
}

fn kubeconfig_user(doc: &serde_json::Value) -> Option<&str> {
    let current = doc.get("current-context")?.as_str()?;
    let ctx = doc
        .get("contexts")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(|n| n.as_str()) == Some(current))?;
    ctx.pointer("/context/user")?.as_str()
}

fn kubeconfig_cert(doc: &serde_json::Value) -> anyhow::Result<String> {
    let user = kubeconfig_user(doc).ok_or_else(|| anyhow!("kubeconfig has no current context user"))?;
    let entry = doc
        .get("users")
        .and_then(|u| u.as_array())
        .and_then(|u| u.iter().find(|e| e.get("name").and_then(|n| n.as_str()) == Some(user)))
        .ok_or_else(|| anyhow!("kubeconfig has no user {user:?}"))?;
    let data = entry
        .pointer("/user/client-certificate-data")
        .and_then(|d| d.as_str())
        .ok_or_else(|| anyhow!("kubeconfig user {user:?} has no embedded client certificate"))?;
    let bytes = STANDARD.decode(data).context("decoding client-certificate-data")?;
    String::from_utf8(bytes).context("client-certificate-data is not PEM")
}

fn renew_kubeconfig(path: &Path, ca: &Ca) -> anyhow::Result<()> {
    let text = read_string(path)?;
    let mut doc: serde_json::Value =
        yaml_serde::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let info = CertInfo::from_pem(&kubeconfig_cert(&doc)?)?;
    let orgs: Vec<&str> = info.organizations.iter().map(String::as_str).collect();
    let (cert_pem, key_pem) = sign(client_params(&info.common_name, &orgs, false, true), ca)?;
    let user = kubeconfig_user(&doc).unwrap_or_default().to_string();
    if let Some(users) = doc.get_mut("users").and_then(|u| u.as_array_mut()) {
        for entry in users {
            if entry.get("name").and_then(|n| n.as_str()) == Some(user.as_str()) {
                if let Some(u) = entry.get_mut("user").and_then(|u| u.as_object_mut()) {
                    u.insert("client-certificate-data".into(), STANDARD.encode(&cert_pem).into());
                    u.insert("client-key-data".into(), STANDARD.encode(&key_pem).into());
                }
            }
        }
    }
    let out = yaml_serde::to_string(&doc).context("serializing kubeconfig")?;
    write_file(path, out.as_bytes(), 0o600)
}

/// The parts of a certificate `renew` and `check-expiration` need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    /// Expiry, seconds since the Unix epoch.
    pub not_after: i64,
    pub issuer_common_name: String,
}

impl CertInfo {
    pub fn from_pem(pem: &str) -> anyhow::Result<CertInfo> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| anyhow!("reading PEM: {e}"))?;
        let cert = pem.parse_x509().map_err(|e| anyhow!("parsing certificate: {e}"))?;
        let first = |name: &x509_parser::x509::X509Name<'_>| {
            name.iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let organizations = cert
            .subject()
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(d) => dns.push(d.to_string()),
                    x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                        4 => ips.push(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
                        16 => {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(b);
                            ips.push(IpAddr::V6(Ipv6Addr::from(a)));
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        Ok(CertInfo {
            common_name: first(cert.subject()),
            organizations,
            dns,
            ips,
            not_after: cert.validity().not_after.timestamp(),
            issuer_common_name: first(cert.issuer()),
        })
    }
}

/// `k8s.io/apimachinery/pkg/util/duration.ShortHumanDuration`.
pub fn short_human_duration(seconds: i64) -> String {
    if seconds < -1 {
        "<invalid>".to_string()
    } else if seconds < 0 {
        "0s".to_string()
    } else if seconds < 60 {
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{}m", seconds / 60)
    } else if seconds < 24 * 3600 {
        format!("{}h", seconds / 3600)
    } else if seconds < 365 * 24 * 3600 {
        format!("{}d", seconds / (24 * 3600))
    } else {
        format!("{}y", seconds / (365 * 24 * 3600))
    }
}

/// Go's `Jan 02, 2006 15:04 MST` in UTC.
pub fn format_expiry(unix: i64) -> String {
    let (year, month, day, h, mi, _) = crate::util::time::civil_from_unix(unix);
    let name = crate::util::time::month_abbrev(month);
    format!("{name} {day:02}, {year} {h:02}:{mi:02} UTC")
}

/// Columns padded like Go's `tabwriter.NewWriter(out, 10, 4, 3, ' ', 0)`.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
                .max(10 - 3)
                + 3
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count())));
            }
        }
        out.push('\n');
    }
    out
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        // Rounded up: Go computes the residual time with sub-second precision.
        .map(|d| d.as_secs() as i64 + i64::from(d.subsec_nanos() > 0))
        .unwrap_or(0)
}

/// kubeadm's `certs check-expiration` tables, computed at `now` (Unix seconds).
pub fn check_expiration(cert_dir: &Path, kubeconfig_dir: &Path, now: i64) -> anyhow::Result<String> {
    struct Row {
        name: String,
        info: Option<CertInfo>,
        ca: &'static str,
    }
    let mut rows: Vec<Row> = Vec::new();
    for spec in CERTS {
        let path = cert_dir.join(format!("{}.crt", spec.base));
        let info = match fs::read_to_string(&path) {
            Ok(pem) => Some(CertInfo::from_pem(&pem).with_context(|| format!("reading {}", path.display()))?),
            Err(_) => None,
        };
        rows.push(Row {
            name: spec.name.to_string(),
            info,
            ca: spec.ca.name,
        });
    }
    for spec in KUBECONFIGS.iter().filter(|k| k.renewable) {
        let path = kubeconfig_dir.join(spec.file);
        let info = match fs::read_to_string(&path) {
            Ok(text) => {
                let doc: serde_json::Value =
                    yaml_serde::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
                Some(
                    CertInfo::from_pem(&kubeconfig_cert(&doc)?)
                        .with_context(|| format!("reading {}", path.display()))?,
                )
            }
            Err(_) => None,
        };
        rows.push(Row {
            name: spec.file.to_string(),
            info,
            ca: CA.name,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    let mut table_rows = vec![vec![
        "CERTIFICATE".to_string(),
        "EXPIRES".to_string(),
        "RESIDUAL TIME".to_string(),
        "CERTIFICATE AUTHORITY".to_string(),
        "EXTERNALLY MANAGED".to_string(),
    ]];
    let mut missing = Vec::new();
    for row in &rows {
        match &row.info {
            Some(info) => table_rows.push(vec![
                row.name.clone(),
                format_expiry(info.not_after),
                short_human_duration(info.not_after - now),
                row.ca.to_string(),
                "no".to_string(),
            ]),
            None => missing.push(format!("!MISSING! {}\n", row.name)),
        }
    }
    out.push_str(&table(&table_rows));
    for m in missing {
        out.push_str(&m);
    }
    out.push('\n');
    let mut ca_rows = vec![vec![
        "CERTIFICATE AUTHORITY".to_string(),
        "EXPIRES".to_string(),
        "RESIDUAL TIME".to_string(),
        "EXTERNALLY MANAGED".to_string(),
    ]];
    let mut ca_missing = Vec::new();
    for ca in CAS {
        let path = cert_dir.join(format!("{}.crt", ca.base));
        match fs::read_to_string(&path) {
            Ok(pem) => {
                let info = CertInfo::from_pem(&pem).with_context(|| format!("reading {}", path.display()))?;
                let external = !cert_dir.join(format!("{}.key", ca.base)).exists();
                ca_rows.push(vec![
                    ca.name.to_string(),
                    format_expiry(info.not_after),
                    short_human_duration(info.not_after - now),
                    if external { "yes" } else { "no" }.to_string(),
                ]);
            }
            Err(_) => ca_missing.push(format!("!MISSING! {}\n", ca.name)),
        }
    }
    out.push_str(&table(&ca_rows));
    for m in ca_missing {
        out.push_str(&m);
    }
    Ok(out)
}

/// [`check_expiration`] at the current time.
pub fn check_expiration_now(cert_dir: &Path, kubeconfig_dir: &Path) -> anyhow::Result<String> {
    check_expiration(cert_dir, kubeconfig_dir, now_unix())
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
