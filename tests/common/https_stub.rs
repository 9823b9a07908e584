//! A stand-in HTTPS server for webhooks and OIDC issuers (and signing keys for test tokens): each request's method, path and JSON
//! body go to a handler that returns (status, JSON body; a JSON string is sent as raw text, e.g.
//! a JWT); every request is recorded. Runs on its own runtime so synchronous (kubectl) tests can
//! use it.

use super::pki;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
}

pub type Handler = Arc<dyn Fn(&Seen) -> (u16, Value) + Send + Sync>;

pub struct HttpsStub {
    pub port: u16,
    /// The CA that signed the stub's certificate (for 127.0.0.1), PEM.
    pub ca_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Arc<Mutex<Handler>>,
    _rt: tokio::runtime::Runtime,
}

impl HttpsStub {
    pub fn start(handler: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static) -> HttpsStub {
        super::install_crypto_provider();
        let ca = pki::Ca::new("stub-ca");
        let acceptor = pki::tls_acceptor(&ca.server_cert(&["127.0.0.1", "localhost"]), None, &[]);
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().map(|a| a.port()).expect("addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Mutex<Handler>> = Arc::new(Mutex::new(Arc::new(handler)));
        let (s, h) = (seen.clone(), handler.clone());
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, s, h) = (acceptor.clone(), s.clone(), h.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (s, h) = (s.clone(), h.clone());
                        async move {
                            use http_body_util::BodyExt;
                            let method = req.method().to_string();
                            let path = req.uri().path().to_string();
                            let authorization = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                            let seen = Seen {
                                method,
                                path,
                                body,
                                authorization,
                            };
                            let handler = h.lock().expect("handler").clone();
                            let (code, out) = handler(&seen);
                            s.lock().expect("seen").push(seen);
                            let (ctype, text) = match out {
                                Value::String(raw) => ("application/jwt", raw),
                                json => ("application/json", json.to_string()),
                            };
                            let resp = http::Response::builder()
                                .status(code)
                                .header("content-type", ctype)
                                .body(http_body_util::Full::new(bytes::Bytes::from(text)))
                                .expect("response");
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        HttpsStub {
            port,
            ca_pem: ca.pem,
            seen,
            handler,
            _rt: rt,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Swap the handler (e.g. to make the webhook fail).
    pub fn set_handler(&self, handler: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static) {
        *self.handler.lock().expect("handler") = Arc::new(handler);
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    /// Requests so far to `path`.
    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// Write the CA PEM into `dir` and return its path.
    pub fn write_ca(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, &self.ca_pem).expect("write ca");
        p
    }

    /// A kubeconfig naming this stub at `path` (webhook config files), trusting its CA.
    pub fn kubeconfig(&self, path: &str) -> String {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        serde_json::json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "hook", "cluster": {"server": self.url(path), "certificate-authority-data": ca}}],
            "users": [{"name": "apiserver", "user": {"token": "apiserver-secret"}}],
            "contexts": [{"name": "hook", "context": {"cluster": "hook", "user": "apiserver"}}],
            "current-context": "hook",
        })
        .to_string()
    }
}

/// A fresh ES256 signing key for a test token issuer, its PEM written to `dir/name`.
pub fn signing_key(dir: &Path, name: &str) -> capstan::auth::authn::jwt::SigningKey {
    let (private, _) = capstan::auth::authn::jwt::generate_pem().expect("key");
    let p = dir.join(name);
    std::fs::write(&p, private).expect("write key");
    capstan::auth::authn::jwt::SigningKey::load(&p).expect("load key")
}

/// Seconds since the epoch, for token claims.
pub fn unix_now() -> i64 {
    capstan::util::unix_now() as i64
}
