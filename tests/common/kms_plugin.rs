//! A KMS v2 plugin for tests: the `v2.KeyManagementService` gRPC API (Status, Encrypt,
//! Decrypt) on a unix socket, served by tonic. It "wraps" data keys with AES-256-GCM under a
//! key derived from the current key ID, returns an annotation, counts calls, and can rotate its
//! key ID, report unhealthy or stop, so tests drive DEK rotation, caching and health checks
//! against capstan and upstream kube-apiserver alike.

#![allow(dead_code)]

use capstan::storage::encryption::kms_api::*;
use capstan::storage::encryption::transform::AesGcm;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What the plugin knows and counts.
#[derive(Default)]
pub struct PluginState {
    key_id: Mutex<String>,
    healthy: AtomicBool,
    pub status_calls: AtomicUsize,
    pub encrypt_calls: AtomicUsize,
    pub decrypt_calls: AtomicUsize,
}

impl PluginState {
    fn wrap_key(key_id: &str) -> AesGcm {
        let d = ring::digest::digest(&ring::digest::SHA256, format!("test-kms-kek:{key_id}").as_bytes());
        AesGcm::new(d.as_ref()).expect("32-byte key")
    }
}

/// A running plugin; stops when dropped.
pub struct KmsPlugin {
    pub state: Arc<PluginState>,
    path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

const ANNOTATION: &str = "plugin.kms.capstan.test";

impl KmsPlugin {
    /// Serve on `path` (a socket file) with `key_id`.
    pub async fn start(path: &Path, key_id: &str) -> KmsPlugin {
        let state = Arc::new(PluginState::default());
        *state.key_id.lock().unwrap() = key_id.to_string();
        state.healthy.store(true, Ordering::SeqCst);
        Self::serve(path, state).await
    }

    async fn serve(path: &Path, state: Arc<PluginState>) -> KmsPlugin {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).expect("bind the plugin socket");
        let incoming = futures_util::stream::unfold(listener, |l| async move {
            let next = l.accept().await.map(|(s, _)| s);
            Some((next, l))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let svc = Service(state.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        KmsPlugin {
            state,
            path: path.to_path_buf(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The endpoint for the EncryptionConfiguration.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The key ID new DEKs are encrypted with (Status reports it).
    pub fn set_key_id(&self, id: &str) {
        *self.state.key_id.lock().unwrap() = id.to_string();
    }

    pub fn set_healthy(&self, ok: bool) {
        self.state.healthy.store(ok, Ordering::SeqCst);
    }

    pub fn decrypts(&self) -> usize {
        self.state.decrypt_calls.load(Ordering::SeqCst)
    }

    pub fn encrypts(&self) -> usize {
        self.state.encrypt_calls.load(Ordering::SeqCst)
    }

    /// Stop serving (the socket goes away).
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// Serve again on the same socket with the same keys.
    pub async fn restart(&mut self) {
        self.stop().await;
        *self = Self::serve(&self.path.clone(), self.state.clone()).await;
    }
}

impl Drop for KmsPlugin {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn unavailable(msg: &str) -> tonic::Status {
    tonic::Status::unavailable(msg.to_string())
}

fn status(st: &PluginState) -> Result<StatusResponse, tonic::Status> {
    st.status_calls.fetch_add(1, Ordering::SeqCst);
    Ok(StatusResponse {
        version: "v2".into(),
        healthz: if st.healthy.load(Ordering::SeqCst) {
            "ok"
        } else {
            "plugin is unhealthy"
        }
        .into(),
        key_id: st.key_id.lock().unwrap().clone(),
    })
}

fn encrypt(st: &PluginState, req: EncryptRequest) -> Result<EncryptResponse, tonic::Status> {
    st.encrypt_calls.fetch_add(1, Ordering::SeqCst);
    if !st.healthy.load(Ordering::SeqCst) {
        return Err(unavailable("plugin is unhealthy"));
    }
    let key_id = st.key_id.lock().unwrap().clone();
    let ciphertext = PluginState::wrap_key(&key_id)
        .seal(&req.plaintext, key_id.as_bytes())
        .map_err(tonic::Status::internal)?;
    Ok(EncryptResponse {
        ciphertext,
        key_id,
        annotations: BTreeMap::from([(ANNOTATION.to_string(), b"v1".to_vec())]),
    })
}

fn decrypt(st: &PluginState, req: DecryptRequest) -> Result<DecryptResponse, tonic::Status> {
    st.decrypt_calls.fetch_add(1, Ordering::SeqCst);
    if req.annotations.get(ANNOTATION).map(Vec::as_slice) != Some(&b"v1"[..]) {
        return Err(tonic::Status::invalid_argument("annotations were not passed back"));
    }
    let plaintext = PluginState::wrap_key(&req.key_id)
        .open(&req.ciphertext, req.key_id.as_bytes())
        .map_err(|e| tonic::Status::invalid_argument(format!("cannot unwrap under key {:?}: {e}", req.key_id)))?;
    Ok(DecryptResponse { plaintext })
}

/// The hand-written equivalent of tonic-build's server stub for `v2.KeyManagementService`.
#[derive(Clone)]
struct Service(Arc<PluginState>);

impl tonic::server::NamedService for Service {
    const NAME: &'static str = SERVICE_NAME;
}

struct Unary<F>(Arc<PluginState>, F);

impl<Req, Resp, F> tonic::server::UnaryService<Req> for Unary<F>
where
    Req: Send + 'static,
    Resp: Send + 'static,
    F: Fn(&PluginState, Req) -> Result<Resp, tonic::Status> + Clone + Send + 'static,
{
    type Response = Resp;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Resp>, tonic::Status>> + Send>>;
    fn call(&mut self, req: tonic::Request<Req>) -> Self::Future {
        let r = (self.1)(&self.0, req.into_inner()).map(tonic::Response::new);
        Box::pin(async move { r })
    }
}

type BoxFut = Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send>>;

impl tower_service::Service<http::Request<tonic::body::Body>> for Service {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFut;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> BoxFut {
        let st = self.0.clone();
        match req.uri().path() {
            STATUS_PATH => Box::pin(async move {
                let mut g =
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::<StatusResponse, StatusRequest>::default());
                Ok(g.unary(Unary(st, |s: &PluginState, _: StatusRequest| status(s)), req)
                    .await)
            }),
            ENCRYPT_PATH => Box::pin(async move {
                let mut g =
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::<EncryptResponse, EncryptRequest>::default());
                Ok(g.unary(Unary(st, encrypt), req).await)
            }),
            DECRYPT_PATH => Box::pin(async move {
                let mut g =
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::<DecryptResponse, DecryptRequest>::default());
                Ok(g.unary(Unary(st, decrypt), req).await)
            }),
            _ => Box::pin(async move { Ok(tonic::Status::unimplemented("no such method").into_http()) }),
        }
    }
}
