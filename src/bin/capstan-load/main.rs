//! `capstan-load`: a small load generator for a kube-apiserver compatible server.
//!
//! It reads an admin kubeconfig (server URL, CA data, client certificate and key), opens one
//! HTTP/1.1-over-TLS connection per worker and measures ConfigMap create/get/update/delete
//! latency, LIST latency at two list sizes (full and `limit=500` pages) and watch-event latency
//! (from an update's response to the matching MODIFIED event, matched by resourceVersion).
//! Results are printed as Markdown tables on stdout; progress and errors go to stderr.
//! `--scenario soak` runs the mixed, fault-tolerant workload of `soak.rs` instead.
//!
//! The HTTP/1.1 client is deliberately tiny (Content-Length and chunked bodies, keep-alive) so
//! that the tool needs no client features of hyper.

use capstan::util::json::JsonExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Parser, ValueEnum};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

mod nodes;
mod soak;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Create,
    Get,
    List,
    Watch,
    All,
    /// A mixed workload with correctness checks that survives faults (see `soak.rs`).
    Soak,
    /// `--objects` pods over `--nodes` nodes, then per-node LISTs by `spec.nodeName` (`nodes.rs`).
    NodePods,
}

/// The kind the load is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Resource {
    Configmaps,
    /// Secrets (the value base64 in `data`): what encryption at rest transforms by default.
    Secrets,
}

#[derive(Debug, Parser)]
#[command(name = "capstan-load", about = "Load generator for Capstan (or any kube-apiserver)")]
struct Args {
    /// Kubeconfig with the server URL, CA data and client certificate/key (embedded data or files).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Namespace for the test objects; created if missing.
    #[arg(long, default_value = "capstan-load")]
    namespace: String,
    /// Concurrent workers, one connection each.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Large list size (objects created in total by `all`, `create` and `list`).
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Small list size; also the number of GETs, updates and watch events measured.
    #[arg(long, default_value_t = 1_000)]
    small_objects: usize,
    /// Which measurements to run.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Sample this process's VmRSS (/proc/PID/status) before, during (peak) and after the load.
    #[arg(long)]
    pid: Option<u32>,
    /// Size of the data value in each object, in bytes.
    #[arg(long, default_value_t = 256)]
    value_bytes: usize,
    /// Labels on each object (`app=capstan-load`, then `label-<k>=v<i mod 7>`).
    #[arg(long, default_value_t = 1)]
    labels: usize,
    /// Data keys in each object: `value` and `generation`, then `key-<k>` each holding a
    /// `--value-bytes` value.
    #[arg(long, default_value_t = 2)]
    data_keys: usize,
    /// The objects: ConfigMaps or Secrets.
    #[arg(long, value_enum, default_value_t = Resource::Configmaps)]
    resource: Resource,
    /// How many times each full LIST (and each paged traversal) is repeated.
    #[arg(long, default_value_t = 10)]
    list_repeats: usize,
    /// Page size for the paged LIST measurement.
    #[arg(long, default_value_t = 500)]
    page_size: usize,
    /// Concurrent watchers during the watch measurement (each sees every event).
    #[arg(long, default_value_t = 1)]
    watchers: usize,
    /// Updates per second during the watch measurement, over all workers (0 = as fast as the
    /// workers go). With many watchers, an unpaced burst measures queueing, not event latency.
    #[arg(long, default_value_t = 0.0)]
    watch_rate: f64,
    /// Watches per connection during the watch measurement: 1 = one HTTP/1.1 connection per
    /// watch (as separate processes, e.g. kubelets); more = HTTP/2 connections each carrying
    /// this many watches (as one client-go process's informers).
    #[arg(long, default_value_t = 1)]
    watches_per_connection: usize,
    /// Per-request timeout in seconds (a request that takes longer counts as an error).
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// Only wait until GET /readyz answers 200 (retrying while the kubeconfig or the port is not
    /// there yet), then print `ready_epoch_ns=<ns since the epoch>` and exit.
    #[arg(long)]
    wait_ready: bool,
    /// Give up waiting for readiness after this many seconds.
    #[arg(long, default_value_t = 60)]
    ready_timeout: u64,
    /// Soak: how long the workload runs, in seconds.
    #[arg(long, default_value_t = 300)]
    duration: u64,
    /// Soak: kubelet-like clients (node status and lease every `--node-period-ms`); node-pods:
    /// the nodes the pods are spread over.
    #[arg(long, default_value_t = 50)]
    nodes: usize,
    #[arg(long, default_value_t = 1000)]
    node_period_ms: u64,
    /// Soak: ConfigMaps in the namespace the misbehaving tenant LISTs.
    #[arg(long, default_value_t = 10_000)]
    flood_objects: usize,
    /// Soak: the tenant's concurrent LIST loops.
    #[arg(long, default_value_t = 16)]
    flood_workers: usize,
    /// Soak: writers (creates, and conflicting updates of `--write-keys` shared ConfigMaps).
    #[arg(long, default_value_t = 4)]
    writers: usize,
    #[arg(long, default_value_t = 10)]
    write_keys: usize,
    /// Soak: the server's pid file, re-read for every RSS sample (follows restarts).
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Soak: write the report as JSON here too.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Soak: the fault injector's log, a `START END` line (Unix seconds) per fault from the
    /// kill to the storage answering again; read at the end to split latency inside and
    /// outside those windows.
    #[arg(long)]
    fault_log: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// Kubeconfig and TLS
// ---------------------------------------------------------------------------------------------

struct Target {
    addr: String,
    host_header: String,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    /// The same, offering only HTTP/2 (for `--watches-per-connection` > 1).
    tls_h2: Arc<rustls::ClientConfig>,
}

fn named<'a>(list: &'a Value, name: &str, field: &str) -> anyhow::Result<&'a Value> {
    list.as_array()
        .and_then(|a| a.iter().find(|e| e.get("name").and_then(Value::as_str) == Some(name)))
        .and_then(|e| e.get(field))
        .ok_or_else(|| anyhow!("kubeconfig has no {field} named {name:?}"))
}

/// Bytes of `<key>-data` (base64) or of the file named by `<key>` (relative to the kubeconfig).
fn data_or_file(obj: &Value, key: &str, base: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(d) = obj.get(format!("{key}-data")).and_then(Value::as_str) {
        let bytes = STANDARD
            .decode(d.trim())
            .with_context(|| format!("{key}-data is not base64"))?;
        return Ok(Some(bytes));
    }
    if let Some(f) = obj.get(key).and_then(Value::as_str) {
        let p = base.join(f);
        return Ok(Some(
            std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?,
        ));
    }
    Ok(None)
}

fn load_target(path: &Path) -> anyhow::Result<Target> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg: Value = yaml_serde::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let ctx_name = cfg
        .get("current-context")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("kubeconfig has no current-context"))?;
    let ctx = named(&cfg["contexts"], ctx_name, "context")?;
    let cluster_name = ctx.get("cluster").and_then(Value::as_str).unwrap_or_default();
    let user_name = ctx.get("user").and_then(Value::as_str).unwrap_or_default();
    let cluster = named(&cfg["clusters"], cluster_name, "cluster")?;
    let user = named(&cfg["users"], user_name, "user")?;
    let server = cluster
        .get("server")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("cluster {cluster_name:?} has no server"))?;
    let hostport = server
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("server {server:?} is not an https:// URL"))?
        .trim_end_matches('/');
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h.to_string(), p.parse::<u16>().context("bad port in server URL")?),
        _ => (hostport.to_string(), 443),
    };
    let bare_host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let server_name = ServerName::try_from(bare_host.clone()).map_err(|e| anyhow!("bad server host: {e}"))?;

    let mut roots = rustls::RootCertStore::empty();
    let ca = data_or_file(cluster, "certificate-authority", base)?
        .ok_or_else(|| anyhow!("cluster {cluster_name:?} has no certificate-authority(-data)"))?;
    for c in rustls_pemfile::certs(&mut ca.as_slice()) {
        roots.add(c.context("bad CA PEM")?).context("bad CA certificate")?;
    }
    let cert_pem = data_or_file(user, "client-certificate", base)?
        .ok_or_else(|| anyhow!("user {user_name:?} has no client-certificate(-data)"))?;
    let key_pem = data_or_file(user, "client-key", base)?
        .ok_or_else(|| anyhow!("user {user_name:?} has no client-key(-data)"))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .context("bad client certificate PEM")?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .context("bad client key PEM")?
        .ok_or_else(|| anyhow!("no private key in client-key"))?;
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .context("client certificate/key rejected")?;
    let mut tls_h2 = tls.clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    tls_h2.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Target {
        addr: format!("{bare_host}:{port}"),
        host_header: hostport.to_string(),
        server_name,
        tls: Arc::new(tls),
        tls_h2: Arc::new(tls_h2),
    })
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

struct Conn {
    io: BufReader<TlsStream<TcpStream>>,
    host: String,
}

struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
    retry_after: bool,
}

struct Response {
    status: u16,
    body: Vec<u8>,
    /// The response carried `Retry-After`.
    retry_after: bool,
}

impl Response {
    fn new(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            body,
            retry_after: false,
        }
    }
}

impl Target {
    async fn connect(&self) -> std::io::Result<Conn> {
        let tls = self.tls_stream(&self.tls).await?;
        Ok(Conn {
            io: BufReader::with_capacity(64 * 1024, tls),
            host: self.host_header.clone(),
        })
    }

    async fn tls_stream(&self, config: &Arc<rustls::ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
        let addr: Vec<SocketAddr> = tokio::net::lookup_host(&self.addr).await?.collect();
        let first = addr
            .first()
            .ok_or_else(|| std::io::Error::other(format!("{} does not resolve", self.addr)))?;
        let tcp = TcpStream::connect(first).await?;
        tcp.set_nodelay(true)?;
        TlsConnector::from(config.clone())
            .connect(self.server_name.clone(), tcp)
            .await
    }

    /// An HTTP/2 connection for many requests at once.
    async fn connect_h2(
        &self,
    ) -> anyhow::Result<hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>> {
        let tls = self.tls_stream(&self.tls_h2).await?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            bail!("the server did not agree to HTTP/2");
        }
        let (send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await?;
        tokio::spawn(conn);
        Ok(send)
    }
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

impl Conn {
    /// Send one request; `extra` is more header lines, each ending in CRLF.
    async fn send(&mut self, method: &str, path: &str, body: Option<&[u8]>, extra: &str) -> std::io::Result<()> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: capstan-load\r\nAccept: application/json\r\n{extra}",
            self.host
        )
        .into_bytes();
        if let Some(b) = body {
            // JSON unless the caller's header lines name another type (patches).
            if !extra.contains("Content-Type:") {
                req.extend_from_slice(b"Content-Type: application/json\r\n");
            }
            req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", b.len()).as_bytes());
            req.extend_from_slice(b);
        } else {
            req.extend_from_slice(b"\r\n");
        }
        let w = self.io.get_mut();
        w.write_all(&req).await?;
        w.flush().await
    }

    async fn line(&mut self) -> std::io::Result<String> {
        let mut buf = Vec::new();
        let n = self.io.read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by server",
            ));
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        String::from_utf8(buf).map_err(|_| bad("non-UTF-8 header line"))
    }

    async fn read_head(&mut self) -> std::io::Result<Head> {
        let status_line = self.line().await?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut head = Head {
            status,
            content_length: None,
            chunked: false,
            close: status_line.starts_with("HTTP/1.0"),
            retry_after: false,
        };
        loop {
            let l = self.line().await?;
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => head.content_length = v.parse().ok(),
                "transfer-encoding" => head.chunked = v.contains("chunked"),
                "connection" => head.close = v.contains("close"),
                "retry-after" => head.retry_after = true,
                _ => {}
            }
        }
        Ok(head)
    }

    /// Next chunk of a chunked body; `None` after the last (zero-sized) chunk.
    async fn read_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let size_line = self.line().await?;
        let hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !self.line().await?.is_empty() {}
            return Ok(None);
        }
        let mut data = vec![0u8; size];
        self.io.read_exact(&mut data).await?;
        let mut crlf = [0u8; 2];
        self.io.read_exact(&mut crlf).await?;
        Ok(Some(data))
    }

    async fn read_body(&mut self, head: &Head) -> std::io::Result<Vec<u8>> {
        if head.status == 204 || head.status == 304 || (100..200).contains(&head.status) {
            return Ok(Vec::new());
        }
        if head.chunked {
            let mut body = Vec::new();
            while let Some(c) = self.read_chunk().await? {
                body.extend_from_slice(&c);
            }
            return Ok(body);
        }
        if let Some(n) = head.content_length {
            let mut body = vec![0u8; n];
            self.io.read_exact(&mut body).await?;
            return Ok(body);
        }
        let mut body = Vec::new();
        self.io.read_to_end(&mut body).await?;
        Ok(body)
    }

    /// One request/response exchange. Returns whether the connection may be reused.
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra: &str,
    ) -> std::io::Result<(Response, bool)> {
        self.send(method, path, body, extra).await?;
        let head = self.read_head().await?;
        let body = self.read_body(&head).await?;
        let reusable = !head.close && (head.chunked || head.content_length.is_some());
        Ok((
            Response {
                status: head.status,
                body,
                retry_after: head.retry_after,
            },
            reusable,
        ))
    }
}

/// A connection that reconnects lazily after errors or `Connection: close`.
struct Client {
    target: Arc<Target>,
    conn: Option<Conn>,
    timeout: Duration,
    /// Header lines sent with every request (impersonation).
    extra: String,
}

impl Client {
    fn new(target: Arc<Target>, timeout: Duration) -> Self {
        Client {
            target,
            conn: None,
            timeout,
            extra: String::new(),
        }
    }

    /// A client that acts as `user` in `groups` (`Impersonate-User`/`Impersonate-Group`).
    fn impersonating(target: Arc<Target>, timeout: Duration, user: &str, groups: &[&str]) -> Self {
        let mut extra = format!("Impersonate-User: {user}\r\n");
        for g in groups {
            extra.push_str(&format!("Impersonate-Group: {g}\r\n"));
        }
        Client {
            extra,
            ..Client::new(target, timeout)
        }
    }

    /// A request with a JSON body of the given content type (merge/strategic patches, objects).
    async fn call_json(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
        content_type: &str,
    ) -> anyhow::Result<Response> {
        let saved = self.extra.clone();
        self.extra.push_str(&format!("Content-Type: {content_type}\r\n"));
        let out = self.call(method, path, Some(&serde_json::to_vec(body)?)).await;
        self.extra = saved;
        out
    }

    async fn call(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<Response> {
        let fut = async {
            if self.conn.is_none() {
                self.conn = Some(self.target.connect().await?);
            }
            let Some(conn) = self.conn.as_mut() else {
                return Err(std::io::Error::other("no connection"));
            };
            conn.request(method, path, body, &self.extra).await
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok((resp, reusable))) => {
                if !reusable {
                    self.conn = None;
                }
                Ok(resp)
            }
            Ok(Err(e)) => {
                self.conn = None;
                Err(anyhow!("{method} {path}: {e}"))
            }
            Err(_) => {
                self.conn = None;
                Err(anyhow!("{method} {path}: no response within {:?}", self.timeout))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    name: String,
    latencies: Vec<Duration>,
    errors: u64,
    wall: Duration,
    concurrency: usize,
    error_samples: Vec<String>,
    note: String,
}

impl Stats {
    fn new(name: &str, concurrency: usize) -> Self {
        Stats {
            name: name.to_string(),
            concurrency,
            ..Default::default()
        }
    }

    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.error_samples.len() < 5 {
            eprintln!("capstan-load: {}: {msg}", self.name);
            self.error_samples.push(msg);
        }
    }

    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.wall += other.wall;
        for e in other.error_samples {
            if self.error_samples.len() < 5 {
                self.error_samples.push(e);
            }
        }
    }

    fn quantile(sorted: &[Duration], q: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        // Nearest-rank: the smallest value with at least q of the samples at or below it.
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn row(&self) -> String {
        let mut s = self.latencies.clone();
        s.sort();
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        let n = s.len() as u64 + self.errors;
        let tput = if self.wall.is_zero() {
            0.0
        } else {
            s.len() as f64 / self.wall.as_secs_f64()
        };
        format!(
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |",
            self.name,
            n,
            self.errors,
            self.concurrency,
            tput,
            ms(Self::quantile(&s, 0.5)),
            ms(Self::quantile(&s, 0.9)),
            ms(Self::quantile(&s, 0.99)),
            ms(s.last().copied().unwrap_or_default()),
            self.note
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Load phases
// ---------------------------------------------------------------------------------------------

struct Ctx {
    target: Arc<Target>,
    ns: String,
    concurrency: usize,
    timeout: Duration,
    value: String,
    /// `--labels` and `--data-keys`.
    labels: usize,
    data_keys: usize,
    resource: Resource,
    /// Last known resourceVersion per object index.
    rvs: Vec<Mutex<String>>,
    /// `--watches-per-connection`.
    watches_per_connection: usize,
    /// Start interval between updates during the watch measurement (`--watch-rate`).
    watch_pace: Option<Duration>,
}

/// resourceVersion written by an update -> (request sent, response read).
type UpdateTimes = Arc<Mutex<HashMap<String, (Instant, Instant)>>>;
type BuildFn = dyn Fn(usize) -> (&'static str, String, Option<Vec<u8>>) + Send + Sync;
/// Validates a response: object index, response, and the instant the request was started.
type CheckFn = dyn Fn(usize, &Response, Instant) -> Result<(), String> + Send + Sync;

fn name_of(i: usize) -> String {
    format!("load-{i:05}")
}

fn rv_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/metadata/resourceVersion")?.as_str().map(str::to_string)
}

fn status_message(resp: &Response) -> String {
    let msg = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).into_owned());
    format!("HTTP {}: {msg}", resp.status)
}

impl Ctx {
    /// How the report names one object ("create configmap", "get secret").
    fn noun(&self) -> &'static str {
        match self.resource {
            Resource::Configmaps => "configmap",
            Resource::Secrets => "secret",
        }
    }

    fn cm_path(&self) -> String {
        let plural = match self.resource {
            Resource::Configmaps => "configmaps",
            Resource::Secrets => "secrets",
        };
        format!("/api/v1/namespaces/{}/{plural}", self.ns)
    }

    fn set_rv(&self, i: usize, rv: String) {
        if let Some(m) = self.rvs.get(i) {
            if let Ok(mut g) = m.lock() {
                *g = rv;
            }
        }
    }

    fn get_rv(&self, i: usize) -> String {
        self.rvs
            .get(i)
            .and_then(|m| m.lock().ok().map(|g| g.clone()))
            .unwrap_or_default()
    }

    fn cm_body(&self, i: usize, rv: Option<String>, gen: u64) -> Vec<u8> {
        let mut meta = json!({"name": name_of(i), "labels": {"app": "capstan-load"}});
        for k in 1..self.labels {
            meta["labels"][format!("label-{k}")] = Value::String(format!("v{}", (i + k) % 7));
        }
        if let Some(rv) = rv.filter(|r| !r.is_empty()) {
            meta["resourceVersion"] = Value::String(rv);
        }
        let obj = match self.resource {
            Resource::Configmaps => json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta,
                "data": {"value": self.value, "generation": gen.to_string()},
            }),
            Resource::Secrets => json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "data": {"value": STANDARD.encode(&self.value), "generation": STANDARD.encode(gen.to_string())},
            }),
        };
        let mut obj = obj;
        for k in 2..self.data_keys {
            obj["data"][format!("key-{k}")] = match self.resource {
                Resource::Configmaps => Value::String(self.value.clone()),
                Resource::Secrets => Value::String(STANDARD.encode(&self.value)),
            };
        }
        serde_json::to_vec(&obj).unwrap_or_default()
    }

    /// Run `range` requests over `concurrency` workers; `build` makes each request and `check`
    /// validates each 2xx-or-not response (a check error counts as an error, not a latency).
    async fn phase(
        self: &Arc<Self>,
        name: &str,
        range: std::ops::Range<usize>,
        concurrency: usize,
        build: Arc<BuildFn>,
        check: Arc<CheckFn>,
    ) -> Stats {
        self.phase_paced(name, range, concurrency, None, build, check).await
    }

    /// `phase`, where request `k` of the range starts no earlier than `k * pace` after the start.
    async fn phase_paced(
        self: &Arc<Self>,
        name: &str,
        range: std::ops::Range<usize>,
        concurrency: usize,
        pace: Option<Duration>,
        build: Arc<BuildFn>,
        check: Arc<CheckFn>,
    ) -> Stats {
        let first = range.start;
        let next = Arc::new(AtomicUsize::new(range.start));
        let end = range.end;
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (next, build, check, ctx) = (next.clone(), build.clone(), check.clone(), self.clone());
            let name = name.to_string();
            handles.push(tokio::spawn(async move {
                let mut stats = Stats::new(&name, 0);
                let mut client = Client::new(ctx.target.clone(), ctx.timeout);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        break;
                    }
                    if let Some(pace) = pace {
                        let due = started + pace.saturating_mul((i - first) as u32);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let (method, path, body) = build(i);
                    let t0 = Instant::now();
                    match client.call(method, &path, body.as_deref()).await {
                        Ok(resp) => {
                            let dt = t0.elapsed();
                            match check(i, &resp, t0) {
                                Ok(()) => stats.latencies.push(dt),
                                Err(e) => stats.error(e),
                            }
                        }
                        Err(e) => stats.error(e.to_string()),
                    }
                }
                stats
            }));
        }
        let mut total = Stats::new(name, concurrency.max(1));
        for h in handles {
            match h.await {
                Ok(s) => total.merge(s),
                Err(e) => total.error(format!("worker failed: {e}")),
            }
        }
        total.wall = started.elapsed();
        eprintln!(
            "capstan-load: {name}: {} ok, {} errors in {:.2?}",
            total.latencies.len(),
            total.errors,
            total.wall
        );
        total
    }

    async fn ensure_namespace(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut c = Client::new(self.target.clone(), self.timeout);
        let path = format!("/api/v1/namespaces/{}", self.ns);
        let resp = c.call("GET", &path, None).await?;
        if resp.status == 200 {
            return Ok(());
        }
        let body =
            serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}}))?;
        let resp = c.call("POST", "/api/v1/namespaces", Some(&body)).await?;
        if resp.status != 201 && resp.status != 409 {
            bail!("cannot create namespace {}: {}", self.ns, status_message(&resp));
        }
        Ok(())
    }

    async fn create(self: &Arc<Self>, name: &str, range: std::ops::Range<usize>) -> Stats {
        let (c1, c2) = (self.clone(), self.clone());
        self.phase(
            name,
            range,
            self.concurrency,
            Arc::new(move |i| ("POST", c1.cm_path(), Some(c1.cm_body(i, None, 0)))),
            Arc::new(move |i, r, _| {
                if r.status != 201 {
                    return Err(status_message(r));
                }
                c2.set_rv(i, rv_of(&r.body).ok_or("create response has no resourceVersion")?);
                Ok(())
            }),
        )
        .await
    }

    /// Make sure objects `0..n` exist and their resourceVersions are known (not measured).
    async fn ensure_objects(self: &Arc<Self>, n: usize) {
        let missing = Arc::new(Mutex::new(Vec::new()));
        let (c1, c2, m) = (self.clone(), self.clone(), missing.clone());
        let s = self
            .phase(
                "(setup: get)",
                0..n,
                self.concurrency,
                Arc::new(move |i| ("GET", format!("{}/{}", c1.cm_path(), name_of(i)), None)),
                Arc::new(move |i, r, _| {
                    match r.status {
                        200 => c2.set_rv(i, rv_of(&r.body).unwrap_or_default()),
                        404 => {
                            if let Ok(mut g) = m.lock() {
                                g.push(i);
                            }
                        }
                        _ => return Err(status_message(r)),
                    }
                    Ok(())
                }),
            )
            .await;
        let _ = s;
        let missing = missing.lock().map(|g| g.clone()).unwrap_or_default();
        if missing.is_empty() {
            return;
        }
        let idx = Arc::new(missing);
        let (c1, c2, i1, i2) = (self.clone(), self.clone(), idx.clone(), idx.clone());
        let _ = self
            .phase(
                "(setup: create)",
                0..idx.len(),
                self.concurrency,
                Arc::new(move |k| ("POST", c1.cm_path(), Some(c1.cm_body(i1[k], None, 0)))),
                Arc::new(move |k, r, _| {
                    if r.status != 201 {
                        return Err(status_message(r));
                    }
                    c2.set_rv(i2[k], rv_of(&r.body).unwrap_or_default());
                    Ok(())
                }),
            )
            .await;
    }

    async fn get(self: &Arc<Self>, n: usize) -> Stats {
        let c1 = self.clone();
        self.phase(
            &format!("get {}", self.noun()),
            0..n,
            self.concurrency,
            Arc::new(move |i| ("GET", format!("{}/{}", c1.cm_path(), name_of(i)), None)),
            Arc::new(|_, r, _| {
                if r.status == 200 {
                    Ok(())
                } else {
                    Err(status_message(r))
                }
            }),
        )
        .await
    }

    async fn update(self: &Arc<Self>, name: &str, n: usize, gen: u64) -> Stats {
        self.update_observed(name, n, gen, None).await
    }

    /// PUT objects `0..n`; when `seen` is given, record each new resourceVersion with the time
    /// its response was complete.
    async fn update_observed(self: &Arc<Self>, name: &str, n: usize, gen: u64, seen: Option<UpdateTimes>) -> Stats {
        let (c1, c2) = (self.clone(), self.clone());
        let pace = if seen.is_some() { self.watch_pace } else { None };
        self.phase_paced(
            name,
            0..n,
            self.concurrency,
            pace,
            Arc::new(move |i| {
                (
                    "PUT",
                    format!("{}/{}", c1.cm_path(), name_of(i)),
                    Some(c1.cm_body(i, Some(c1.get_rv(i)), gen)),
                )
            }),
            Arc::new(move |i, r, sent| {
                let at = Instant::now();
                if r.status != 200 {
                    return Err(status_message(r));
                }
                let rv = rv_of(&r.body).ok_or("update response has no resourceVersion")?;
                if let Some(seen) = &seen {
                    if let Ok(mut g) = seen.lock() {
                        g.insert(rv.clone(), (sent, at));
                    }
                }
                c2.set_rv(i, rv);
                Ok(())
            }),
        )
        .await
    }

    async fn delete(self: &Arc<Self>, n: usize) -> Stats {
        let c1 = self.clone();
        self.phase(
            "delete configmap",
            0..n,
            self.concurrency,
            Arc::new(move |i| ("DELETE", format!("{}/{}", c1.cm_path(), name_of(i)), None)),
            Arc::new(|_, r, _| {
                if r.status == 200 || r.status == 202 {
                    Ok(())
                } else {
                    Err(status_message(r))
                }
            }),
        )
        .await
    }

    /// Full LISTs without a limit, `repeats` times, one at a time and then `concurrency` at once.
    async fn list_full(self: &Arc<Self>, expect: usize, repeats: usize) -> Vec<Stats> {
        let mut out = Vec::new();
        for conc in [1, self.concurrency.min(4)] {
            let c1 = self.clone();
            let bytes = Arc::new(AtomicUsize::new(0));
            let b2 = bytes.clone();
            let name = format!("list {expect} (full)");
            let mut s = self
                .phase(
                    &name,
                    0..repeats * conc,
                    conc,
                    Arc::new(move |_| ("GET", c1.cm_path(), None)),
                    Arc::new(move |_, r, _| {
                        if r.status != 200 {
                            return Err(status_message(r));
                        }
                        b2.store(r.body.len(), Ordering::Relaxed);
                        let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("bad list JSON: {e}"))?;
                        let got = v.get("items").and_then(Value::as_array).map_or(0, Vec::len);
                        if got != expect {
                            return Err(format!("list returned {got} items, expected {expect}"));
                        }
                        Ok(())
                    }),
                )
                .await;
            s.note = format!("{:.2} MB per response", bytes.load(Ordering::Relaxed) as f64 / 1e6);
            out.push(s);
        }
        out
    }

    /// Paged LIST traversals (`limit`, `continue`): per-page latency and per-traversal time.
    async fn list_paged(self: &Arc<Self>, expect: usize, limit: usize, repeats: usize) -> Vec<Stats> {
        let mut pages = Stats::new(&format!("list {expect} (limit={limit}, per page)"), 1);
        let mut full = Stats::new(&format!("list {expect} (limit={limit}, whole traversal)"), 1);
        let mut c = Client::new(self.target.clone(), self.timeout);
        let started = Instant::now();
        for _ in 0..repeats {
            let t_all = Instant::now();
            let mut cont = String::new();
            let mut got = 0usize;
            let mut ok = true;
            loop {
                let mut path = format!("{}?limit={limit}", self.cm_path());
                if !cont.is_empty() {
                    path.push_str("&continue=");
                    path.push_str(&pct(&cont));
                }
                let t0 = Instant::now();
                match c.call("GET", &path, None).await {
                    Ok(r) if r.status == 200 => {
                        pages.latencies.push(t0.elapsed());
                        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                        got += v.get("items").and_then(Value::as_array).map_or(0, Vec::len);
                        cont = v.str_at("/metadata/continue").to_string();
                        if cont.is_empty() {
                            break;
                        }
                    }
                    Ok(r) => {
                        pages.error(status_message(&r));
                        ok = false;
                        break;
                    }
                    Err(e) => {
                        pages.error(e.to_string());
                        ok = false;
                        break;
                    }
                }
                if got > expect * 2 + limit {
                    pages.error("paged list does not terminate".into());
                    ok = false;
                    break;
                }
            }
            if ok && got != expect {
                full.error(format!("paged list returned {got} items, expected {expect}"));
            } else if ok {
                full.latencies.push(t_all.elapsed());
            } else {
                full.errors += 1;
            }
        }
        pages.wall = started.elapsed();
        full.wall = pages.wall;
        eprintln!(
            "capstan-load: paged list {expect}: {} pages, {} traversals",
            pages.latencies.len(),
            full.latencies.len()
        );
        vec![pages, full]
    }

    /// Start `watchers` watches, update objects `0..n`, and measure from each update's response to
    /// the MODIFIED event carrying the same resourceVersion.
    async fn watch(self: &Arc<Self>, n: usize, watchers: usize, gen: u64) -> anyhow::Result<Vec<Stats>> {
        // Current collection resourceVersion to start the watches from.
        let mut c = Client::new(self.target.clone(), self.timeout);
        let r = c.call("GET", &format!("{}?limit=1", self.cm_path()), None).await?;
        if r.status != 200 {
            bail!("list before watch: {}", status_message(&r));
        }
        let list_rv = rv_of(&r.body).unwrap_or_default();
        // Each watcher records into its own map (locked by its task, and once at the end); the
        // completion check reads one counter: 10,000 watchers must not serialise on one lock.
        let received: Vec<Arc<Mutex<HashMap<String, Instant>>>> =
            (0..watchers.max(1)).map(|_| Arc::default()).collect();
        let modified = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let path = format!(
            "{}?watch=true&resourceVersion={list_rv}&allowWatchBookmarks=true&timeoutSeconds=600",
            self.cm_path()
        );
        let mut tasks = Vec::new();
        let recorders = received.iter().map(|mine| WatchRecorder {
            pending: Vec::new(),
            mine: mine.clone(),
            modified: modified.clone(),
            errors: errors.clone(),
        });
        if self.watches_per_connection <= 1 {
            for mut rec in recorders {
                let mut conn = self.target.connect().await.context("watch connect")?;
                conn.send("GET", &path, None, "").await?;
                let head = tokio::time::timeout(self.timeout, conn.read_head())
                    .await
                    .map_err(|_| anyhow!("watch: no response headers within {:?}", self.timeout))??;
                if head.status != 200 {
                    let body = conn.read_body(&head).await.unwrap_or_default();
                    bail!("watch: {}", status_message(&Response::new(head.status, body)));
                }
                tasks.push(tokio::spawn(async move {
                    loop {
                        let chunk = if head.chunked {
                            match conn.read_chunk().await {
                                Ok(Some(c)) => c,
                                Ok(None) => break,
                                Err(e) => return rec.report(format!("watch stream: {e}")),
                            }
                        } else {
                            let mut buf = vec![0u8; 64 * 1024];
                            match conn.io.read(&mut buf).await {
                                Ok(0) => break,
                                Ok(k) => {
                                    buf.truncate(k);
                                    buf
                                }
                                Err(e) => return rec.report(format!("watch stream: {e}")),
                            }
                        };
                        rec.feed(&chunk, Instant::now());
                    }
                }));
            }
        } else {
            let recorders: Vec<WatchRecorder> = recorders.collect();
            for group in recorders.chunks(self.watches_per_connection) {
                let send = self.target.connect_h2().await.context("watch connect (HTTP/2)")?;
                for rec in group {
                    let mut send = send.clone();
                    send.ready().await.context("HTTP/2 connection")?;
                    let req = hyper::Request::get(&path)
                        .header("host", &self.target.host_header)
                        .header("user-agent", "capstan-load")
                        .header("accept", "application/json")
                        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
                    let resp = tokio::time::timeout(self.timeout, send.send_request(req))
                        .await
                        .map_err(|_| anyhow!("watch: no response headers within {:?}", self.timeout))??;
                    if resp.status() != 200 {
                        let status = resp.status().as_u16();
                        let body = http_body_util::BodyExt::collect(resp.into_body())
                            .await
                            .map(|b| b.to_bytes().to_vec())
                            .unwrap_or_default();
                        bail!("watch: {}", status_message(&Response::new(status, body)));
                    }
                    let mut rec = rec.clone();
                    let mut body = resp.into_body();
                    tasks.push(tokio::spawn(async move {
                        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
                            match frame {
                                Ok(f) => {
                                    if let Some(data) = f.data_ref() {
                                        rec.feed(data, Instant::now());
                                    }
                                }
                                Err(e) => return rec.report(format!("watch stream: {e}")),
                            }
                        }
                    }));
                }
            }
        }
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let upd = self
            .update_observed("update (during watch)", n, gen, Some(seen.clone()))
            .await;
        // Wait for the events to arrive (at most 10 s after the last update).
        let expected: Vec<String> = seen.lock().map(|g| g.keys().cloned().collect()).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(10);
        let all = expected.len() * received.len();
        while modified.load(std::sync::atomic::Ordering::Relaxed) < all && Instant::now() <= deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in &tasks {
            t.abort();
        }
        let w = watchers.max(1);
        let mut from_resp = Stats::new(
            &format!("watch event latency from update response ({w} watcher(s))"),
            self.concurrency,
        );
        let mut from_sent = Stats::new(
            &format!("watch event latency from update request sent ({w} watcher(s))"),
            self.concurrency,
        );
        from_resp.wall = upd.wall;
        from_sent.wall = upd.wall;
        let seen = seen.lock().map(|g| g.clone()).unwrap_or_default();
        let received: Vec<HashMap<String, Instant>> = received
            .iter()
            .map(|m| m.lock().map(|g| g.clone()).unwrap_or_default())
            .collect();
        let mut early = 0usize;
        for m in &received {
            for (rv, (t_sent, t_resp)) in &seen {
                match m.get(rv) {
                    Some(t_ev) => {
                        if t_ev < t_resp {
                            early += 1;
                        }
                        from_resp.latencies.push(t_ev.saturating_duration_since(*t_resp));
                        from_sent.latencies.push(t_ev.saturating_duration_since(*t_sent));
                    }
                    None => {
                        let msg = format!("no MODIFIED event with resourceVersion {rv} within 10 s");
                        from_resp.error(msg.clone());
                        from_sent.errors += 1;
                    }
                }
            }
        }
        for e in errors.lock().map(|g| g.clone()).unwrap_or_default() {
            from_resp.error(e);
        }
        from_resp.note = format!("{early} event(s) arrived before the update response was read (counted as 0)");
        from_sent.note = "includes the update's own latency".into();
        Ok(vec![upd, from_resp, from_sent])
    }
}

/// What one watcher of the watch scenario saw: the arrival time of each MODIFIED event by its
/// resourceVersion (its own map, so 10,000 watchers do not share one lock), counted in `modified`.
#[derive(Clone)]
struct WatchRecorder {
    /// The start of a line not yet complete.
    pending: Vec<u8>,
    mine: Arc<Mutex<HashMap<String, Instant>>>,
    modified: Arc<std::sync::atomic::AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl WatchRecorder {
    /// Record the complete lines of `chunk` (read at `at`).
    fn feed(&mut self, chunk: &[u8], at: Instant) {
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(len) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let line = &self.pending[start..start + len];
            start += len + 1;
            match watch_line(line) {
                WatchLine::Modified(rv) => {
                    if let Ok(mut m) = self.mine.lock() {
                        m.insert(rv, at);
                    }
                    self.modified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                WatchLine::Other => {}
                WatchLine::Error(e) => self.report(e),
            }
        }
        self.pending.drain(..start);
    }

    fn report(&self, e: String) {
        if let Ok(mut g) = self.errors.lock() {
            g.push(e);
        }
    }
}

/// One line of a JSON watch stream, as the watch scenario needs it.
#[derive(Debug, PartialEq)]
enum WatchLine {
    /// A MODIFIED event and its object's resourceVersion.
    Modified(String),
    /// Another event (ADDED, BOOKMARK, …) or a blank line.
    Other,
    /// An ERROR event or a line that is not a watch event.
    Error(String),
}

/// Classify a watch line by scanning, not parsing: with 10,000 watchers the load tool reads
/// 45,000 events/s on the cores the server uses, and a full JSON parse of each was most of
/// its work. Both servers write `{"type":"…","object":{…,"metadata":{…,"resourceVersion":"…"`;
/// a line in any other shape is parsed.
fn watch_line(line: &[u8]) -> WatchLine {
    if line.iter().all(u8::is_ascii_whitespace) {
        return WatchLine::Other;
    }
    const MODIFIED: &[u8] = br#"{"type":"MODIFIED","object":"#;
    const RV: &[u8] = br#""resourceVersion":""#;
    if let Some(rest) = line.strip_prefix(MODIFIED) {
        let rv = rest
            .windows(RV.len())
            .position(|w| w == RV)
            .map(|i| &rest[i + RV.len()..])
            .and_then(|v| v.iter().position(|b| *b == b'"').map(|end| &v[..end]));
        if let Some(rv) = rv.and_then(|rv| std::str::from_utf8(rv).ok()) {
            return WatchLine::Modified(rv.to_string());
        }
    } else if line.starts_with(br#"{"type":""#) && !line.starts_with(br#"{"type":"ERROR""#) {
        return WatchLine::Other;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(ev) => match (
            ev.opt_str_at("/type"),
            ev.opt_str_at("/object/metadata/resourceVersion"),
        ) {
            (Some("MODIFIED"), Some(rv)) => WatchLine::Modified(rv.to_string()),
            (Some("ERROR"), _) => WatchLine::Error(format!("watch ERROR event: {ev}")),
            (Some(_), _) => WatchLine::Other,
            (None, _) => WatchLine::Error(format!("bad watch line: {ev}")),
        },
        Err(_) => WatchLine::Error(format!("bad watch line: {}", String::from_utf8_lossy(line))),
    }
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// RSS sampling
// ---------------------------------------------------------------------------------------------

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async fn wait_ready(args: &Args) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.ready_timeout);
    let mut last_err = String::from("not tried");
    while Instant::now() < deadline {
        // Re-read the kubeconfig on every attempt: on a restart the server may rewrite it (for
        // example with a new port) after this tool has started.
        let target = match load_target(&args.kubeconfig) {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => {
                last_err = format!("{e:#}");
                None
            }
        };
        if let Some(t) = &target {
            let mut c = Client::new(t.clone(), Duration::from_secs(2));
            match c.call("GET", "/readyz", None).await {
                Ok(r) if r.status == 200 => {
                    let ns = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos();
                    println!("ready_epoch_ns={ns}");
                    return Ok(());
                }
                Ok(r) => last_err = format!("/readyz: HTTP {}", r.status),
                Err(e) => last_err = e.to_string(),
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    bail!("not ready within {}s: {last_err}", args.ready_timeout)
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.wait_ready {
        return wait_ready(&args).await;
    }
    if args.scenario == Scenario::Soak {
        return soak::run(&args).await;
    }
    let target = Arc::new(load_target(&args.kubeconfig)?);
    let small = args.small_objects.min(args.objects).max(1);
    let big = args.objects.max(small);
    let ctx = Arc::new(Ctx {
        target,
        ns: args.namespace.clone(),
        concurrency: args.concurrency.max(1),
        timeout: Duration::from_secs(args.request_timeout.max(1)),
        value: "x".repeat(args.value_bytes),
        labels: args.labels.max(1),
        data_keys: args.data_keys.max(2),
        resource: args.resource,
        rvs: (0..big).map(|_| Mutex::new(String::new())).collect(),
        watches_per_connection: args.watches_per_connection.max(1),
        watch_pace: (args.watch_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.watch_rate)),
    });
    let rss_before = args.pid.and_then(|p| status_kb(p, "VmRSS:"));
    let peak = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
    let sampler = args.pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kb) = status_kb(pid, "VmRSS:") {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });

    ctx.ensure_namespace().await?;
    let started = Instant::now();
    let mut rows: Vec<Stats> = Vec::new();
    match args.scenario {
        Scenario::Create => rows.push(ctx.create(&format!("create {}", ctx.noun()), 0..big).await),
        Scenario::Get => {
            ctx.ensure_objects(small).await;
            rows.push(ctx.get(small).await);
        }
        Scenario::List => {
            ctx.ensure_objects(small).await;
            rows.extend(ctx.list_full(small, args.list_repeats).await);
            rows.extend(ctx.list_paged(small, args.page_size, args.list_repeats).await);
            if big > small {
                ctx.ensure_objects(big).await;
                rows.extend(ctx.list_full(big, args.list_repeats).await);
                rows.extend(ctx.list_paged(big, args.page_size, args.list_repeats).await);
            }
        }
        Scenario::Watch => {
            ctx.ensure_objects(small).await;
            rows.extend(ctx.watch(small, args.watchers, 2).await?);
        }
        Scenario::Soak => unreachable!("handled above"),
        Scenario::NodePods => rows.extend(nodes::run(&ctx, args.objects, args.nodes, args.list_repeats).await),
        Scenario::All => {
            let mut create = ctx.create(&format!("create {}", ctx.noun()), 0..small).await;
            rows.extend(ctx.list_full(small, args.list_repeats).await);
            rows.extend(ctx.list_paged(small, args.page_size, args.list_repeats).await);
            rows.push(ctx.get(small).await);
            rows.push(ctx.update("update configmap (PUT)", small, 1).await);
            rows.extend(ctx.watch(small, args.watchers, 2).await?);
            if big > small {
                create.merge(ctx.create(&format!("create {}", ctx.noun()), small..big).await);
                rows.extend(ctx.list_full(big, args.list_repeats).await);
                rows.extend(ctx.list_paged(big, args.page_size, args.list_repeats).await);
            }
            rows.insert(0, create);
            rows.push(ctx.delete(big).await);
        }
    }
    let total = started.elapsed();
    if let Some(s) = sampler {
        s.abort();
    }

    println!("| Scenario | Requests | Errors | Concurrency | Throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | Notes |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        println!("{}", r.row());
    }
    println!();
    println!(
        "Total load time {:.1} s; {} bytes per {} value; {} object(s) for the large list.",
        total.as_secs_f64(),
        args.value_bytes,
        if args.resource == Resource::Secrets {
            "Secret"
        } else {
            "ConfigMap"
        },
        big
    );
    if let Some(pid) = args.pid {
        let after = status_kb(pid, "VmRSS:");
        let hwm = status_kb(pid, "VmHWM:");
        println!();
        println!("| Server memory (pid {pid}) | MiB |");
        println!("|---|---:|");
        if let Some(b) = rss_before {
            println!("| RSS before load | {} |", mib(b));
        }
        println!(
            "| RSS peak during load (sampled every 50 ms) | {} |",
            mib(peak.load(Ordering::Relaxed))
        );
        if let Some(a) = after {
            println!("| RSS after load | {} |", mib(a));
        }
        if let Some(h) = hwm {
            println!("| VmHWM (peak RSS since start) | {} |", mib(h));
        }
    }
    let failed: Vec<&Stats> = rows.iter().filter(|r| r.errors > 0).collect();
    if !failed.is_empty() {
        println!();
        println!("Errors (first samples per scenario):");
        for r in failed {
            for e in &r.error_samples {
                println!("- {}: {}", r.name, e.replace('\n', " "));
            }
        }
    }
    Ok(())
}

// The server's allocator (capstan::util::alloc): with 10,000 watchers this tool shares the cores
// with the server under test, and its own allocations are CPU the server does not get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("capstan-load: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("capstan-load: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_lines_are_scanned_as_the_parse_would_read_them() {
        let modified = br#"{"type":"MODIFIED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c","namespace":"n","uid":"u","resourceVersion":"4711"},"data":{"k":"v"}}}"#;
        assert_eq!(watch_line(modified), WatchLine::Modified("4711".into()));
        // Another key order is parsed.
        let reordered = br#"{"object":{"metadata":{"resourceVersion":"12"}},"type":"MODIFIED"}"#;
        assert_eq!(watch_line(reordered), WatchLine::Modified("12".into()));
        let added = br#"{"type":"ADDED","object":{"metadata":{"resourceVersion":"3"}}}"#;
        assert_eq!(watch_line(added), WatchLine::Other);
        assert_eq!(watch_line(b"  "), WatchLine::Other);
        let error = br#"{"type":"ERROR","object":{"kind":"Status","code":410}}"#;
        assert!(matches!(watch_line(error), WatchLine::Error(e) if e.contains("410")));
        assert!(matches!(watch_line(b"{not json"), WatchLine::Error(e) if e.starts_with("bad watch line")));
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(Stats::quantile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(Stats::quantile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(Stats::quantile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(Stats::quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn continue_tokens_are_percent_encoded() {
        assert_eq!(pct("eyJ2Ijoi+/=="), "eyJ2Ijoi%2B%2F%3D%3D");
    }
}
