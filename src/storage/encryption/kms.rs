//! KMS v2 envelope encryption, as upstream's `envelope/kmsv2` and `encryptionconfig` do it:
//!
//! - The server generates a 32-byte seed, has the plugin encrypt it (`Encrypt`) and keeps the
//!   plugin's ciphertext, key ID and annotations as the write state.
//! - Each write derives a fresh AES-256-GCM key with HKDF-SHA256 (expand only) from the seed and
//!   a random 32-byte info, and stores `k8s:enc:kms:v2:<name>:` + an `EncryptedObject` whose data
//!   is `info || nonce || ciphertext+tag` (the etcd key is the authenticated data).
//! - Reads ask the plugin to `Decrypt` a seed (or, for data written before KDF, a DEK) once and
//!   cache it.
//! - A probe calls `Status` (every minute, every 10 s while failing, and for the health check
//!   with a 20 s / 3 s memo): a new key ID makes a new seed; the write state expires 3 minutes
//!   after the last healthy status, so writes stop when the plugin is gone for long.

use super::kms_api::*;
use super::transform::{random, AesGcm, TransformError, Transformer};
use async_trait::async_trait;
use prost::Message as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime};

const SEED_SIZE: usize = 32;
const INFO_SIZE: usize = 32;
const KEY_ID_MAX: usize = 1024;
const DEK_SOURCE_MAX: usize = 1024;
const ANNOTATIONS_MAX: usize = 32 * 1024;
const WRITE_STATE_TTL: Duration = Duration::from_secs(180);
const HEALTHY_PROBE: Duration = Duration::from_secs(60);
const FAILING_PROBE: Duration = Duration::from_secs(10);
const POSITIVE_TTL: Duration = Duration::from_secs(20);
const NEGATIVE_TTL: Duration = Duration::from_secs(3);
const DEK_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Decrypted seeds kept; one per key rotation per server in practice.
const DEK_CACHE_MAX: usize = 4096;

/// A gRPC client for a plugin on a unix socket.
#[derive(Clone)]
pub struct KmsClient {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
    timeout: Duration,
}

/// `unix:///path` → the path; `unix:///@name` → the abstract socket `@name` (upstream's
/// `util.ParseEndpoint`).
pub fn socket_path(endpoint: &str) -> Result<String, String> {
    let path = endpoint
        .strip_prefix("unix://")
        .ok_or_else(|| format!("unsupported scheme for remote KMS provider: {endpoint:?}"))?;
    Ok(match path.strip_prefix("/@") {
        Some(abs) => format!("@{abs}"),
        None => path.to_string(),
    })
}

#[derive(Clone)]
struct UnixConnector(Arc<str>);

impl tower_service::Service<http::Uri> for UnixConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move {
            let stream = match path.strip_prefix('@') {
                Some(name) => {
                    use std::os::linux::net::SocketAddrExt as _;
                    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
                    let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
                    s.set_nonblocking(true)?;
                    tokio::net::UnixStream::from_std(s)?
                }
                None => tokio::net::UnixStream::connect(&*path).await?,
            };
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

fn rpc_error(s: tonic::Status) -> String {
    format!("rpc error: code = {:?} desc = {}", s.code(), s.message())
}

impl KmsClient {
    /// A client that connects on first use (and again after the plugin restarts).
    pub fn new(endpoint: &str, timeout: Duration) -> Result<KmsClient, String> {
        let path = socket_path(endpoint)?;
        let channel = tonic::transport::Endpoint::from_static("http://localhost")
            .connect_with_connector_lazy(UnixConnector(path.into()));
        Ok(KmsClient {
            grpc: tonic::client::Grpc::new(channel),
            timeout,
        })
    }

    async fn unary<Req, Resp>(&self, path: &'static str, req: Req) -> Result<Resp, String>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc.clone();
        let call = async move {
            grpc.ready()
                .await
                .map_err(|e| format!("rpc error: code = Unavailable desc = {e}"))?;
            grpc.unary(
                tonic::Request::new(req),
                http::uri::PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::<Req, Resp>::default(),
            )
            .await
            .map(tonic::Response::into_inner)
            .map_err(rpc_error)
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err("rpc error: code = DeadlineExceeded desc = context deadline exceeded".into()),
        }
    }

    pub async fn status(&self) -> Result<StatusResponse, String> {
        self.unary(STATUS_PATH, StatusRequest {}).await
    }

    pub async fn encrypt(&self, uid: &str, plaintext: &[u8]) -> Result<EncryptResponse, String> {
        self.unary(
            ENCRYPT_PATH,
            EncryptRequest {
                plaintext: plaintext.to_vec(),
                uid: uid.to_string(),
            },
        )
        .await
    }

    pub async fn decrypt(&self, req: DecryptRequest) -> Result<Vec<u8>, String> {
        self.unary::<_, DecryptResponse>(DECRYPT_PATH, req)
            .await
            .map(|r| r.plaintext)
    }
}

/// HKDF-SHA256 expand-only (the seed is the PRK), 32 bytes: the per-write AES-256 key.
fn derive_key(seed: &[u8], info: &[u8]) -> Result<[u8; 32], TransformError> {
    struct Len32;
    impl ring::hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let prk = ring::hkdf::Prk::new_less_safe(ring::hkdf::HKDF_SHA256, seed);
    let mut key = [0u8; 32];
    prk.expand(&[info], Len32)
        .and_then(|okm| okm.fill(&mut key))
        .map_err(|_| "failed to KDF expand seed with info".to_string())?;
    Ok(key)
}

/// A decrypted DEK source, ready to open data.
enum ReadKey {
    Seed(Vec<u8>),
    Dek(AesGcm),
}

impl ReadKey {
    fn open(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        match self {
            ReadKey::Dek(gcm) => gcm.open(data, aad),
            ReadKey::Seed(seed) => {
                if data.len() < INFO_SIZE {
                    return Err("the stored data was shorter than the required size".into());
                }
                let (info, rest) = data.split_at(INFO_SIZE);
                let key = derive_key(seed, info).map_err(|e| format!("failed to derive read key from KDF: {e}"))?;
                AesGcm::new(&key)?.open(rest, aad)
            }
        }
    }
}

/// What writes now: the seed and the envelope fields that go with it.
struct WriteState {
    seed: Arc<ReadKey>,
    key_id: String,
    encrypted_seed: Vec<u8>,
    annotations: std::collections::BTreeMap<String, Vec<u8>>,
    expires: SystemTime,
}

struct Probe {
    last: Option<(Instant, Result<(), String>)>,
    ttl: Duration,
    version: String,
}

/// One `kms` provider of the config: its plugin, write state, DEK cache and probe.
pub struct KmsProvider {
    pub name: String,
    client: KmsClient,
    state: RwLock<Option<Arc<WriteState>>>,
    probe: tokio::sync::Mutex<Probe>,
    cache: Mutex<DekCache>,
}

/// Decrypted DEKs by their encrypted form, with when each was last used.
type DekCache = HashMap<Vec<u8>, (Arc<ReadKey>, Instant)>;

/// `sha256:<hex>` of a key ID, as upstream logs and reports it.
fn key_id_hash(id: &str) -> String {
    if id.is_empty() {
        return String::new();
    }
    format!("sha256:{}", crate::util::hash::sha256_hex(id.as_bytes()))
}

fn validate_key_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("keyID is empty".into());
    }
    if id.len() > KEY_ID_MAX {
        return Err(format!(
            "keyID is {} bytes, which exceeds the max size of {KEY_ID_MAX}",
            id.len()
        ));
    }
    Ok(())
}

fn is_fqdn(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Upstream's `ValidateEncryptedObject`.
fn validate_object(o: &EncryptedObject) -> Result<(), String> {
    if DekSourceType::try_from(o.encrypted_dek_source_type).is_err() {
        return Err(format!(
            "unknown encryptedDEKSourceType: {}",
            o.encrypted_dek_source_type
        ));
    }
    if o.encrypted_data.is_empty() {
        return Err("encrypted data is empty".into());
    }
    if o.encrypted_dek_source.is_empty() {
        return Err("failed to validate encrypted DEK source: encrypted DEK source is empty".into());
    }
    if o.encrypted_dek_source.len() > DEK_SOURCE_MAX {
        return Err(format!(
            "failed to validate encrypted DEK source: encrypted DEK source is {} bytes, which exceeds the max size of {DEK_SOURCE_MAX}",
            o.encrypted_dek_source.len()
        ));
    }
    validate_key_id(&o.key_id).map_err(|e| format!("failed to validate key id: {e}"))?;
    let mut total = 0;
    for (k, v) in &o.annotations {
        if !is_fqdn(k) {
            return Err(format!(
                "failed to validate annotations: annotations: Invalid value: {k:?}: should be a domain with at least two segments separated by dots"
            ));
        }
        total += k.len() + v.len();
    }
    if total > ANNOTATIONS_MAX {
        return Err(format!(
            "failed to validate annotations: total size of annotations is {total}, which exceeds the max size of {ANNOTATIONS_MAX}"
        ));
    }
    Ok(())
}

/// Upstream's cache key: the DEK source type, the DEK source, the key ID and the annotations,
/// length-prefixed.
fn cache_key(o: &EncryptedObject) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + o.encrypted_dek_source.len() + o.key_id.len());
    b.extend_from_slice(&(o.encrypted_dek_source_type as u32).to_be_bytes());
    for part in [&o.encrypted_dek_source[..], o.key_id.as_bytes()] {
        b.extend_from_slice(&(part.len() as u16).to_be_bytes());
        b.extend_from_slice(part);
    }
    if !o.annotations.is_empty() {
        b.extend_from_slice(&(o.annotations.len() as u32).to_be_bytes());
        for (k, v) in &o.annotations {
            for part in [k.as_bytes(), &v[..]] {
                b.extend_from_slice(&(part.len() as u16).to_be_bytes());
                b.extend_from_slice(part);
            }
        }
    }
    b
}

fn fmt_time(t: SystemTime) -> String {
    crate::util::rfc3339(t)
}

impl KmsProvider {
    /// Connect (lazily) and prime: one status probe now; when it fails, the background loop
    /// keeps trying every 10 s and the health check reports the failure.
    pub async fn start(name: &str, endpoint: &str, timeout: Duration) -> Result<Arc<KmsProvider>, String> {
        let client = KmsClient::new(endpoint, timeout)
            .map_err(|e| format!("could not configure KMSv2-Plugin's probe {name:?}, error: {e}"))?;
        let p = Arc::new(KmsProvider {
            name: name.to_string(),
            client,
            state: RwLock::new(None),
            probe: tokio::sync::Mutex::new(Probe {
                last: None,
                ttl: NEGATIVE_TTL,
                version: String::new(),
            }),
            cache: Mutex::new(HashMap::new()),
        });
        let first = p.check().await;
        if let Err(e) = &first {
            tracing::warn!(provider = %name, error = %e, "kms plugin failed health check probe");
        }
        tokio::spawn(probe_loop(Arc::downgrade(&p), first.is_ok()));
        Ok(p)
    }

    /// The health check: the memoized result of a `Status` call, and DEK rotation on a new key ID.
    pub async fn check(&self) -> Result<(), String> {
        let mut probe = self.probe.lock().await;
        if let Some((at, r)) = &probe.last {
            if at.elapsed() < probe.ttl {
                return r.clone();
            }
        }
        // As upstream, a failed Status call is reported wrapped once and memoized bare.
        let (r, memo) = match self.client.status().await {
            Err(e) => (
                Err(format!(
                    "failed to perform status section of the healthz check for KMS Provider {}, error: {e}",
                    self.name
                )),
                Err(e),
            ),
            Ok(st) => {
                let r = self.healthy_and_rotate(&mut probe, st).await;
                (r.clone(), r)
            }
        };
        probe.ttl = if r.is_ok() { POSITIVE_TTL } else { NEGATIVE_TTL };
        probe.last = Some((Instant::now(), memo));
        r
    }

    async fn healthy_and_rotate(&self, probe: &mut Probe, st: StatusResponse) -> Result<(), String> {
        let mut errs = Vec::new();
        if st.healthz != "ok" {
            errs.push(format!("got unexpected healthz status: {}", st.healthz));
        }
        if st.version != "v2" && st.version != "v2beta1" {
            errs.push(format!("expected KMSv2 API version v2, got {}", st.version));
        } else {
            if probe.version.is_empty() {
                probe.version = st.version.clone();
            }
            if probe.version != st.version {
                errs.push(format!(
                    "KMSv2 API version should not change after the initial status response version {}, got {}",
                    probe.version, st.version
                ));
            }
        }
        match validate_key_id(&st.key_id) {
            Err(e) => errs.push(format!(
                "got invalid KMSv2 KeyID hash {:?}: {e}",
                key_id_hash(&st.key_id)
            )),
            Ok(()) => {
                if let Err(e) = self.rotate_on_key_id_change(&st.key_id).await {
                    errs.push(e);
                }
            }
        }
        if errs.is_empty() {
            return Ok(());
        }
        let joined = if errs.len() == 1 {
            errs.remove(0)
        } else {
            format!("[{}]", errs.join(", "))
        };
        Err(format!("kmsv2 Provider {} is not healthy, error: {joined}", self.name))
    }

    /// Same key ID: extend the write state; else a new seed encrypted by the plugin.
    async fn rotate_on_key_id_change(&self, key_id: &str) -> Result<(), String> {
        let expires = SystemTime::now() + WRITE_STATE_TTL;
        let current = self.state.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(cur) = current.as_ref().filter(|c| c.key_id == key_id) {
            let renewed = WriteState {
                seed: cur.seed.clone(),
                key_id: cur.key_id.clone(),
                encrypted_seed: cur.encrypted_seed.clone(),
                annotations: cur.annotations.clone(),
                expires,
            };
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(renewed));
            return Ok(());
        }
        let uid = uuid::Uuid::new_v4().to_string();
        let mut seed = vec![0u8; SEED_SIZE];
        random(&mut seed)?;
        let generated = self.client.encrypt(&uid, &seed).await;
        let err = |e: String| {
            format!(
                "failed to rotate DEK uid={uid:?}, useSeed=true, errGen={e}, statusKeyIDHash={:?}, stateKeyIDHash={:?}",
                key_id_hash(key_id),
                key_id_hash(current.as_ref().map(|c| c.key_id.as_str()).unwrap_or(""))
            )
        };
        let resp = generated.map_err(|e| err(format!("failed to encrypt DEK, error: {e}")))?;
        let obj = EncryptedObject {
            encrypted_data: vec![0],
            key_id: resp.key_id.clone(),
            encrypted_dek_source: resp.ciphertext.clone(),
            annotations: resp.annotations.clone(),
            encrypted_dek_source_type: DekSourceType::HkdfSha256XnonceAesGcmSeed as i32,
        };
        validate_object(&obj).map_err(err)?;
        if resp.key_id != key_id {
            return Err(err(format!(
                "encrypt returned keyID hash {:?}, status said {:?}",
                key_id_hash(&resp.key_id),
                key_id_hash(key_id)
            )));
        }
        let seed = Arc::new(ReadKey::Seed(seed));
        // Data written with this seed reads without asking the plugin.
        self.cache_put(cache_key(&obj), seed.clone());
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(WriteState {
            seed,
            key_id: resp.key_id,
            encrypted_seed: resp.ciphertext,
            annotations: resp.annotations,
            expires,
        }));
        tracing::info!(provider = %self.name, key_id_hash = %key_id_hash(key_id), "kms v2: new data encryption seed");
        Ok(())
    }

    fn current(&self) -> Result<Arc<WriteState>, String> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| "got unexpected nil transformer".to_string())
    }

    fn cache_get(&self, key: &[u8]) -> Option<Arc<ReadKey>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < DEK_CACHE_TTL)
            .map(|(k, _)| k.clone())
    }

    fn cache_put(&self, key: Vec<u8>, value: Arc<ReadKey>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= DEK_CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < DEK_CACHE_TTL);
            if cache.len() >= DEK_CACHE_MAX {
                if let Some(k) = cache.keys().next().cloned() {
                    cache.remove(&k);
                }
            }
        }
        cache.insert(key, (value, Instant::now()));
    }
}

/// Status every minute while healthy, every 10 s while failing; ends with the provider.
async fn probe_loop(p: Weak<KmsProvider>, mut healthy: bool) {
    loop {
        tokio::time::sleep(if healthy { HEALTHY_PROBE } else { FAILING_PROBE }).await;
        let Some(p) = p.upgrade() else { return };
        let r = p.check().await;
        if let Err(e) = &r {
            tracing::warn!(provider = %p.name, error = %e, "kms plugin failed health check probe");
        }
        healthy = r.is_ok();
    }
}

#[async_trait]
impl Transformer for KmsProvider {
    async fn from_storage(&self, data: &[u8], aad: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let obj = EncryptedObject::decode(data).map_err(|e| format!("proto: {e}"))?;
        validate_object(&obj)?;
        let state = self.current()?;
        let ck = cache_key(&obj);
        let key = match self.cache_get(&ck) {
            Some(k) => k,
            None => {
                let plain = self
                    .client
                    .decrypt(DecryptRequest {
                        ciphertext: obj.encrypted_dek_source.clone(),
                        uid: uuid::Uuid::new_v4().to_string(),
                        key_id: obj.key_id.clone(),
                        annotations: obj.annotations.clone(),
                    })
                    .await
                    .map_err(|e| format!("failed to decrypt DEK, error: {e}"))?;
                let k = if obj.encrypted_dek_source_type == DekSourceType::HkdfSha256XnonceAesGcmSeed as i32 {
                    if plain.len() < SEED_SIZE {
                        return Err(format!("invalid seed length {} used for key generation", plain.len()));
                    }
                    ReadKey::Seed(plain)
                } else {
                    ReadKey::Dek(AesGcm::new(&plain)?)
                };
                let k = Arc::new(k);
                self.cache_put(ck, k.clone());
                k
            }
        };
        let out = key.open(&obj.encrypted_data, aad)?;
        let stale = obj.key_id != state.key_id
            || obj.encrypted_dek_source_type != DekSourceType::HkdfSha256XnonceAesGcmSeed as i32;
        Ok((out, stale))
    }

    async fn to_storage(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        let state = self.current()?;
        let now = SystemTime::now();
        if now > state.expires {
            return Err(format!(
                "encryptedDEKSource with keyID hash {:?} expired at {} (current time is {})",
                key_id_hash(&state.key_id),
                fmt_time(state.expires),
                fmt_time(now)
            ));
        }
        let ReadKey::Seed(seed) = &*state.seed else {
            return Err("the write state holds no seed".into());
        };
        let mut info = [0u8; INFO_SIZE];
        random(&mut info).map_err(|e| format!("failed to generate info for KDF: {e}"))?;
        let key = derive_key(seed, &info).map_err(|e| format!("failed to derive write key from KDF: {e}"))?;
        let sealed = AesGcm::new(&key)?.seal(data, aad)?;
        let mut encrypted_data = Vec::with_capacity(INFO_SIZE + sealed.len());
        encrypted_data.extend_from_slice(&info);
        encrypted_data.extend_from_slice(&sealed);
        let obj = EncryptedObject {
            encrypted_data,
            key_id: state.key_id.clone(),
            encrypted_dek_source: state.encrypted_seed.clone(),
            annotations: state.annotations.clone(),
            encrypted_dek_source_type: DekSourceType::HkdfSha256XnonceAesGcmSeed as i32,
        };
        validate_object(&obj)?;
        Ok(obj.encode_to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hex_bytes;

    /// RFC 5869 test case 1's expand step (PRK and OKM from the RFC, first 32 bytes).
    #[test]
    fn hkdf_expand_matches_rfc5869() {
        let prk = hex_bytes("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        let info = hex_bytes("f0f1f2f3f4f5f6f7f8f9");
        let okm = hex_bytes("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
        assert_eq!(derive_key(&prk, &info).unwrap().to_vec(), okm);
    }

    #[test]
    fn endpoints_and_validation() {
        assert_eq!(socket_path("unix:///var/run/kms.sock").unwrap(), "/var/run/kms.sock");
        assert_eq!(socket_path("unix:///@kms").unwrap(), "@kms");
        assert!(socket_path("tcp://x").is_err());
        let mut o = EncryptedObject {
            encrypted_data: vec![1],
            key_id: "k1".into(),
            encrypted_dek_source: vec![2],
            annotations: Default::default(),
            encrypted_dek_source_type: 1,
        };
        assert!(validate_object(&o).is_ok());
        o.annotations.insert("Bad_Key".into(), vec![]);
        assert!(validate_object(&o).unwrap_err().contains("annotations"));
        o.annotations.clear();
        o.key_id.clear();
        assert_eq!(
            validate_object(&o).unwrap_err(),
            "failed to validate key id: keyID is empty"
        );
        o.key_id = "k".into();
        o.encrypted_dek_source_type = 7;
        assert_eq!(validate_object(&o).unwrap_err(), "unknown encryptedDEKSourceType: 7");
        assert!(is_fqdn("kms.example.com") && !is_fqdn("local"));
    }

    #[test]
    fn seed_envelope_round_trip() {
        let seed = vec![5u8; 32];
        let info = [9u8; 32];
        let key = derive_key(&seed, &info).unwrap();
        let sealed = AesGcm::new(&key)
            .unwrap()
            .seal(b"payload", b"/registry/secrets/a/b")
            .unwrap();
        let mut data = info.to_vec();
        data.extend_from_slice(&sealed);
        let rk = ReadKey::Seed(seed);
        assert_eq!(rk.open(&data, b"/registry/secrets/a/b").unwrap(), b"payload");
        assert!(rk.open(&data, b"/registry/secrets/a/c").is_err());
    }
}
