//! The top of the house: listeners, the filter chain, the dispatcher and the [`App`] that wires
//! every layer together. Only this module knows the App; everything below takes the narrow
//! handle it needs (a `Registry`, the authorizer, the admission chain).
//!
//! The accept loop is ours (warp cannot take a TLS acceptor): TCP → rustls (ALPN h2 and
//! http/1.1) → the peer certificate becomes the request's user → one warp catch-all route →
//! [`filters::handle`] → [`dispatch::dispatch`].

pub mod bootstrap;
pub mod component_status;
pub mod discovery;
pub mod dispatch;
pub mod encryption;
pub mod filters;
pub mod hardening;
pub mod headers;
pub mod health;
pub mod lifecycle;
pub mod nonresource;
pub mod openapi;
pub mod tls_reload;

use crate::config::ServeOptions;
use crate::registry::Registry;
use crate::request::{Request, UserInfo};
use crate::storage::cache::{CacheOptions, CacheSet};
use crate::storage::sqlite::SqliteStorage;
use crate::storage::Storage;
use anyhow::Context;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use warp::Filter;

/// The server, wired: what the filter chain and the dispatcher use.
pub struct App {
    pub registry: Registry,
    pub discovery: Arc<discovery::Live>,
    pub openapi: Arc<openapi::OpenApi>,
    pub min_request_timeout: Duration,
    /// `--request-timeout` and the HTTP/1 and HTTP/2 connection limits.
    pub limits: hardening::Limits,
    pub max_body: usize,
    /// Turns true when shutdown begins (`/readyz` fails from then on).
    pub shutting_down: Arc<AtomicBool>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `/healthz`, `/livez`, `/readyz`.
    pub health: Arc<health::Health>,
    /// API Priority and Fairness, or the max-in-flight limits when it is off.
    pub flow: crate::flowcontrol::Gate,
    /// Auditing (`--audit-policy-file` with `--audit-log-path` and/or `--audit-webhook-config-file`); None when off.
    pub audit: Option<Arc<crate::audit::Auditor>>,
    /// Authentication, impersonation and authorization.
    pub auth: crate::auth::Auth,
    /// The admission chain every write runs.
    pub admission: Arc<crate::admission::AdmissionChain>,
    /// Kubelet/pod/service proxying (src/proxy).
    pub proxy: crate::proxy::ProxyConfig,
    /// The aggregation layer (src/aggregator).
    pub aggregator: Arc<crate::aggregator::Aggregator>,
    /// `--cors-allowed-origins` and `--strict-transport-security-directives`.
    pub headers: headers::SecurityHeaders,
    /// Encryption at rest (`--encryption-provider-config`), for the `kms-providers` check.
    pub encryption: Option<Arc<crate::storage::encryption::Encryption>>,
}

impl App {
    /// `apiserver_storage_objects`: objects per resource (`<plural>[.<group>]`), from the caches.
    pub fn object_counts(&self) -> Vec<(String, usize)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in self.registry.resources.builtin_rows() {
            if r.storage.is_empty() || r.served != crate::api::Served::Store || !seen.insert(r.storage) {
                continue;
            }
            out.push((
                crate::error::qualified(r.plural, r.group),
                self.registry.caches.cache(r.storage).len(),
            ));
        }
        out.sort();
        out
    }

    /// What the REST handlers need.
    pub fn rest(&self) -> crate::rest::Rest<'_> {
        crate::rest::Rest {
            registry: &self.registry,
            admission: &self.admission,
            authorizer: &self.auth.authorizer,
            max_body: self.max_body,
            min_request_timeout: self.min_request_timeout,
            metrics: &self.metrics,
        }
    }

    /// CONNECT admission for the proxy.
    pub fn connect_admission(&self) -> crate::proxy::Admit<'_> {
        crate::proxy::Admit {
            chain: &self.admission,
            authorizer: &self.auth.authorizer,
        }
    }
}

/// The Kubernetes version we answer as (the API level we target).
pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        // 1.33's compatibility versions: it emulates itself and can run beside 1.32.
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": format!("v1.33.0+capstan.{}", env!("CARGO_PKG_VERSION")),
        // Stamped by build.rs from the checkout (empty outside one).
        "gitCommit": env!("CAPSTAN_GIT_COMMIT"),
        "gitTreeState": env!("CAPSTAN_GIT_TREE_STATE"),
        "buildDate": env!("CAPSTAN_BUILD_DATE"),
        "goVersion": "n/a (rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH }),
    })
}

/// Identity found on a connection (the TLS client certificate, or the insecure port) and the
/// peer address.
#[derive(Clone, Debug)]
struct ConnUser(Option<UserInfo>, Option<SocketAddr>);

fn routes(app: Arc<App>) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ConnUser>())
        .and(warp::ext::optional::<crate::request::Upgrade>())
        .and(warp::ext::optional::<crate::request::Target>())
        .and(warp::body::stream())
        .then(
            move |method,
                  path: warp::path::FullPath,
                  query: String,
                  headers,
                  user: Option<ConnUser>,
                  upgrade: Option<crate::request::Upgrade>,
                  target: Option<crate::request::Target>,
                  body| {
                let app = app.clone();
                async move {
                    // Path and query are parsed once: by the connection loop (its target), or
                    // here for a request that did not come through it; a handler reads the body
                    // (with the limit) or, when proxying, streams it.
                    // CORS and HSTS wrap the whole chain (upstream's WithCORS, WithHSTS).
                    let origin = app.headers.allowed_origin(&headers);
                    if let Some(r) = app.headers.preflight(&method, origin.as_ref()) {
                        return r;
                    }
                    let body = crate::request::body_stream(body);
                    let target = target
                        .unwrap_or_else(|| crate::request::Target::parse(&method, path.as_str().to_string(), query));
                    let mut req = Request::with_target(method, target, headers, Some(body));
                    req.remote = user.as_ref().and_then(|u| u.1);
                    req.conn_user = user.and_then(|u| u.0);
                    req.upgrade = upgrade;
                    let mut resp = filters::handle(app.clone(), req).await;
                    app.headers.apply(origin, &mut resp);
                    resp
                }
            },
        )
}

/// Connection draining on shutdown: stop accepting, end watch streams, let in-flight requests
/// finish (hyper-util's graceful shutdown over every served connection).
struct Drain {
    /// Turns true when the listeners must stop and watch responses must end.
    stop_tx: tokio::sync::watch::Sender<bool>,
    /// Taken by [`Drain::drain`]; a connection arriving after that is closed at once.
    graceful: std::sync::Mutex<Option<hyper_util::server::graceful::GracefulShutdown>>,
}

impl Drain {
    fn new() -> Arc<Drain> {
        Arc::new(Drain {
            stop_tx: tokio::sync::watch::channel(false).0,
            graceful: std::sync::Mutex::new(Some(hyper_util::server::graceful::GracefulShutdown::new())),
        })
    }

    fn stopped(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }

    fn watcher(&self) -> Option<hyper_util::server::graceful::Watcher> {
        if *self.stop_tx.borrow() {
            return None;
        }
        self.graceful
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|g| g.watcher())
    }

    /// Stop the listeners, end the watches and wait (up to `bound`) for the connections to
    /// finish their in-flight requests. Returns whether every connection finished in time.
    async fn drain(&self, bound: Duration) -> bool {
        let _ = self.stop_tx.send(true);
        let Some(graceful) = self.graceful.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return true;
        };
        tracing::info!(
            connections = graceful.count(),
            "not accepting connections; finishing in-flight requests, ending watches"
        );
        if tokio::time::timeout(bound, graceful.shutdown()).await.is_err() {
            tracing::warn!(bound = ?bound, "in-flight requests did not finish in time; closing them");
            return false;
        }
        true
    }
}

/// A response body that ends cleanly (between two frames) once the server stops: used for
/// watches, so a client sees the end of the stream rather than a reset. It also keeps what the
/// request holds until the body is sent ([`filters::HoldUntilSent`]: APF seats, a watch's
/// registration).
struct EndOnStop<B> {
    inner: std::pin::Pin<Box<B>>,
    stop: Option<futures_util::future::BoxFuture<'static, ()>>,
    ended: bool,
    _hold: Option<filters::HoldUntilSent>,
}

impl<B> EndOnStop<B> {
    fn new(
        inner: B,
        stop: Option<tokio::sync::watch::Receiver<bool>>,
        hold: Option<filters::HoldUntilSent>,
    ) -> EndOnStop<B> {
        EndOnStop {
            inner: Box::pin(inner),
            stop: stop.map(|mut rx| -> futures_util::future::BoxFuture<'static, ()> {
                Box::pin(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
            }),
            ended: false,
            _hold: hold,
        }
    }
}

impl<B: hyper::body::Body> hyper::body::Body for EndOnStop<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if self.ended {
            return std::task::Poll::Ready(None);
        }
        if let Some(stop) = self.stop.as_mut() {
            if stop.as_mut().poll(cx).is_ready() {
                self.ended = true;
                return std::task::Poll::Ready(None);
            }
        }
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serve one accepted connection (plain or TLS) with HTTP/1.1 and HTTP/2, watched by the
/// graceful shutdown (a connection arriving after the drain began is closed at once).
fn serve_conn<IO>(io: IO, user: Option<UserInfo>, peer: Option<SocketAddr>, app: Arc<App>, drain: &Drain)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(watcher) = drain.watcher() else {
        return;
    };
    let stopped = drain.stopped();
    let limits = app.limits;
    let svc = warp::service(routes(app));
    let conn_user = ConnUser(user, peer);
    let service = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(conn_user.clone());
        crate::request::Upgrade::stash(&mut req);
        // Path and query are parsed once, here: a watch's stream is ended when the server
        // stops instead of being waited for; the router takes the parsed target on.
        let target = crate::request::Target::of(&req);
        let stop = target.is_watch().then(|| stopped.clone());
        req.extensions_mut().insert(target);
        let mut svc = svc.clone();
        async move {
            tower_service::Service::call(&mut svc, req).await.map(|mut resp| {
                let hold = resp.extensions_mut().remove::<filters::HoldUntilSent>();
                resp.map(|b| EndOnStop::new(b, stop, hold))
            })
        }
    });
    tokio::spawn(async move {
        let builder = limits.builder();
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with error");
        }
    });
}

async fn tls_loop(listener: TcpListener, tls: Arc<tls_reload::ReloadingTls>, app: Arc<App>, drain: Arc<Drain>) {
    let mut stopped = drain.stopped();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = async { let _ = stopped.wait_for(|v| *v).await; } => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.acceptor();
        let app = app.clone();
        let drain = drain.clone();
        let verifiers = tls.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    // Which CA the certificate chains to decides x509 vs request-header auth.
                    let user = verifiers.identify(tls.get_ref().1.peer_certificates());
                    serve_conn(tls, user, Some(peer), app, &drain);
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    }
}

async fn insecure_loop(listener: TcpListener, app: Arc<App>, drain: Arc<Drain>) {
    let user = UserInfo::new(
        "system:unsecured",
        vec!["system:masters".into(), "system:authenticated".into()],
    );
    let mut stopped = drain.stopped();
    loop {
        tokio::select! {
            _ = async { let _ = stopped.wait_for(|v| *v).await; } => return,
            r = listener.accept() => {
                if let Ok((tcp, peer)) = r {
                    let _ = tcp.set_nodelay(true);
                    serve_conn(tcp, Some(user.clone()), Some(peer), app.clone(), &drain);
                }
            }
        }
    }
}

/// Run the API server until SIGTERM/SIGINT.
pub async fn run(opts: ServeOptions) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let _pid_file = opts.pid_file.as_deref().map(lifecycle::PidFile::create).transpose()?;
    let data_dir = opts.data_dir();
    std::fs::create_dir_all(&data_dir).with_context(|| {
        format!(
            "cannot create data dir {} (set --data-dir to a writable directory)",
            data_dir.display()
        )
    })?;
    let first_service_ip = opts.first_service_ip().map_err(anyhow::Error::msg)?;
    // The built-in rows served (--runtime-config, feature gates): fixed for the process.
    let served = crate::api::enablement::served_rows(
        crate::api::builtin(),
        &opts.api_enablement,
        &crate::config::features::FeatureGates::from_options(&opts),
    )
    .map_err(anyhow::Error::msg)?;
    let advertise = opts.advertise_address.unwrap_or(opts.bind_address);
    let host = if opts.bind_address.is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        opts.bind_address.to_string()
    };
    let server_url = match opts.bind_address {
        std::net::IpAddr::V6(a) if !a.is_unspecified() => format!("https://[{a}]:{}", opts.secure_port),
        _ => format!("https://{host}:{}", opts.secure_port),
    };

    // PKI: use given files, or bootstrap a CA, serving cert and admin kubeconfig.
    let (cert, key, client_ca) = match (&opts.tls_cert_file, &opts.tls_private_key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone(), opts.client_ca_file.clone()),
        (None, None) => {
            let paths = crate::pki::bootstrap(&crate::pki::BootstrapOptions {
                dir: data_dir.clone(),
                hostname: hostname::get()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| "localhost".into()),
                advertise_address: Some(advertise),
                first_service_ip,
                dns_domain: "cluster.local".into(),
                extra_sans: vec![],
                server_url: server_url.clone(),
            })?;
            println!("capstan: admin kubeconfig written to {}", paths.kubeconfig.display());
            (
                paths.serving_cert,
                paths.serving_key,
                Some(opts.client_ca_file.clone().unwrap_or(paths.ca_cert)),
            )
        }
        _ => anyhow::bail!("--tls-cert-file and --tls-private-key-file must be given together"),
    };
    // Renewed serving certificates and client CAs are picked up without a restart.
    let tls = tls_reload::ReloadingTls::new(
        cert,
        key,
        client_ca,
        opts.get_path("authentication.requestheader.client-ca-file"),
        tls_reload::TlsOptions::from_options(&opts)?,
    )?;

    let security_headers = headers::SecurityHeaders::from_options(&opts)?;
    // `--allow-privileged`: privileged and HostProcess containers (process-wide, as upstream).
    crate::api::strategy::core::set_allow_privileged(opts.get_bool("allow-privileged"));

    // Storage and caches.
    let metrics = Arc::new(crate::metrics::Metrics::with_disabled(
        opts.get_list("metrics.disabled"),
    ));
    // The storage watch feeding the caches runs on a thread of its own, until `run` returns.
    let feed = crate::storage::feed::FeedRuntime::start()?;
    let backend = open_storage(&opts, &data_dir, Some(feed.handle())).await?;
    // Encryption at rest applies to the bytes as stored (after transcoding), as upstream's
    // transformers do, so an etcd upstream encrypted reads here and back.
    let (backend, encryption) = encryption::wrap(&opts, backend).await?;
    // etcd holds built-in kinds in `--storage-media-type` (protobuf, as upstream); the embedded
    // store keeps JSON (no other server reads it, and JSON is cheaper for us to serve). Both
    // read values in either encoding.
    let layout = match opts.backend() {
        "etcd3" => {
            use crate::storage::transcode::{Layout, MediaType};
            Layout::upstream(MediaType::parse(&opts.storage_media_type).map_err(anyhow::Error::msg)?)
        }
        _ => crate::storage::transcode::Layout::JSON,
    };
    let backend: Arc<dyn Storage> = crate::storage::transcode::Transcoding::new(backend, layout);
    let storage: Arc<dyn Storage> = crate::storage::metered::Metered::new(backend, metrics.clone());
    let rows: Vec<crate::api::ResourceDef> = served.iter().map(|r| **r).collect();
    let mut segments: Vec<&str> = rows.iter().map(|r| r.storage).filter(|s| !s.is_empty()).collect();
    // Custom resources of stored CRDs: cached from the start, so their objects load.
    let crd_segments = crate::apiext::crd::stored_segments(storage.as_ref()).await;
    segments.extend(crd_segments.iter().map(String::as_str));
    segments.sort();
    segments.dedup();
    // Each kind's selectable field values are kept with its cached objects from the first list.
    let selectable = rows
        .iter()
        .filter(|r| !r.storage.is_empty())
        .filter_map(|r| Some((r.storage.to_string(), r.strategy.selectable()?)))
        .collect();
    let cache_opts = CacheOptions {
        selectable,
        feed: Some(feed.handle()),
        ..CacheOptions::default()
    };
    let caches = CacheSet::start(storage.clone(), "/registry/", &segments, cache_opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load storage: {e}"))?;
    // Admission chain (--enable/--disable-admission-plugins, --admission-control-config-file).
    let admission = Arc::new(crate::admission::AdmissionChain::from_options(&opts)?);
    let mut registry = Registry::new(storage.clone(), caches).with_rows(served);
    registry.features = crate::config::features::FeatureGates::from_options(&opts);
    // --event-ttl, in whole seconds as upstream hands it to storage (under a second: none).
    registry.event_ttl = opts.event_ttl.as_secs();
    registry.delete_collection_workers = opts
        .get("storage.delete-collection-workers")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let health = Arc::new(health::Health::with_livez_grace(
        opts.get_duration("livez-grace-period"),
    ));
    let shutting_down = Arc::new(AtomicBool::new(false));
    let hooks = startup_checks(
        &opts,
        &health,
        &registry,
        encryption.as_ref(),
        opts.enable_priority_and_fairness,
    );
    hooks.ip_repair.done();
    // Service ClusterIP/NodePort allocation; repair rebuilds the bitmaps from stored Services.
    let allocators = Arc::new(crate::registry::allocator::ServiceAllocators::new(
        storage.clone(),
        &opts.service_cluster_ip_range,
        &opts.service_node_port_range,
    )?);
    allocators
        .repair_from_storage()
        .await
        .map_err(|e| anyhow::anyhow!("cannot repair service allocations: {e}"))?;
    registry.allocators = Some(allocators);
    let metrics_audit = metrics.audit.clone();
    let metrics_streams = metrics.streams.clone();
    let metrics_authn_reloads = metrics.authn_config_reloads.clone();
    let metrics_authz_reloads = metrics.authz_config_reloads.clone();
    // Discovery and OpenAPI follow the served rows (built-ins now, CRD versions as they come).
    let server_address = opts
        .external_address()
        .unwrap_or_else(|| format!("{advertise}:{}", opts.secure_port));
    let discovery = Arc::new(discovery::Live::new(&rows, &server_address));
    let openapi = Arc::new(openapi::OpenApi::build(&rows));
    {
        let (discovery, openapi) = (discovery.clone(), openapi.clone());
        registry.resources.on_change(move |all, changed| {
            if changed {
                discovery.rebuild(all);
            }
            // OpenAPI renders lazily, so a reset is cheap (schemas may change under the same rows).
            openapi.set_rows(all);
        });
    }
    let flow = flow_gate(&opts, &registry)?;
    let app = Arc::new(App {
        auth: crate::auth::Auth::from_options(
            &opts,
            Some(registry.clone()),
            metrics_authn_reloads,
            metrics_authz_reloads,
        )?,
        registry,
        discovery,
        openapi,
        admission,
        min_request_timeout: Duration::from_secs(opts.min_request_timeout),
        limits: hardening::Limits::from_options(&opts),
        max_body: opts.max_request_body_bytes,
        shutting_down: shutting_down.clone(),
        metrics,
        health: health.clone(),
        flow,
        audit: crate::audit::Auditor::from_options(&opts, metrics_audit)?,
        proxy: crate::proxy::ProxyConfig::from_options(&opts, metrics_streams)?,
        aggregator: Arc::new(crate::aggregator::Aggregator::from_options(&opts)?),
        encryption,
        headers: security_headers,
    });

    let addr = SocketAddr::new(opts.bind_address, opts.secure_port);
    let listener = listen(addr, opts.get_bool("permit-port-sharing"))
        .with_context(|| format!("cannot listen on {addr} (--bind-address/--secure-port)"))?;
    tls.spawn_watcher(Duration::from_secs(2));
    println!("capstan: listening on {server_url}");
    let drain = Drain::new();
    tokio::spawn(tls_loop(listener, tls.clone(), app.clone(), drain.clone()));
    if opts.insecure_port != 0 {
        let ip = opts.insecure_bind_address;
        if !ip.is_loopback() && !opts.insecure_allow_non_loopback {
            anyhow::bail!(
                "--insecure-bind-address={ip} is not a loopback address; the insecure port grants full access without authentication. Use 127.0.0.1, or add --insecure-allow-non-loopback if you really mean it"
            );
        }
        tracing::warn!("INSECURE PORT ENABLED on {ip}:{}: every request there has full cluster-admin access without authentication", opts.insecure_port);
        let l = TcpListener::bind(SocketAddr::new(ip, opts.insecure_port)).await?;
        tokio::spawn(insecure_loop(l, app.clone(), drain.clone()));
    }

    // The shutdown check is the last of /readyz, after the start-up hooks.
    {
        let down = shutting_down.clone();
        health.add(
            "shutdown",
            health::Scope::Ready,
            health::probe(move || {
                let down = down.load(Ordering::Acquire);
                async move {
                    if down {
                        Err("process is shutting down".into())
                    } else {
                        Ok(())
                    }
                }
            }),
        );
    }
    // API Priority and Fairness: the consumer (informers → configuration), the filter, and the
    // producer of the bootstrap objects (in the background; start-up waits for its first round).
    let producer_done = match &app.flow {
        crate::flowcontrol::Gate::Apf(apf) => {
            apf.start(&app.registry).await?;
            hooks.apf_consumer.as_ref().map(health::Hook::done);
            hooks.apf_filter.as_ref().map(health::Hook::done);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let hook = hooks.apf_producer.clone();
            crate::flowcontrol::bootstrap::spawn(app.registry.clone(), move || {
                hook.as_ref().map(health::Hook::done);
                let _ = tx.send(());
            });
            Some(rx)
        }
        crate::flowcontrol::Gate::MaxInflight(_) => None,
    };
    let node_port = opts
        .get("services.kubernetes-service-node-port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    bootstrap::ensure_defaults(&app, &hooks, first_service_ip, opts.secure_port, node_port).await?;
    tokio::spawn(bootstrap::token_tracking::run(app.registry.clone()));
    // Serve the stored CRDs before reporting ready, then follow CRD changes.
    crate::apiext::crd::start(app.registry.clone()).await;
    hooks.crd.done();
    // Local APIServices and the availability controller (kube-aggregator).
    crate::aggregator::start(app.registry.clone(), app.aggregator.clone()).await?;
    hooks.autoregistration.done();
    // default/kubernetes Endpoints/EndpointSlice: per-server leases, as upstream's lease
    // reconciler. The first pass runs before we report ready.
    let leases = if opts.get_str("services.endpoint-reconciler-type") == "none" {
        tracing::info!("--endpoint-reconciler-type=none: not publishing default/kubernetes Endpoints");
        None
    } else if advertise.is_unspecified() || advertise.is_loopback() {
        // Endpoints may not hold loopback addresses (upstream validation), so a server that
        // only advertises loopback has nothing to publish there.
        tracing::info!(%advertise, "advertise address is loopback or unset: not publishing default/kubernetes Endpoints (set --advertise-address)");
        None
    } else {
        let leases = bootstrap::endpoints::EndpointLeases::new(advertise, opts.secure_port);
        if let Err(e) = leases.reconcile(&app.registry).await {
            tracing::warn!(error = %e.message, "cannot write the default/kubernetes Endpoints and EndpointSlice");
        }
        Some(leases)
    };
    hooks.bootstrap_controller.done();
    if let Some(rx) = producer_done {
        let _ = rx.await;
    }
    // Periodic repair of the ClusterIP/NodePort bitmaps (startup already ran one pass).
    let repair = app
        .registry
        .allocators
        .clone()
        .map(|a| crate::registry::allocator::spawn_repair_loop(a, crate::registry::allocator::REPAIR_INTERVAL));
    tracing::info!(address = %addr, ready_ms = started.elapsed().as_millis() as u64, data_dir = %data_dir.display(), "capstan is serving");
    // Startup's garbage (bootstrap reconciliation, store warm-up) is freed by now.
    crate::util::alloc::trim_heap();
    println!(
        "capstan: serving on {server_url} (ready in {} ms)",
        started.elapsed().as_millis()
    );

    lifecycle::notify_ready(&format!("serving on {server_url}"));
    let mut reloaders: Vec<lifecycle::FileReloader> = Vec::new();
    let policy_file = opts.get_path("audit.policy-file");
    if let (Some(audit), Some(path)) = (app.audit.clone(), policy_file) {
        reloaders.push((
            "audit policy",
            Box::new(move || audit.reload_policy(&path).map(|()| true)),
        ));
    }
    let certs = tls.clone();
    reloaders.push((
        "serving certificates and client CAs",
        Box::new(move || certs.reload_if_changed().map_err(|e| e.to_string())),
    ));
    tokio::spawn(lifecycle::reload_on_sighup(opts.clone(), reloaders));
    let (leases_stop, leases_stopped) = tokio::sync::watch::channel(false);
    let lease_loop = leases.map(|l| tokio::spawn(l.run(app.registry.clone(), leases_stopped)));

    let signal = lifecycle::wait_for_signal().await;
    // Leave the default/kubernetes endpoints at once, while the delay runs.
    let _ = leases_stop.send(true);
    lifecycle::begin_shutdown(&shutting_down, opts.shutdown_delay_duration, signal).await;
    if let Some(r) = repair {
        r.abort();
    }
    let clean = drain.drain(lifecycle::DRAIN_TIMEOUT).await;
    if let Some(l) = lease_loop {
        let _ = tokio::time::timeout(Duration::from_secs(5), l).await;
    }
    // Flush audit events still buffered in batch mode.
    if let Some(a) = app.audit.as_ref() {
        a.shutdown();
    }
    tracing::info!(clean, "stopped");
    Ok(())
}

/// The `poststarthook/*` checks of the start-up tasks, in upstream's order (the APF ones only
/// when APF is on).
struct StartupHooks {
    apf_consumer: Option<health::Hook>,
    apf_filter: Option<health::Hook>,
    crd: health::Hook,
    namespaces: health::Hook,
    ip_repair: health::Hook,
    rbac: health::Hook,
    apf_producer: Option<health::Hook>,
    bootstrap_controller: health::Hook,
    autoregistration: health::Hook,
}

/// Register `ping`, `log`, `etcd`, `etcd-readiness`, `informer-sync` and the start-up hooks.
fn startup_checks(
    opts: &ServeOptions,
    health: &health::Health,
    registry: &Registry,
    encryption: Option<&Arc<crate::storage::encryption::Encryption>>,
    apf: bool,
) -> StartupHooks {
    use health::{probe, Scope};
    health.add("ping", Scope::All, probe(|| async { Ok(()) }));
    health.add(
        "log",
        Scope::All,
        probe(|| async { lifecycle::LOG_WATCH.check(crate::util::unix_millis(), lifecycle::LOG_BLOCKED_AFTER) }),
    );
    let (health_timeout, ready_timeout) = storage_check_timeouts(opts);
    for (name, scope, deadline) in [
        ("etcd", Scope::All, health_timeout),
        ("etcd-readiness", Scope::Ready, ready_timeout),
    ] {
        let storage = registry.storage.clone();
        health.add(
            name,
            scope,
            probe(move || {
                let storage = storage.clone();
                async move {
                    tokio::time::timeout(deadline, storage.health())
                        .await
                        .unwrap_or_else(|_| Err(format!("the storage did not answer within {deadline:?}")))
                }
            }),
        );
    }
    // Encryption's KMS check follows etcd's, on /healthz and /readyz only (as upstream).
    if let Some(enc) = encryption.filter(|e| e.has_health_check()) {
        let enc = enc.clone();
        health.add(
            "kms-providers",
            Scope::NotLive,
            probe(move || {
                let enc = enc.clone();
                async move { enc.check().await }
            }),
        );
    }
    let informers = registry.informers.clone();
    health.add(
        "informer-sync",
        Scope::Ready,
        probe(move || {
            let pending = informers.pending();
            async move {
                if pending.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} informers not started yet: [{}]",
                        pending.len(),
                        pending.join(" ")
                    ))
                }
            }
        }),
    );
    let apf_hook = |name: &str| apf.then(|| health.hook(name));
    StartupHooks {
        apf_consumer: apf_hook("priority-and-fairness-config-consumer"),
        apf_filter: apf_hook("priority-and-fairness-filter"),
        crd: health.hook("crd-informer-synced"),
        namespaces: health.hook("start-system-namespaces-controller"),
        ip_repair: health.hook("start-service-ip-repair-controllers"),
        rbac: health.hook("rbac/bootstrap-roles"),
        apf_producer: apf_hook("priority-and-fairness-config-producer"),
        bootstrap_controller: health.hook("bootstrap-controller"),
        autoregistration: health.hook("kube-apiserver-autoregistration"),
    }
}

/// API Priority and Fairness sharing both in-flight limits (`--enable-priority-and-fairness`),
/// or the two limits alone. LIST costs come from the watch caches' object counts.
fn flow_gate(opts: &ServeOptions, registry: &Registry) -> anyhow::Result<crate::flowcontrol::Gate> {
    let (readonly, mutating) = (opts.max_requests_inflight, opts.max_mutating_requests_inflight);
    if !opts.enable_priority_and_fairness {
        return Ok(crate::flowcontrol::Gate::MaxInflight(
            crate::flowcontrol::MaxInflight::new(readonly, mutating),
        ));
    }
    if readonly + mutating == 0 {
        anyhow::bail!(
            "--max-requests-inflight={readonly} and --max-mutating-requests-inflight={mutating} cannot sum to 0 or less when --enable-priority-and-fairness is true"
        );
    }
    let reg = registry.clone();
    let counts: crate::flowcontrol::estimate::ObjectCounts = Arc::new(move |info| {
        let def = reg.find(&info.group, &info.version, &info.resource)?;
        (!def.storage.is_empty()).then(|| reg.caches.cache(def.storage).len() as i64)
    });
    Ok(crate::flowcontrol::Gate::Apf(crate::flowcontrol::Apf::new(
        (readonly + mutating) as u64,
        counts,
    )))
}

/// The secure port's socket. SO_REUSEADDR is always set (as Go's listeners do on Linux, which
/// is what `--permit-address-sharing` asks for); `--permit-port-sharing` adds SO_REUSEPORT.
fn listen(addr: SocketAddr, port_sharing: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if port_sharing {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(1024)
}

/// `capstan storage migrate`: rewrite every stored value in the layout the server writes
/// (`--storage-media-type` protobuf for built-in kinds in etcd, CRDs in v1beta1).
pub async fn migrate_storage(opts: ServeOptions) -> anyhow::Result<crate::storage::transcode::Migrated> {
    use crate::storage::transcode::{Layout, MediaType};
    let data_dir = opts.data_dir();
    let backend = open_storage(&opts, &data_dir, None).await?;
    let (backend, _) = encryption::wrap(&opts, backend).await?;
    let layout = match opts.backend() {
        "etcd3" => Layout::upstream(MediaType::parse(&opts.storage_media_type).map_err(anyhow::Error::msg)?),
        _ => Layout::JSON,
    };
    Ok(crate::storage::transcode::migrate(backend.as_ref(), "/registry/", layout).await?)
}

/// `--etcd-healthcheck-timeout` (`etcd` on /healthz and /livez) and `--etcd-readycheck-timeout`
/// (`etcd-readiness` on /readyz), as upstream names them for either backend.
fn storage_check_timeouts(opts: &ServeOptions) -> (Duration, Duration) {
    let or_2s = |d: Duration| if d.is_zero() { Duration::from_secs(2) } else { d };
    (
        or_2s(opts.get_duration("etcd.healthcheck-timeout")),
        or_2s(opts.get_duration("etcd.readycheck-timeout")),
    )
}

/// The storage's own probe deadline: the longer check's, so each check's own timeout decides.
fn storage_check_deadline(opts: &ServeOptions) -> Duration {
    let (health, ready) = storage_check_timeouts(opts);
    health.max(ready)
}

/// The configured backend: the embedded SQLite log under the data dir, or etcd.
/// `watch_runtime`: where etcd's watches run (the embedded store's follow whoever watches).
async fn open_storage(
    opts: &ServeOptions,
    data_dir: &std::path::Path,
    watch_runtime: Option<tokio::runtime::Handle>,
) -> anyhow::Result<Arc<dyn Storage>> {
    match opts.backend() {
        "embedded" => {
            let db = data_dir.join("capstan.db");
            let tuning = crate::storage::sqlite::SqliteOptions {
                health_timeout: storage_check_deadline(opts),
                ..Default::default()
            };
            let sqlite = SqliteStorage::open_with(&db, tuning)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", db.display()))?;
            if !opts.compaction_interval.is_zero() {
                sqlite.spawn_compactor(opts.compaction_interval, opts.min_history);
            }
            Ok(sqlite)
        }
        "etcd3" => {
            if opts.etcd_servers.is_empty() {
                anyhow::bail!("--storage-backend=etcd3 needs --etcd-servers (e.g. https://127.0.0.1:2379)");
            }
            let tuning = crate::storage::etcd::EtcdTuning {
                health_timeout: storage_check_deadline(opts),
                lease_reuse_seconds: opts
                    .get("storage.lease-reuse-duration-seconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(60),
                watch_runtime,
                ..Default::default()
            };
            let etcd_opts = crate::storage::etcd::EtcdOptions {
                endpoints: opts.etcd_servers.clone(),
                prefix: opts.etcd_prefix.clone(),
                ca_file: opts.etcd_cafile.clone(),
                cert_file: opts.etcd_certfile.clone(),
                key_file: opts.etcd_keyfile.clone(),
            };
            let etcd = crate::storage::etcd::EtcdStorage::connect_with(&etcd_opts, tuning)
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach etcd at {}: {e}", opts.etcd_servers.join(",")))?;
            // Upstream's compactor (--etcd-compaction-interval, 0 disables it).
            if !opts.compaction_interval.is_zero() {
                etcd.spawn_compactor(opts.compaction_interval);
            }
            Ok(etcd)
        }
        other => anyhow::bail!("--storage-backend={other}: supported values are \"embedded\" and \"etcd3\""),
    }
}
