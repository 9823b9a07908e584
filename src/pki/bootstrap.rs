//! Self-signed cluster CA, apiserver serving certificate, admin client certificate and admin
//! kubeconfig, laid out like kubeadm's `/etc/kubernetes/pki`.
//!
//! Profiles follow kubeadm (`pki_helpers.go` `NewSelfSignedCACert` / `NewSignedCert`):
//! - `ca.crt`: CN `kubernetes`, CA, DNS SAN `kubernetes`, 10 years;
//! - `apiserver.crt`: CN `kube-apiserver`, EKU serverAuth, 1 year;
//! - `admin.crt`: CN `kubernetes-admin`, O `system:masters`, EKU clientAuth, 1 year.
//!
//! All certificates are backdated by 5 minutes (kubeadm `CertificateBackdate`) and get a random
//! serial in `[1, 2^63-1)`. Keys are ECDSA P-256 written as PKCS#8 PEM (`PRIVATE KEY`), which
//! both rustls-pemfile and Go's `crypto/tls` accept.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};

use super::files::write_file;
use super::kubeconfig;

/// Common name of the self-signed cluster CA (kubeadm `ca`).
pub const CA_COMMON_NAME: &str = "kubernetes";
/// Common name of the apiserver serving certificate (kubeadm `apiserver`).
pub const APISERVER_COMMON_NAME: &str = "kube-apiserver";
/// User name of the bootstrap administrator.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// Group of the bootstrap administrator (bound to cluster-admin by the bootstrap RBAC policy).
pub const ADMIN_GROUP: &str = "system:masters";
/// Cluster name written into the admin kubeconfig.
pub const CLUSTER_NAME: &str = "capstan";

pub(super) const BACKDATE: Duration = Duration::from_secs(5 * 60);
pub(super) const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
pub(super) const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Inputs of [`bootstrap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapOptions {
    /// Data directory; certificates go to `dir/pki`, the kubeconfig to `dir/admin.kubeconfig`.
    pub dir: PathBuf,
    /// Node host name, added as a DNS SAN of the serving certificate (lower-cased).
    pub hostname: String,
    /// Address other members reach this server on (IP SAN).
    pub advertise_address: Option<IpAddr>,
    /// First IP of the service CIDR (`10.96.0.1` for the default `10.96.0.0/12`).
    pub first_service_ip: IpAddr,
    /// Cluster DNS domain (`cluster.local`).
    pub dns_domain: String,
    /// Extra SANs (IP addresses or RFC 1123 / wildcard DNS names; others are dropped with a warning).
    pub extra_sans: Vec<String>,
    /// Server URL written into the admin kubeconfig (its host is also added as a SAN).
    pub server_url: String,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            dir: PathBuf::from("."),
            hostname: "localhost".to_string(),
            advertise_address: None,
            first_service_ip: IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1)),
            dns_domain: "cluster.local".to_string(),
            extra_sans: Vec::new(),
            server_url: "https://127.0.0.1:6443".to_string(),
        }
    }
}

/// Where [`bootstrap`] keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiPaths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub kubeconfig: PathBuf,
}

impl PkiPaths {
    /// The file layout under a data directory.
    pub fn for_dir(dir: &Path) -> PkiPaths {
        let pki = dir.join("pki");
        PkiPaths {
            ca_cert: pki.join("ca.crt"),
            ca_key: pki.join("ca.key"),
            serving_cert: pki.join("apiserver.crt"),
            serving_key: pki.join("apiserver.key"),
            admin_cert: pki.join("admin.crt"),
            admin_key: pki.join("admin.key"),
            kubeconfig: dir.join("admin.kubeconfig"),
        }
    }
}

/// Create (only what is missing) the CA, the serving certificate, the admin client certificate
/// and the admin kubeconfig. Existing certificates are kept; if the CA itself has to be created,
/// the leaf certificates are re-issued under it. The kubeconfig is rewritten when its server URL
/// or embedded credentials no longer match. Returns the paths.
pub fn bootstrap(opts: &BootstrapOptions) -> anyhow::Result<PkiPaths> {
    let paths = PkiPaths::for_dir(&opts.dir);
    let pki_dir = opts.dir.join("pki");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&pki_dir)
        .with_context(|| format!("creating {}", pki_dir.display()))?;

    let ca_cert_exists = paths.ca_cert.exists();
    let ca_key_exists = paths.ca_key.exists();
    let need_serving = !(paths.serving_cert.exists() && paths.serving_key.exists());
    let need_admin = !(paths.admin_cert.exists() && paths.admin_key.exists());

    let mut issuer: Option<Issuer<'static, KeyPair>> = None;
    let ca_created = !ca_cert_exists && !ca_key_exists;
    if ca_created {
        let (cert_pem, key_pem, ca) = new_ca(base_params(CA_COMMON_NAME, &[], CA_VALIDITY), CA_COMMON_NAME)?;
        write_file(&paths.ca_key, key_pem.as_bytes(), 0o600)?;
        write_file(&paths.ca_cert, cert_pem.as_bytes(), 0o644)?;
        tracing::info!(path = %paths.ca_cert.display(), "generated cluster CA");
        issuer = Some(ca);
    } else if need_serving || need_admin {
        if !ca_key_exists {
            bail!(
                "cannot issue missing certificates: CA key {} not found (CA certificate {} exists)",
                paths.ca_key.display(),
                paths.ca_cert.display()
            );
        }
        if !ca_cert_exists {
            bail!(
                "cannot issue missing certificates: CA certificate {} not found (CA key {} exists)",
                paths.ca_cert.display(),
                paths.ca_key.display()
            );
        }
        issuer = Some(load_ca(&paths.ca_cert, &paths.ca_key)?);
    }

    if ca_created || need_serving {
        let ca = issuer.as_ref().ok_or_else(|| anyhow!("internal error: no CA loaded"))?;
        let params = serving_params(opts)?;
        issue_leaf(params, ca, &paths.serving_cert, &paths.serving_key)?;
        tracing::info!(path = %paths.serving_cert.display(), "generated apiserver serving certificate");
    }
    if ca_created || need_admin {
        let ca = issuer.as_ref().ok_or_else(|| anyhow!("internal error: no CA loaded"))?;
        issue_leaf(admin_params()?, ca, &paths.admin_cert, &paths.admin_key)?;
        tracing::info!(path = %paths.admin_cert.display(), "generated admin client certificate");
    }

    let ca_pem = read_string(&paths.ca_cert)?;
    let admin_cert_pem = read_string(&paths.admin_cert)?;
    let admin_key_pem = read_string(&paths.admin_key)?;
    let wanted = kubeconfig::render(
        CLUSTER_NAME,
        &opts.server_url,
        &ca_pem,
        ADMIN_USER,
        &admin_cert_pem,
        &admin_key_pem,
    )?;
    let current = fs::read_to_string(&paths.kubeconfig).ok();
    let up_to_date = current.as_deref().is_some_and(|text| {
        kubeconfig::matches(
            text,
            &opts.server_url,
            &ca_pem,
            ADMIN_USER,
            &admin_cert_pem,
            &admin_key_pem,
        )
    });
    if !up_to_date {
        write_file(&paths.kubeconfig, wanted.as_bytes(), 0o600)?;
        tracing::info!(path = %paths.kubeconfig.display(), server = %opts.server_url, "wrote admin kubeconfig");
    }
    Ok(paths)
}

/// DNS names (sorted, de-duplicated) and IP addresses (de-duplicated, in order) for the
/// apiserver serving certificate, following kubeadm `GetAPIServerAltNames` plus loopback names.
pub fn serving_alt_names(opts: &BootstrapOptions) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns: BTreeSet<String> = BTreeSet::new();
    let mut ips: Vec<IpAddr> = Vec::new();
    fn push_ip(ips: &mut Vec<IpAddr>, ip: IpAddr) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }

    for name in [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
    ] {
        dns.insert(name.to_string());
    }
    let domain = opts.dns_domain.trim_matches('.').to_ascii_lowercase();
    if !domain.is_empty() {
        let svc = format!("kubernetes.default.svc.{domain}");
        if is_dns1123_subdomain(&svc) {
            dns.insert(svc);
        } else {
            tracing::warn!(domain = %opts.dns_domain, "invalid DNS domain, not added to the serving certificate");
        }
    }
    let host = opts.hostname.trim().to_ascii_lowercase();
    if !host.is_empty() {
        match host.parse::<IpAddr>() {
            Ok(ip) => push_ip(&mut ips, ip),
            Err(_) if is_dns1123_subdomain(&host) => {
                dns.insert(host);
            }
            Err(_) => tracing::warn!(hostname = %opts.hostname, "host name is not a valid DNS name, not added as SAN"),
        }
    }

    push_ip(&mut ips, IpAddr::V4(Ipv4Addr::LOCALHOST));
    push_ip(&mut ips, IpAddr::V6(Ipv6Addr::LOCALHOST));
    push_ip(&mut ips, opts.first_service_ip);
    if let Some(ip) = opts.advertise_address {
        if !ip.is_unspecified() {
            push_ip(&mut ips, ip);
        }
    }
    if let Some(host) = url_host(&opts.server_url) {
        match host.parse::<IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => push_ip(&mut ips, ip),
            Ok(_) => {}
            Err(_) => {
                let host = host.to_ascii_lowercase();
                if is_dns1123_subdomain(&host) {
                    dns.insert(host);
                }
            }
        }
    }
    for extra in &opts.extra_sans {
        let extra = extra.trim();
        if extra.is_empty() {
            continue;
        }
        if let Ok(ip) = extra.parse::<IpAddr>() {
            push_ip(&mut ips, ip);
        } else if is_dns1123_subdomain(extra) || is_wildcard_dns1123_subdomain(extra) {
            dns.insert(extra.to_string());
        } else {
            tracing::warn!(
                san = extra,
                "skipping extra SAN: not a valid IP address, RFC 1123 DNS name or wildcard DNS name"
            );
        }
    }
    (dns.into_iter().collect(), ips)
}

/// Host part of an `https://host:port/path` URL (brackets of an IPv6 literal removed).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host = if let Some(stripped) = authority.strip_prefix('[') {
        stripped.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then_some(host)
}

/// Kubernetes `validation.IsDNS1123Subdomain`, as a yes/no.
pub(crate) fn is_dns1123_subdomain(value: &str) -> bool {
    crate::util::names::is_dns1123_subdomain(value).is_empty()
}

/// Kubernetes `validation.IsWildcardDNS1123Subdomain` (`*.` followed by a subdomain).
fn is_wildcard_dns1123_subdomain(value: &str) -> bool {
    value.len() <= 253 && value.strip_prefix("*.").is_some_and(is_dns1123_subdomain)
}

pub(super) fn random_serial() -> SerialNumber {
    // kubeadm: uniform in [1, MaxInt64).
    let value = (rand::random::<u64>() % (i64::MAX as u64 - 1)) + 1;
    SerialNumber::from(value)
}

fn base_params(common_name: &str, organizations: &[&str], validity: Duration) -> CertificateParams {
    let now = SystemTime::now();
    let not_before = now.checked_sub(BACKDATE).unwrap_or(now);
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for org in organizations {
        dn.push(DnType::OrganizationName, *org);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = not_before.into();
    params.not_after = not_before.checked_add(validity).unwrap_or(not_before).into();
    params.serial_number = Some(random_serial());
    params
}

/// A new self-signed CA named `common_name` from its base `params` (name, validity, serial):
/// its certificate and key PEM, and the issuer for its leaves.
pub(super) fn new_ca(
    mut params: CertificateParams,
    common_name: &str,
) -> anyhow::Result<(String, String, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating CA key")?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.subject_alt_names = vec![SanType::DnsName(common_name.try_into()?)];
    let cert = params.self_signed(&key).context("self-signing CA certificate")?;
    let key_pem = key.serialize_pem();
    Ok((cert.pem(), key_pem, Issuer::new(params, key)))
}

/// The CA in `cert_path` and `key_path`, as an issuer.
pub(super) fn load_ca(cert_path: &Path, key_path: &Path) -> anyhow::Result<Issuer<'static, KeyPair>> {
    let cert_pem = read_string(cert_path)?;
    let key_pem = read_string(key_path)?;
    let key = key_pair_from_pem(&key_pem).with_context(|| format!("loading CA key {}", key_path.display()))?;
    Issuer::from_ca_cert_pem(&cert_pem, key).with_context(|| format!("loading CA certificate {}", cert_path.display()))
}

fn serving_params(opts: &BootstrapOptions) -> anyhow::Result<CertificateParams> {
    let mut params = base_params(APISERVER_COMMON_NAME, &[], LEAF_VALIDITY);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let (dns, ips) = serving_alt_names(opts);
    let mut sans = Vec::with_capacity(dns.len() + ips.len());
    for name in dns {
        sans.push(SanType::DnsName(
            name.as_str()
                .try_into()
                .with_context(|| format!("invalid DNS SAN {name:?}"))?,
        ));
    }
    sans.extend(ips.into_iter().map(SanType::IpAddress));
    params.subject_alt_names = sans;
    Ok(params)
}

fn admin_params() -> anyhow::Result<CertificateParams> {
    let mut params = base_params(ADMIN_USER, &[ADMIN_GROUP], LEAF_VALIDITY);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn issue_leaf(
    params: CertificateParams,
    ca: &Issuer<'static, KeyPair>,
    cert_path: &Path,
    key_path: &Path,
) -> anyhow::Result<()> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating key")?;
    let cert = params
        .signed_by(&key, ca)
        .with_context(|| format!("signing {}", cert_path.display()))?;
    write_file(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// Load a private key for signing. rcgen with `ring` only reads PKCS#8, so PKCS#1 (`RSA PRIVATE
/// KEY`, kubeadm's default) and SEC1 (`EC PRIVATE KEY`) keys are wrapped into PKCS#8 first.
pub(crate) fn key_pair_from_pem(pem: &str) -> anyhow::Result<KeyPair> {
    let mut reader = pem.as_bytes();
    let key = rustls_pemfile::private_key(&mut reader)
        .context("reading PEM")?
        .ok_or_else(|| anyhow!("no private key found in PEM"))?;
    let pkcs8 = match key {
        rustls::pki_types::PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        rustls::pki_types::PrivateKeyDer::Pkcs1(k) => pkcs1_to_pkcs8(k.secret_pkcs1_der()),
        rustls::pki_types::PrivateKeyDer::Sec1(k) => sec1_to_pkcs8(k.secret_sec1_der())?,
        _ => bail!("unsupported private key format"),
    };
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8);
    KeyPair::try_from(&der).map_err(|e| anyhow!("unsupported private key: {e}"))
}

// OID 1.2.840.113549.1.1.1 rsaEncryption, with NULL parameters.
const RSA_ALGORITHM_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
// OID 1.2.840.10045.2.1 id-ecPublicKey.
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

fn pkcs8_wrap(algorithm_id: &[u8], private_key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00]; // version 0
    body.extend_from_slice(algorithm_id);
    body.extend(der_tlv(0x04, private_key));
    der_tlv(0x30, &body)
}

fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    pkcs8_wrap(RSA_ALGORITHM_ID, pkcs1)
}

/// Reads one DER TLV; returns (tag, content, rest).
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn sec1_to_pkcs8(sec1: &[u8]) -> anyhow::Result<Vec<u8>> {
    // ECPrivateKey ::= SEQUENCE { version INTEGER 1, privateKey OCTET STRING,
    //   parameters [0] ECParameters OPTIONAL, publicKey [1] BIT STRING OPTIONAL }
    let bad = || anyhow!("malformed SEC1 EC private key");
    let (tag, mut body, _) = der_read(sec1).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let mut curve_oid: Option<&[u8]> = None;
    let mut index = 0;
    while !body.is_empty() {
        let (tag, content, rest) = der_read(body).ok_or_else(bad)?;
        if tag == 0xa0 {
            let (oid_tag, _, _) = der_read(content).ok_or_else(bad)?;
            if oid_tag != 0x06 {
                return Err(bad());
            }
            curve_oid = Some(content);
        }
        body = rest;
        index += 1;
        if index > 8 {
            return Err(bad());
        }
    }
    let curve_oid = curve_oid.ok_or_else(|| anyhow!("SEC1 EC private key without curve parameters"))?;
    let mut algorithm = EC_PUBLIC_KEY_OID.to_vec();
    algorithm.extend_from_slice(curve_oid);
    Ok(pkcs8_wrap(&der_tlv(0x30, &algorithm), sec1))
}

pub(super) fn read_string(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
