//! kubeadm's front-proxy pair for servers that bootstrap their own PKI: `pki/front-proxy-ca`
//! (CN `front-proxy-ca`) and `pki/front-proxy-client` (CN `front-proxy-client`, clientAuth),
//! used as the aggregator's client identity when `--proxy-client-*` are not given; and the
//! `kube-system/extension-apiserver-authentication` ConfigMap extension API servers read to
//! trust us (upstream's ClusterAuthenticationTrustController).

use crate::config::ServeOptions;
use crate::registry::Registry;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct FrontProxy {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn write(path: &Path, data: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.write_all(data.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Create the pair under `dir/pki` unless all four files exist.
pub fn ensure(dir: &Path) -> anyhow::Result<FrontProxy> {
    let pki = dir.join("pki");
    let fp = FrontProxy {
        ca: pki.join("front-proxy-ca.crt"),
        client_cert: pki.join("front-proxy-client.crt"),
        client_key: pki.join("front-proxy-client.key"),
    };
    let ca_key_path = pki.join("front-proxy-ca.key");
    if fp.ca.exists() && ca_key_path.exists() && fp.client_cert.exists() && fp.client_key.exists() {
        return Ok(fp);
    }
    std::fs::create_dir_all(&pki).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", pki.display()))?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(vec![])?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, "front-proxy-ca");
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let mut cp = CertificateParams::new(vec![])?;
    cp.distinguished_name = DistinguishedName::new();
    cp.distinguished_name.push(DnType::CommonName, "front-proxy-client");
    cp.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = cp.signed_by(&key, &issuer)?;
    write(&ca_key_path, &ca_key_pem, 0o600)?;
    write(&fp.ca, &ca_cert.pem(), 0o644)?;
    write(&fp.client_key, &key.serialize_pem(), 0o600)?;
    write(&fp.client_cert, &cert.pem(), 0o644)?;
    tracing::info!(path = %fp.ca.display(), "generated front-proxy CA and client certificate");
    Ok(fp)
}

/// A list flag as upstream publishes it: a JSON array string.
fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn or_default(v: Vec<String>, d: &str) -> Vec<String> {
    if v.is_empty() {
        vec![d.to_string()]
    } else {
        v
    }
}

/// The ConfigMap's data: the client CA, and the request-header settings (the configured ones,
/// or the generated front-proxy CA with kubeadm's header names).
pub fn authentication_data(opts: &ServeOptions, generated_ca: Option<&Path>) -> serde_json::Map<String, Value> {
    let mut data = serde_json::Map::new();
    let client_ca = opts.client_ca_file.clone().or_else(|| {
        opts.tls_cert_file
            .is_none()
            .then(|| crate::pki::PkiPaths::for_dir(&opts.data_dir()).ca_cert)
    });
    if let Some(pem) = client_ca.and_then(|p| std::fs::read_to_string(p).ok()) {
        data.insert("client-ca-file".into(), json!(pem));
    }
    let (ca, defaults) = match opts.get_path("authentication.requestheader.client-ca-file") {
        Some(p) => (Some(p), false),
        None => (generated_ca.map(Path::to_path_buf), true),
    };
    let Some(pem) = ca.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return data;
    };
    let list = |key: &str, d: &str| {
        let v = opts.get_list(key);
        json_list(&if defaults { or_default(v, d) } else { v })
    };
    data.insert("requestheader-client-ca-file".into(), json!(pem));
    data.insert(
        "requestheader-allowed-names".into(),
        json!(list("authentication.requestheader.allowed-names", "front-proxy-client")),
    );
    data.insert(
        "requestheader-username-headers".into(),
        json!(list("authentication.requestheader.username-headers", "X-Remote-User")),
    );
    data.insert(
        "requestheader-group-headers".into(),
        json!(list("authentication.requestheader.group-headers", "X-Remote-Group")),
    );
    data.insert(
        "requestheader-extra-headers-prefix".into(),
        json!(list(
            "authentication.requestheader.extra-headers-prefix",
            "X-Remote-Extra-"
        )),
    );
    data
}

/// Create or update `kube-system/extension-apiserver-authentication`.
pub async fn publish(reg: &Registry, data: serde_json::Map<String, Value>) {
    let Some(def) = crate::api::builtin_row("", "configmaps") else {
        return;
    };
    let name = "extension-apiserver-authentication";
    let want = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "kube-system"}, "data": data});
    let r = match reg.get(def, Some("kube-system"), name, None).await {
        Ok(cur) if cur.value().get("data") == want.get("data") => Ok(()),
        Ok(cur) => {
            let mut next = cur.value();
            next["data"] = want["data"].clone();
            reg.update(
                def,
                Some("kube-system"),
                name,
                next,
                crate::registry::store::Part::Main,
                false,
                None,
            )
            .await
            .map(|_| ())
        }
        Err(_) => reg.create(def, Some("kube-system"), want, false).await.map(|_| ()),
    };
    if let Err(e) = r {
        tracing::warn!(error = %e.message, "cannot publish kube-system/extension-apiserver-authentication");
    }
}
