//! Backends named by a kubeconfig file (`--audit-webhook-config-file`, ImagePolicyWebhook's
//! `kubeConfigFile`): the current context's cluster (`server`, `certificate-authority[-data]`,
//! `insecure-skip-tls-verify`) and user (`client-certificate[-data]`/`client-key[-data]`,
//! `token`), as client-go's loader reads them. Relative file paths are relative to the
//! kubeconfig's directory.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A kubeconfig's server and how to talk to it.
#[derive(Clone)]
pub struct Backend {
    /// `server` as written (`https://host:port/path`).
    pub server: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// The server URL's path ("/" when none).
    pub path: String,
    pub token: Option<String>,
    /// The TLS client for https servers.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.server)
    }
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// PEM from `<key>-data` (base64) or the file `<key>` (relative to `dir`).
fn pem(v: &Value, key: &str, dir: &Path) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    if let Some(d) = field(v, &format!("{key}-data")) {
        return base64::engine::general_purpose::STANDARD
            .decode(d)
            .map(Some)
            .map_err(|e| format!("{key}-data: {e}"));
    }
    match field(v, key) {
        Some(p) => {
            let full: PathBuf = dir.join(p);
            std::fs::read(&full)
                .map(Some)
                .map_err(|e| format!("{key} {}: {}", full.display(), crate::util::go_io_error(&e)))
        }
        None => Ok(None),
    }
}

/// Read the kubeconfig at `path`: its current context, else its first cluster and user.
pub fn load(path: &Path) -> Result<Backend, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("stat {}: {}", path.display(), crate::util::go_io_error(&e)))?;
    let kc: Value = yaml_serde::from_str(&text).map_err(|e| format!("invalid kubeconfig {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let named = |list: &str, name: Option<&str>, inner: &str| -> Value {
        let items = kc.get(list).and_then(Value::as_array).cloned().unwrap_or_default();
        let pick = match name {
            Some(n) => items.iter().find(|i| field(i, "name") == Some(n)).cloned(),
            None => items.first().cloned(),
        };
        pick.and_then(|i| i.get(inner).cloned()).unwrap_or(Value::Null)
    };
    let ctx = named("contexts", field(&kc, "current-context"), "context");
    let cluster = named("clusters", field(&ctx, "cluster"), "cluster");
    let user = named("users", field(&ctx, "user"), "user");
    let server = field(&cluster, "server").ok_or_else(|| {
        "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
            .to_string()
    })?;
    let (https, rest) = if let Some(r) = server.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = server.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{}: server {server:?} is not an http(s) URL", path.display()));
    };
    let (authority, path_part) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once(']').unwrap_or((v6, ""));
            let p = p.trim_start_matches(':');
            (h.to_string(), if p.is_empty() { None } else { Some(p) })
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        },
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port in {server:?}"))?,
        None if https => 443,
        None => 80,
    };
    let tls = if https {
        let trust_pem = pem(&cluster, "certificate-authority", dir)?;
        let skip = cluster.get("insecure-skip-tls-verify").and_then(Value::as_bool) == Some(true);
        let (cert, key) = (pem(&user, "client-certificate", dir)?, pem(&user, "client-key", dir)?);
        let identity = cert.as_deref().zip(key.as_deref());
        let trust = match (&trust_pem, skip) {
            (_, true) => super::tls::Trust::SkipVerify,
            (Some(p), false) => super::tls::Trust::Roots(p),
            (None, false) => {
                return Err(format!(
                    "{}: cluster {server:?} has no certificate-authority (capstan does not read the system trust store): set certificate-authority, certificate-authority-data or insecure-skip-tls-verify",
                    path.display()
                ))
            }
        };
        Some(Arc::new(super::tls::client_config(trust, identity)?))
    } else {
        None
    };
    Ok(Backend {
        server: server.to_string(),
        https,
        host,
        port,
        path: path_part.to_string(),
        token: field(&user, "token").map(str::to_string),
        tls,
    })
}

impl Backend {
    /// `host:port` to dial.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_context() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let kc = dir.path().join("kc.yaml");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://other:1'}\n- name: c\n  cluster:\n    server: https://127.0.0.1:8443/review\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user: {token: secret}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let b = load(&kc).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.addr().as_str(), b.path.as_str()), ("127.0.0.1:8443", "/review"));
        assert_eq!(b.token.as_deref(), Some("secret"));
        assert!(b.tls.is_some());
        let e = load(&dir.path().join("missing")).err().unwrap_or_default();
        assert!(e.ends_with("missing: no such file or directory"), "{e}");
        std::fs::write(&kc, "apiVersion: v1\nkind: Config\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(load(&kc).err().unwrap_or_default().starts_with("invalid configuration"));
    }
}
