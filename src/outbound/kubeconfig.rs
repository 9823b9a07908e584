//! Backends named by a kubeconfig file (audit, token authentication and authorization webhooks,
//! ImagePolicyWebhook's `kubeConfigFile`): the current context's cluster (`server`,
//! `certificate-authority[-data]`, `insecure-skip-tls-verify`) and user
//! (`client-certificate[-data]`/`client-key[-data]`, `token`), as client-go's loader reads them
//! (relative file paths are relative to the kubeconfig's directory), and one async JSON POST.

use bytes::Bytes;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The server a kubeconfig names and how to reach it.
#[derive(Clone)]
pub struct Server {
    /// The `server` URL as written (for messages).
    pub url: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// The URL path (`/` when none).
    pub path: String,
    /// The user's bearer token.
    pub token: Option<String>,
    /// TLS trusting the cluster's CA, with the user's client certificate (https only).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({})", self.url)
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
pub fn load(path: &Path) -> Result<Server, String> {
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
    Ok(Server {
        url: server.to_string(),
        https,
        host,
        port,
        path: path_part.to_string(),
        token: field(&user, "token").map(str::to_string),
        tls,
    })
}

impl Server {
    /// `host:port` to dial.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Server {
    /// POST `body` (JSON) with `?timeout=`; the status and body, or an error reading like
    /// client-go's (`Post "<url>": <cause>`). Bounded by `timeout`.
    pub async fn post_json(&self, body: Vec<u8>, timeout: Duration) -> Result<(u16, Bytes), String> {
        let url = format!("{}?timeout={}s", self.url, timeout.as_secs());
        match tokio::time::timeout(timeout, self.post_inner(body, timeout)).await {
            Ok(r) => r.map_err(|e| format!("Post {url:?}: {e}")),
            Err(_) => Err(format!(
                "Post {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
        }
    }

    async fn post_inner(&self, body: Vec<u8>, timeout: Duration) -> Result<(u16, Bytes), String> {
        let mut headers = Vec::new();
        if let Some(t) = &self.token {
            headers.push((http::header::AUTHORIZATION, format!("Bearer {t}")));
        }
        let path = format!("{}?timeout={}s", self.path, timeout.as_secs());
        let tls = self.tls.clone().map(|cfg| (self.host.as_str(), cfg));
        let (code, _, bytes) = super::webhook::post(&self.addr(), tls, &path, &headers, Bytes::from(body)).await?;
        Ok((code, bytes))
    }
}

/// Upstream's `DefaultAuthWebhookRetryBackoff`: 500ms, factor 1.5, 5 attempts.
const RETRY_STEPS: u32 = 5;
const RETRY_INITIAL: Duration = Duration::from_millis(500);

impl Server {
    /// POST a review object and decode the answer, retrying as upstream's
    /// `webhook.DefaultShouldRetry` does (500, 504 and 429 answers; not refused connections).
    /// Errors read like client-go's, naming `what` (e.g. `subjectaccessreviews.authorization.k8s.io`).
    pub async fn review(&self, body: &Value, timeout: Duration, what: &str) -> Result<Value, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let mut wait = RETRY_INITIAL;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (code, resp) = self.post_json(bytes.clone(), timeout).await?;
            if (200..300).contains(&code) {
                return serde_json::from_slice(&resp).map_err(|e| format!("invalid response from webhook: {e}"));
            }
            let err = status_error(code, &resp, what);
            if attempt >= RETRY_STEPS || !matches!(code, 429 | 500 | 504) {
                return Err(err);
            }
            tokio::time::sleep(wait).await;
            wait = wait.mul_f64(1.5);
        }
    }
}

/// client-go's error for a non-2xx answer: the Status message when the body is a Status, else
/// `an error on the server ("<body>") has prevented the request from succeeding (post <what>)`.
fn status_error(code: u16, body: &[u8], what: &str) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if v.get("kind").and_then(Value::as_str) == Some("Status") {
            if let Some(m) = v.get("message").and_then(Value::as_str) {
                return m.to_string();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match code {
        401 => format!("Unauthorized (post {what})"),
        403 => format!("{what} is forbidden"),
        404 => format!("the server could not find the requested resource (post {what})"),
        _ if text.is_empty() => {
            format!("an error on the server (\"unknown\") has prevented the request from succeeding (post {what})")
        }
        _ => format!("an error on the server ({text:?}) has prevented the request from succeeding (post {what})"),
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

    #[test]
    fn contexts_pick_cluster_and_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kc = dir.path().join("kc");
        std::fs::write(
            &kc,
            "clusters:\n- name: a\n  cluster: {server: 'http://10.0.0.1:81/x'}\n- name: b\n  cluster: {server: 'http://[::1]/authn'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: c\n  context: {cluster: b, user: u}\ncurrent-context: c\n",
        )
        .expect("write");
        let s = load(&kc).expect("kubeconfig");
        assert_eq!(
            (s.https, s.host.as_str(), s.port, s.path.as_str(), s.token.as_deref()),
            (false, "::1", 80, "/authn", Some("t"))
        );
        std::fs::write(&kc, "clusters:\n- name: a\n  cluster: {server: 'ftp://x'}\n").expect("write");
        assert!(load(&kc).err().is_some_and(|e| e.contains("is not an http(s) URL")));
        std::fs::write(&kc, "users: []\n").expect("write");
        assert!(load(&kc).err().is_some_and(|e| e.starts_with("invalid configuration")));
    }
}
