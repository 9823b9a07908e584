//! The dispatcher: one entry for every request. Non-resource paths (health, version,
//! discovery, openapi) are answered here; resource requests go to the generic registry.

use super::encode::{self, Encoding, IncludeObject};
use super::negotiate::{self, BodyType, Endpoint, Output};
use super::request::RequestInfo;
use super::App;
use crate::api::{ResourceDef, Served};
use crate::auth::authz::{forbidden, Attributes};
use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::patch;
use crate::registry::options::{DeleteOptions, ListOptions, Query};
use crate::registry::store::{returns_deleted_object, Deleted, Part};
use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use warp::reply::Response;
use warp::Reply;

/// The raw request as the router hands it over.
pub struct RawRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    /// The identity the connection carried (a verified client certificate, or the insecure port).
    pub conn_user: Option<UserInfo>,
    /// The user the request acts as: set by authentication (and impersonation) before any
    /// handler runs; None only before that.
    pub user: Option<UserInfo>,
    /// The connection's peer address.
    pub remote: Option<std::net::SocketAddr>,
    /// The pending connection upgrade of a `Connection: Upgrade` request (src/proxy).
    pub upgrade: Option<crate::proxy::Stash>,
    /// The body not read yet: set (and the buffered body left empty) for requests that are
    /// proxied, which stream it to the target without the size limit, as upstream.
    pub body_stream: std::sync::Mutex<Option<BodyStream>>,
}

/// A request body as it arrives.
pub type BodyStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

impl RawRequest {
    /// The unread body, once (proxying takes it; anything else reads it with the limit).
    pub fn take_body_stream(&self) -> Option<BodyStream> {
        self.body_stream.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Read the body with the size limit: 413 beyond it, never an unbounded buffer.
pub async fn read_body<S, B, E>(body: S, limit: usize) -> ApiResult<Bytes>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: Buf,
    E: std::fmt::Display,
{
    let mut body = body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| ApiError::bad_request(format!("error reading request body: {e}")))?;
        if out.len() + chunk.remaining() > limit {
            return Err(ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large: limit is {limit}"),
            ));
        }
        while chunk.has_remaining() {
            let c = chunk.chunk();
            out.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    Ok(Bytes::from(out))
}

/// Requests that hold a connection open and are exempt from in-flight limits.
fn long_running(info: &RequestInfo) -> bool {
    matches!(info.verb.as_str(), "watch" | "proxy")
        || matches!(
            info.subresource.as_deref(),
            Some("proxy" | "exec" | "attach" | "portforward" | "log")
        )
}

/// Upstream's metric labels for a request.
fn metric_labels(info: &RequestInfo, req: &RawRequest, query: &Query) -> super::metrics::RequestLabels {
    let verb = if info.is_resource {
        match info.verb.as_str() {
            "create" => "POST",
            "update" => "PUT",
            "patch"
                if header(&req.headers, "content-type").is_some_and(|c| c.starts_with("application/apply-patch")) =>
            {
                "APPLY"
            }
            other => return labels_with(info, query, other.to_ascii_uppercase()),
        }
        .to_string()
    } else {
        req.method.as_str().to_string()
    };
    labels_with(info, query, verb)
}

fn labels_with(info: &RequestInfo, query: &Query, verb: String) -> super::metrics::RequestLabels {
    let scope = if !info.is_resource {
        ""
    } else if info.name.is_some() {
        "resource"
    } else if info.namespace.is_some() {
        "namespace"
    } else {
        "cluster"
    };
    super::metrics::RequestLabels {
        verb,
        dry_run: if query.get("dryRun").is_some() {
            "All".into()
        } else {
            String::new()
        },
        group: info.group.clone(),
        version: info.version.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone().unwrap_or_default(),
        scope,
    }
}

pub async fn handle(app: Arc<App>, mut req: RawRequest) -> Response {
    let started = std::time::Instant::now();
    let query = Query::parse(&req.query);
    let watch_param = query.flag("watch").unwrap_or(false);
    let info = RequestInfo::parse(req.method.as_str(), &req.path, watch_param);
    // Proxied requests stream their body to the target (no limit, as upstream); every other
    // body is read now, with --max-request-body-bytes.
    let body = if crate::proxy::streams_body(&app, &info) {
        Ok(Bytes::new())
    } else {
        match req.take_body_stream() {
            Some(s) => read_body(s, app.max_body).await,
            None => Ok(Bytes::new()),
        }
    };
    // Authentication first (upstream WithAuthentication); a failure is still audited and
    // answered below, as the user nobody.
    let authn = app.auth.authenticator.authenticate(&req).await;
    req.user = authn.as_ref().ok().cloned();
    let nobody = UserInfo::default();
    let authn_user = req.user.as_ref().unwrap_or(&nobody);
    let (user, groups) = (authn_user.name.as_str(), authn_user.groups.as_slice());
    let uri = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let (audit_id, mut audit) = match &app.audit {
        Some(a) => a.begin(crate::audit::RequestMeta {
            audit_id: header(&req.headers, "audit-id"),
            uri: uri.clone(),
            verb: &info.verb,
            user,
            groups,
            source_ips: crate::audit::source_ips(&req.headers, req.remote),
            user_agent: header(&req.headers, "user-agent").unwrap_or(""),
            is_resource: info.is_resource,
            object_ref: crate::audit::ObjectRef {
                resource: info.resource.clone(),
                namespace: info.namespace.clone().unwrap_or_default(),
                name: info.name.clone().unwrap_or_default(),
                api_group: info.group.clone(),
                api_version: info.version.clone(),
                subresource: info.subresource.clone().unwrap_or_default(),
            },
            path: &req.path,
        }),
        None => (
            header(&req.headers, "audit-id")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            None,
        ),
    };
    let audit_header = HeaderValue::from_str(&audit_id).ok();
    if let (Some(a), Some(ra)) = (&app.audit, audit.as_mut()) {
        if !a.emit(ra, crate::audit::policy::Stage::RequestReceived)
            && a.mode() == crate::audit::log::Mode::BlockingStrict
        {
            let mut r = encode::bytes_response(
                500,
                "text/plain; charset=utf-8",
                Bytes::from(format!("Internal Server Error: {uri:?}: failed to store audit event\n")),
            );
            if let Some(v) = audit_header {
                r.headers_mut().insert("audit-id", v);
            }
            return r;
        }
        // Decoded as the handler will (JSON, YAML or protobuf), so objectRef and requestObject
        // are filled whatever the client sent, as upstream logs the decoded object.
        if let Ok(b) = &body {
            if !b.is_empty() {
                if let Ok(v) = decode_any(&req.headers, b) {
                    ra.set_request_value(v);
                }
            }
        }
    }
    let mut panicked = false;
    // Impersonation (upstream WithImpersonation) acts as another user from here on.
    let access = match authn {
        Ok(u) => {
            if let Some(ra) = audit.as_mut() {
                ra.set_user(&u);
            }
            let as_user = app.auth.authorizer.impersonate(u.clone(), &req.headers).await;
            if let (Ok(imp), Some(ra)) = (&as_user, audit.as_mut()) {
                if *imp != u {
                    ra.set_impersonated_user(imp);
                }
            }
            as_user
        }
        Err(e) => Err(e),
    };
    let resp = match access {
        Err(e) => encode::error_response(&e),
        Ok(effective) => {
            req.user = Some(effective);
            serve_authenticated(&app, &req, &info, &query, body, audit.as_mut(), &mut panicked).await
        }
    };
    app.metrics.observe_request(
        metric_labels(&info, &req, &query),
        resp.status().as_u16(),
        started.elapsed(),
    );
    tracing::debug!(
        verb = %info.verb, path = %req.path, code = resp.status().as_u16(),
        user = req.user.as_ref().map(|u| u.name.as_str()).unwrap_or(""),
        latency_us = started.elapsed().as_micros() as u64, "request"
    );
    let mut resp = resp;
    if let Some(v) = audit_header {
        resp.headers_mut().insert("audit-id", v);
    }
    // Admission plugins and webhooks annotate the event through the response.
    if let Some(crate::audit::AuditAnnotations(annotations)) = resp.extensions_mut().remove() {
        if let Some(ra) = audit.as_mut() {
            for (k, v) in &annotations {
                ra.annotate(k, v);
            }
        }
    }
    match (app.audit.clone(), audit) {
        (Some(a), Some(mut ra)) if panicked => {
            ra.set_response(resp.status().as_u16(), None);
            a.emit(&mut ra, crate::audit::policy::Stage::Panic);
            resp
        }
        (Some(a), Some(ra)) => crate::audit::finish(a, ra, resp, long_running(&info)).await,
        _ => resp,
    }
}

/// In-flight limit, authorization (upstream WithMaxInFlightLimit + WithAuthorization), then the
/// handler, with panics turned into 500s.
async fn serve_authenticated(
    app: &Arc<App>,
    req: &RawRequest,
    info: &RequestInfo,
    query: &Query,
    body: ApiResult<Bytes>,
    mut audit: Option<&mut crate::audit::RequestAudit>,
    panicked: &mut bool,
) -> Response {
    match app
        .inflight
        .try_acquire(&info.verb, long_running(info) || !info.is_resource)
    {
        None => {
            app.metrics.rejected();
            encode::error_response(&ApiError::too_many_requests(1))
        }
        Some(permit) => {
            let gauge = match &permit {
                super::metrics::Permit::Held(_, true) => Some(&app.metrics.inflight_mutating),
                super::metrics::Permit::Held(_, false) => Some(&app.metrics.inflight_readonly),
                super::metrics::Permit::Exempt => None,
            };
            if let Some(g) = gauge {
                g.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            // A panic in a handler becomes a 500 and an audit `Panic` event, never a dropped
            // connection (upstream's WithPanicRecovery).
            let work = async {
                let nobody = UserInfo::default();
                let attrs = Attributes::of(req.user.as_ref().unwrap_or(&nobody), info)
                    .with_field_selector(query.get("fieldSelector"));
                // Upstream's WithAuthorization: the decision and its reason (for an allow too,
                // e.g. which RBAC binding granted it) become audit annotations.
                let verdict = app.auth.authorizer.decide(&attrs);
                if let Some(ra) = audit.as_mut() {
                    let decision = if verdict.allowed { "allow" } else { "forbid" };
                    ra.annotate("authorization.k8s.io/decision", decision);
                    ra.annotate("authorization.k8s.io/reason", &verdict.reason);
                }
                if !verdict.allowed {
                    return Err(forbidden(&attrs, &verdict.reason));
                }
                // Fault injection for the Panic-stage audit test; compiled into debug builds only.
                #[cfg(debug_assertions)]
                if std::env::var_os("TEST_INJECT_PANIC_PATH").is_some_and(|p| p == req.path.as_str()) {
                    panic!("injected panic for {}", req.path);
                }
                if info.is_resource {
                    resource(app, req, info, query, body).await
                } else {
                    non_resource(app, req, query).await
                }
            };
            let work = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work));
            // --request-timeout (upstream WithTimeoutForNonLongRunningRequests): a 504 Status.
            let deadline = super::hardening::request_deadline(app.limits.request_timeout, query.get("timeout"))
                .filter(|_| !long_running(info));
            let outcome = match deadline {
                Some(d) => tokio::time::timeout(d, work)
                    .await
                    .unwrap_or_else(|_| Ok(Err(super::hardening::timed_out()))),
                None => work.await,
            };
            let result = match outcome {
                Ok(r) => r,
                Err(_) => {
                    *panicked = true;
                    tracing::error!(verb = %info.verb, path = %req.path, "handler panicked");
                    Err(ApiError::internal(format!(
                        "an error on the server (\"handler panicked serving {}\") has prevented the request from succeeding",
                        req.path
                    )))
                }
            };
            if let Some(g) = gauge {
                g.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
            drop(permit);
            result.unwrap_or_else(|e| encode::error_response(&e))
        }
    }
}

fn not_found() -> ApiError {
    ApiError::new(404, "NotFound", "the server could not find the requested resource").with_details(json!({}))
}

async fn non_resource(app: &Arc<App>, req: &RawRequest, query: &Query) -> ApiResult<Response> {
    let accept = header(&req.headers, "accept");
    let disco = app.discovery.current();
    let path = req.path.trim_end_matches('/');
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(ApiError::method_not_allowed(req.method.as_str(), path, ""));
    }
    if let Some(r) = crate::auth::authn::reviews::discovery(app, path) {
        return r;
    }
    let plain = |o: Output| Encoding {
        output: o,
        pretty: query.flag("pretty").unwrap_or(false),
        include: IncludeObject::Metadata,
    };
    match path {
        "/healthz" | "/livez" | "/readyz" => return Ok(super::health::respond(app, path, None, query).await),
        p if p.starts_with("/healthz/") || p.starts_with("/livez/") || p.starts_with("/readyz/") => {
            let (root, check) = p[1..].split_once('/').unwrap_or((p, ""));
            return Ok(super::health::respond(app, &format!("/{root}"), Some(check), query).await);
        }
        "/version" => {
            let v = super::version_info();
            return Ok(encode::value_response(200, &v, plain(Output::Json)));
        }
        "/api" | "/apis" => {
            let root = if path == "/api" { "api" } else { "apis" };
            let out = negotiate::negotiate(accept, Endpoint::DiscoveryRoot)?;
            if let Output::Discovery(v) = out {
                // APIService ordering and aggregated APIs' groups (src/aggregator).
                let (doc, etag) = &crate::aggregator::aggregated(app, root, v, &disco.aggregated[&(root, v)]);
                let mut r = if header(&req.headers, "if-none-match") == Some(etag.as_str()) {
                    encode::bytes_response(304, &out.content_type(), Bytes::new())
                } else {
                    encode::bytes_response(200, &out.content_type(), doc.clone())
                };
                if let Ok(v) = HeaderValue::from_str(etag) {
                    r.headers_mut().insert(http::header::ETAG, v);
                }
                r.headers_mut()
                    .insert(http::header::VARY, HeaderValue::from_static("Accept"));
                return Ok(r);
            }
            let doc = if root == "api" {
                &disco.api_versions
            } else {
                &crate::aggregator::group_list(app, &disco.group_list)
            };
            return Ok(doc_response(doc, out));
        }
        p if p.starts_with("/openapi/") || p == "/openapi" => return super::openapi::respond(app, req, p),
        "/metrics" => {
            let text = app.metrics.render(&app.object_counts());
            return Ok(encode::bytes_response(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                Bytes::from(text),
            ));
        }
        _ => {}
    }
    // `/apis/<group>[/<version>]` of aggregated APIs: served or proxied by src/aggregator.
    if let Some(r) = crate::aggregator::non_resource(app, req, path).await {
        return r;
    }
    let key = path.trim_start_matches("/apis/").trim_start_matches("/api/");
    if path.starts_with("/api/") || path.starts_with("/apis/") {
        if let Some(doc) = disco.docs.get(key) {
            let out = negotiate::negotiate(accept, Endpoint::Plain)?;
            return Ok(doc_response(doc, out));
        }
    }
    Err(not_found())
}

fn doc_response(doc: &Bytes, out: Output) -> Response {
    match out {
        Output::Yaml => {
            let v: Value = serde_json::from_slice(doc).unwrap_or(Value::Null);
            encode::value_response(
                200,
                &v,
                Encoding {
                    output: Output::Yaml,
                    pretty: false,
                    include: IncludeObject::Metadata,
                },
            )
        }
        _ => encode::bytes_response(200, "application/json", doc.clone()),
    }
}

/// Request body encodings we decode.
const BODY_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// Decode a request body (JSON or YAML) into an object of the row's kind.
fn decode_object(def: &ResourceDef, headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    let bt = negotiate::body_type(header(headers, "content-type"))
        .map_err(|ct| ApiError::unsupported_media_type(&ct, BODY_TYPES))?;
    let mut v: Value = match bt {
        BodyType::Json => {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))?
        }
        BodyType::Yaml => yaml_serde::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?,
        BodyType::Protobuf => super::protobuf::decode_body(body).map_err(ApiError::bad_request)?,
        _ => return Err(ApiError::unsupported_media_type("", BODY_TYPES)),
    };
    check_kind(def, &mut v)?;
    Ok(v)
}

/// The body's apiVersion/kind must match the URL (missing ones default from it).
fn check_kind(def: &ResourceDef, v: &mut Value) -> ApiResult<()> {
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    };
    let want_av = def.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )))
        }
        _ => {}
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("kind".into(), json!(def.kind));
        }
        Some(k) if k != def.kind => {
            return Err(ApiError::bad_request(format!(
                "{k} in version \"{}\" cannot be handled as a {}: the kind in the data ({k}) does not match the expected kind ({})",
                def.version, def.kind, def.kind
            )))
        }
        _ => {}
    }
    if obj.get("metadata").is_some_and(|m| !m.is_object() && !m.is_null()) {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: metadata must be an object",
            def.kind, def.version, def.kind
        )));
    }
    Ok(())
}

async fn resource(
    app: &Arc<App>,
    req: &RawRequest,
    info: &RequestInfo,
    query: &Query,
    body: ApiResult<Bytes>,
) -> ApiResult<Response> {
    // Connect-style subresources, binding and eviction: src/proxy.
    let body = match crate::proxy::serve(app, req, info, body).await {
        crate::proxy::Outcome::Done(r) => return r,
        crate::proxy::Outcome::Pass(b) => b,
    };
    // Group/versions of service-backed APIServices: proxied to the extension API server.
    if let Some(r) = crate::aggregator::resource(app, req, &info.group, &info.version, &body).await {
        return r;
    }
    // Predicted to be proxied but not (an APIService changed meanwhile): read it as usual.
    let body = match req.take_body_stream() {
        Some(s) => read_body(s, app.max_body).await,
        None => body,
    };
    let def = app
        .find(&info.group, &info.version, &info.resource)
        .ok_or_else(not_found)?;
    if def.served == Served::Review
        || info
            .subresource
            .as_deref()
            .and_then(|s| def.subresource(s))
            .is_some_and(|s| s.served == Served::Review)
    {
        return crate::auth::review(app, req, info, def, query, body?).await;
    }
    if let Served::NotYet(issue) = def.served {
        return Err(ApiError::not_implemented(&format!(
            "{} ({} issue)",
            crate::error::qualified(def.plural, def.group),
            issue
        )));
    }
    let ns = if def.namespaced() {
        info.namespace.as_deref()
    } else {
        None
    };
    if !def.namespaced() && info.namespace.is_some() {
        return Err(not_found());
    }
    let sub = info.subresource.as_deref();
    if let Some(s) = sub {
        let sdef = def.subresource(s).ok_or_else(not_found)?;
        if let Served::NotYet(issue) = sdef.served {
            return Err(ApiError::not_implemented(&format!(
                "{}/{} ({} issue)",
                def.plural, s, issue
            )));
        }
        if !sdef.verbs.contains(&info.verb.as_str()) {
            return Err(method_not_allowed());
        }
    } else if !def.has_verb(&info.verb) {
        return Err(method_not_allowed());
    }
    if def.namespaced() && ns.is_none() && !matches!(info.verb.as_str(), "list" | "watch") {
        return Err(not_found());
    }
    let accept = header(&req.headers, "accept");
    let reads = matches!(info.verb.as_str(), "get" | "list" | "watch");
    let output = negotiate::negotiate(accept, if reads { Endpoint::Read } else { Endpoint::Plain })?;
    let enc = Encoding {
        output,
        pretty: query.flag("pretty").unwrap_or(false),
        include: IncludeObject::parse(query.get("includeObject")),
    };
    let reg = &app.registry;
    let name = info.name.as_deref().unwrap_or("");
    let dry_run = query.dry_run()?;
    match (info.verb.as_str(), sub) {
        ("get", Some("scale")) => Ok(encode::value_response(200, &reg.scale(def, ns, name).await?, enc)),
        ("get", _) => {
            let rv = match query.get("resourceVersion").filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(
                    s.parse::<i64>()
                        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
                ),
            };
            let obj = reg.get(def, ns, name, rv).await?;
            Ok(encode::object_response(200, def, &obj, enc))
        }
        ("list", _) => {
            let opts = ListOptions::from_query(query, false)?;
            let list = reg.list(def, ns, &opts).await?;
            Ok(encode::list_response(def, list, enc))
        }
        ("watch", _) => {
            let mut opts = ListOptions::from_query(query, info.watch_path)?;
            opts.watch = true;
            if let Some(n) = info.name.as_deref() {
                // A watch on a single object path: select it by name.
                opts.field_selector
                    .requirements
                    .push(crate::registry::selector::FieldRequirement {
                        field: "metadata.name".into(),
                        op: crate::registry::selector::FieldOp::Equals,
                        value: n.to_string(),
                    });
            }
            let timeout = match opts.timeout_seconds {
                Some(t) => Duration::from_secs(t),
                None => {
                    let min = app.min_request_timeout.as_secs().max(1);
                    Duration::from_secs(min + rand::random::<u64>() % min)
                }
            };
            let rx = reg.watch(def, ns, opts, timeout).await?;
            let def = *def;
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
                .map(move |out| Ok::<Bytes, std::convert::Infallible>(encode::watch_frame(&def, &out, enc)));
            let mut r = warp::reply::stream(stream).into_response();
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut().insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, private"),
            );
            Ok(r)
        }
        ("create", None) => {
            let body = body?;
            let mut obj = decode_object(def, &req.headers, &body)?;
            let warnings = validate_fields(def, query, "CreateOptions", &mut obj, Some(&body))?;
            let schemas = crate::api::schema::builtin();
            let root = schemas.root_for(def.group, def.version, def.kind);
            let manager = field_manager(req, query);
            patch::record_update(None, &mut obj, &manager, &def.api_version(), None, schemas, root);
            crate::auth::authz::escalation::check(&app.auth, req.user.as_ref(), def, ns, &obj)?;
            let actx = crate::admission::Context::for_request(app, req.user.as_ref(), None);
            let created = reg.create_with(def, ns, obj, dry_run, Some(&actx)).await?;
            let mut resp = with_warnings(
                encode::object_response(201, def, &created, enc),
                &[warnings, actx.warnings()].concat(),
            );
            actx.annotate_response(&mut resp);
            Ok(resp)
        }
        ("update", Some("scale")) => {
            let body = body?;
            let v: Value = decode_any(&req.headers, &body)?;
            let actx = crate::admission::Context::for_request(app, req.user.as_ref(), Some("scale"));
            let scale = reg.update_scale(def, ns, name, &v, dry_run, Some(&actx)).await?;
            let mut resp = with_warnings(encode::value_response(200, &scale, enc), &actx.warnings());
            actx.annotate_response(&mut resp);
            Ok(resp)
        }
        ("update", s) => {
            let body = body?;
            let mut obj = decode_object(def, &req.headers, &body)?;
            let warnings = validate_fields(def, query, "UpdateOptions", &mut obj, Some(&body))?;
            let part = part_of(s);
            let manager = field_manager(req, query);
            crate::auth::authz::escalation::check(&app.auth, req.user.as_ref(), def, ns, &obj)?;
            let actx = crate::admission::Context::for_request(app, req.user.as_ref(), s);
            let updated = reg
                .update_with(def, ns, name, obj, part, dry_run, Some(&manager), Some(&actx))
                .await?;
            let mut resp = with_warnings(
                encode::object_response(200, def, &updated, enc),
                &[warnings, actx.warnings()].concat(),
            );
            actx.annotate_response(&mut resp);
            Ok(resp)
        }
        ("patch", s) => {
            let body = body?;
            patch_resource(app, req, query, def, ns, name, s, &body, dry_run, enc).await
        }
        ("delete", None) => {
            let body = body?;
            let opts_body: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(decode_any(&req.headers, &body)?)
            };
            let opts = DeleteOptions::parse(query, opts_body.as_ref())?;
            match reg
                .delete_with(
                    def,
                    ns,
                    name,
                    &opts,
                    Some(&crate::admission::Context::for_request(app, req.user.as_ref(), None)),
                )
                .await?
            {
                Deleted::Gone(obj) => {
                    if returns_deleted_object(def) {
                        Ok(encode::object_response(200, def, &obj, enc))
                    } else {
                        Ok(encode::value_response(200, &encode::delete_status(def, &obj), enc))
                    }
                }
                Deleted::Pending(obj) => {
                    let code = if opts.orphan_dependents == Some(false) {
                        202
                    } else {
                        200
                    };
                    Ok(encode::object_response(code, def, &obj, enc))
                }
            }
        }
        ("deletecollection", None) => {
            let body = body?;
            let opts_body: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(decode_any(&req.headers, &body)?)
            };
            let list_opts = ListOptions::from_query(query, false)?;
            let opts = DeleteOptions::parse(query, opts_body.as_ref())?;
            let actx = crate::admission::Context::for_request(app, req.user.as_ref(), None);
            let deleted = reg
                .delete_collection_with(def, ns, &list_opts, &opts, Some(&actx))
                .await?;
            Ok(encode::list_response(def, deleted, enc))
        }
        _ => Err(method_not_allowed()),
    }
}

/// Server-side field validation (`?fieldValidation=Strict|Warn|Ignore`, Warn by default):
/// unknown fields are pruned; Strict fails with 400, Warn returns the warnings for the
/// `Warning` header. `options` names the options kind for a bad directive.
fn validate_fields(
    def: &ResourceDef,
    query: &Query,
    options: &str,
    obj: &mut Value,
    raw_body: Option<&[u8]>,
) -> ApiResult<Vec<String>> {
    let directive = query.get("fieldValidation").unwrap_or("");
    if crate::api::schema::FieldValidation::parse(directive).is_none() {
        return Err(ApiError::invalid(
            options,
            "meta.k8s.io",
            "",
            &[crate::api::field::FieldError::not_supported(
                "fieldValidation",
                directive,
                &["Ignore", "Strict", "Warn"],
            )],
        ));
    }
    if let Some(r) = crate::apiext::field_validation(def, obj, directive) {
        return r; // custom resources: their CRD's schema
    }
    crate::api::schema::field_validation_raw(def.group, def.version, def.kind, obj, raw_body, directive)
}

/// Add upstream's `Warning: 299 - "<text>"` headers.
fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

/// `?fieldManager=`, else upstream's default: the User-Agent's program name.
fn field_manager(req: &RawRequest, query: &Query) -> String {
    match query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => patch::apply::manager_from_user_agent(header(&req.headers, "user-agent")),
    }
}

fn part_of(sub: Option<&str>) -> Part {
    match sub {
        Some("status") => Part::Status,
        Some("finalize") => Part::Finalize,
        Some("approval") => Part::Approval,
        _ => Part::Main,
    }
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    )
    .with_details(json!({}))
}

fn decode_any(headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    match negotiate::body_type(header(headers, "content-type")) {
        Ok(BodyType::Yaml) => yaml_serde::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}"))),
        Ok(BodyType::Protobuf) => super::protobuf::decode_body(body).map_err(ApiError::bad_request),
        _ => serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}"))),
    }
}

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

#[allow(clippy::too_many_arguments)]
async fn patch_resource(
    app: &Arc<App>,
    req: &RawRequest,
    query: &Query,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: &Bytes,
    dry_run: bool,
    enc: Encoding,
) -> ApiResult<Response> {
    let bt = negotiate::body_type(header(&req.headers, "content-type"))
        .map_err(|ct| ApiError::unsupported_media_type(&ct, PATCH_TYPES))?;
    if matches!(bt, BodyType::Json | BodyType::Yaml | BodyType::Protobuf) {
        return Err(ApiError::unsupported_media_type("", PATCH_TYPES));
    }
    let is_apply = bt == BodyType::ApplyPatch;
    // PatchOptions: fieldManager (required for apply), force (apply only).
    let field_manager = query.get("fieldManager").unwrap_or("");
    let mut opt_errs = Vec::new();
    if !is_apply && query.get("force").is_some() {
        opt_errs.push(crate::api::field::FieldError::forbidden(
            "force",
            "may not be specified for non-apply patch",
        ));
    }
    if is_apply && field_manager.is_empty() {
        opt_errs.push(crate::api::field::FieldError::required(
            "fieldManager",
            "is required for apply patch",
        ));
    }
    if field_manager.len() > 128 {
        opt_errs.push(crate::api::field::FieldError::too_long("fieldManager", 128));
    }
    let directive = query.get("fieldValidation").unwrap_or("");
    if crate::api::schema::FieldValidation::parse(directive).is_none() {
        opt_errs.push(crate::api::field::FieldError::not_supported(
            "fieldValidation",
            directive,
            &["Ignore", "Strict", "Warn"],
        ));
    }
    if !opt_errs.is_empty() {
        return Err(ApiError::invalid("PatchOptions", "meta.k8s.io", "", &opt_errs));
    }
    let force = query.flag("force")?;
    let manager = if field_manager.is_empty() {
        patch::apply::manager_from_user_agent(header(&req.headers, "user-agent"))
    } else {
        field_manager.to_string()
    };
    // The schema drives strategic merge patch and apply; kinds without one (custom resources)
    // take no strategic merge patch, as upstream. (While no schema is built in at all, patches
    // run schema-less.)
    let schemas = crate::api::schema::builtin();
    let root = if sub == Some("scale") {
        schemas.root_for("autoscaling", "v1", "Scale")
    } else {
        schemas.root_for(def.group, def.version, def.kind)
    };
    if bt == BodyType::StrategicMergePatch && root.is_none() && sub != Some("scale") && !schemas.kinds.is_empty() {
        return Err(ApiError::unsupported_media_type(
            "application/strategic-merge-patch+json",
            PATCH_TYPES,
        ));
    }
    let api_version = def.api_version();
    let reg = &app.registry;
    if is_apply {
        let actx = crate::admission::Context::for_request(app, req.user.as_ref(), sub);
        return apply_resource(
            app, def, ns, name, sub, body, dry_run, enc, &manager, force, root, &actx,
        )
        .await;
    }
    let patch_doc: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let apply = |target: &mut Value| -> ApiResult<()> {
        match bt {
            BodyType::MergePatch => {
                patch::merge_patch(target, &patch_doc);
                Ok(())
            }
            BodyType::JsonPatch => patch::json_patch(target, &patch_doc).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            }),
            BodyType::StrategicMergePatch => {
                *target = patch::strategic_merge(target, &patch_doc, schemas, root).map_err(ApiError::bad_request)?;
                Ok(())
            }
            _ => Err(ApiError::unsupported_media_type("", PATCH_TYPES)),
        }
    };
    for _ in 0..8 {
        if sub == Some("scale") {
            let mut scale = reg.scale(def, ns, name).await?;
            apply(&mut scale)?;
            let actx = crate::admission::Context::for_request(app, req.user.as_ref(), sub);
            let scale = reg.update_scale(def, ns, name, &scale, dry_run, Some(&actx)).await?;
            let mut resp = with_warnings(encode::value_response(200, &scale, enc), &actx.warnings());
            actx.annotate_response(&mut resp);
            return Ok(resp);
        }
        let current = reg.get(def, ns, name, None).await?;
        let live = encode::served_value(def, &current).unwrap_or_else(|| current.value.clone());
        let mut target = live.clone();
        apply(&mut target)?;
        check_kind(def, &mut target)?;
        // Unknown fields in the patched object: pruned; Strict fails as upstream's patchers do
        // (`strict decoding error: unknown field "spec.foo"`, 400), Warn returns warnings.
        let mode =
            crate::api::schema::FieldValidation::parse(directive).unwrap_or(crate::api::schema::FieldValidation::Warn);
        let mut warnings = Vec::new();
        if let Some(r) = root {
            if mode != crate::api::schema::FieldValidation::Ignore {
                warnings = crate::api::schema::unknown_fields(schemas, r, &target)
                    .into_iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
            }
            crate::api::schema::prune(schemas, r, &mut target);
        }
        if mode != crate::api::schema::FieldValidation::Ignore {
            // Custom resources: unknown to their CRD's schema.
            if let Some(unknown) = crate::apiext::unknown_fields(def, &target) {
                warnings.extend(unknown.into_iter().map(|p| format!("unknown field \"{p}\"")));
            }
        }
        if mode == crate::api::schema::FieldValidation::Strict && !warnings.is_empty() {
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                warnings.join(", ")
            )));
        }
        if mode != crate::api::schema::FieldValidation::Warn {
            warnings.clear();
        }
        patch::record_update(Some(&live), &mut target, &manager, &api_version, sub, schemas, root);
        crate::auth::authz::escalation::check(&app.auth, req.user.as_ref(), def, ns, &target)?;
        // The patch applies to what was read: keep that resourceVersion unless the patch set one.
        if target.pointer("/metadata/resourceVersion").is_none() {
            target["metadata"]["resourceVersion"] = json!(current.revision.to_string());
        }
        let explicit_rv = patch_doc.pointer("/metadata/resourceVersion").is_some();
        let actx = crate::admission::Context::for_request(app, req.user.as_ref(), sub);
        match reg
            .update_with(def, ns, name, target, part_of(sub), dry_run, None, Some(&actx))
            .await
        {
            Ok(updated) => {
                let mut resp = with_warnings(
                    encode::object_response(200, def, &updated, enc),
                    &[warnings, actx.warnings()].concat(),
                );
                actx.annotate_response(&mut resp);
                return Ok(resp);
            }
            Err(e) if e.code == 409 && e.reason == "Conflict" && !explicit_rv => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(
        def.plural,
        def.group,
        name,
        "too many concurrent patches",
    ))
}

/// `application/apply-patch+yaml`: server-side apply; creates the object when it is missing.
#[allow(clippy::too_many_arguments)]
async fn apply_resource(
    app: &Arc<App>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: &Bytes,
    dry_run: bool,
    enc: Encoding,
    manager: &str,
    force: bool,
    root: Option<&crate::api::schema::Node>,
    actx: &crate::admission::Context,
) -> ApiResult<Response> {
    if sub == Some("scale") {
        return Err(ApiError::unsupported_media_type(
            "application/apply-patch+yaml",
            PATCH_TYPES,
        ));
    }
    let schemas = crate::api::schema::builtin();
    let api_version = def.api_version();
    let applied: Value =
        yaml_serde::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            String::from_utf8_lossy(body).trim()
        )));
    }
    let av = applied.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = applied.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            String::from_utf8_lossy(body).trim()
        )));
    }
    if av != api_version {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {api_version}"
        )));
    }
    let mut checked = applied.clone();
    check_kind(def, &mut checked)?;
    let obj_name = applied.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if obj_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({name})"
        )));
    }
    if let (Some(url_ns), Some(obj_ns)) = (ns, applied.pointer("/metadata/namespace").and_then(Value::as_str)) {
        if !obj_ns.is_empty() && obj_ns != url_ns {
            return Err(ApiError::bad_request(format!(
                "the namespace of the object ({obj_ns}) does not match the namespace on the request ({url_ns})"
            )));
        }
    }
    // Apply always requires the configuration to fit the schema (structured-merge-diff's typed
    // conversion), whatever `fieldValidation` says.
    let mut undeclared = patch::apply::undeclared_fields(&applied, schemas, root);
    if let Some(unknown) = crate::apiext::unknown_fields(def, &applied) {
        // Custom resources: fields their CRD's schema does not declare.
        undeclared.extend(unknown.iter().map(|p| format!(".{p}: field not declared in schema")));
    }
    if !undeclared.is_empty() {
        return Err(patch::apply::typed_patch_error(&applied, &undeclared));
    }
    let explicit_rv = applied.pointer("/metadata/resourceVersion").is_some();
    let reg = &app.registry;
    for _ in 0..8 {
        let live = match reg.get(def, ns, name, None).await {
            Ok(current) => Some((
                encode::served_value(def, &current).unwrap_or_else(|| current.value.clone()),
                current.revision,
            )),
            Err(e) if e.code == 404 && sub.is_none() => None,
            Err(e) => return Err(e),
        };
        let Some((live, revision)) = live else {
            let obj = patch::apply(None, &applied, manager, force, &api_version, sub, schemas, root)
                .map_err(|e| e.to_api_error())?;
            crate::auth::authz::escalation::check(&app.auth, Some(&actx.user), def, ns, &obj)?;
            match reg.create_with(def, ns, obj, dry_run, Some(actx)).await {
                Ok(created) => {
                    let mut resp = with_warnings(encode::object_response(201, def, &created, enc), &actx.warnings());
                    actx.annotate_response(&mut resp);
                    return Ok(resp);
                }
                Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                Err(e) => return Err(e),
            }
        };
        let mut target = patch::apply(Some(&live), &applied, manager, force, &api_version, sub, schemas, root)
            .map_err(|e| e.to_api_error())?;
        crate::auth::authz::escalation::check(&app.auth, Some(&actx.user), def, ns, &target)?;
        if !explicit_rv {
            target["metadata"]["resourceVersion"] = json!(revision.to_string());
        }
        match reg
            .update_with(def, ns, name, target, part_of(sub), dry_run, None, Some(actx))
            .await
        {
            Ok(updated) => {
                let mut resp = with_warnings(encode::object_response(200, def, &updated, enc), &actx.warnings());
                actx.annotate_response(&mut resp);
                return Ok(resp);
            }
            Err(e) if e.code == 409 && e.reason == "Conflict" && !explicit_rv => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(
        def.plural,
        def.group,
        name,
        "too many concurrent patches",
    ))
}
