//! The REST dispatcher for `Served::Store` and `Served::Pod` rows (upstream's
//! `endpoints/handlers`): decode the body once, check the options, hand the write to the
//! registry with the request's admission, and encode the answer as negotiated.
//!
//! ```text
//! server::dispatch ─► rest::serve ─► get | list | watch | create | update | patch (patch.rs) | delete
//!                                     └─► Registry (+ admission) ─► codec::encode
//! ```

mod patch;
mod pods;

use crate::admission::{AdmissionChain, Context};
use crate::api::{ResourceDef, Served};
use crate::auth::authz::Authorizer;
use crate::codec::encode::{self, Encoding, IncludeObject};
use crate::codec::negotiate::{self, Endpoint};
use crate::error::{ApiError, ApiResult};
use crate::registry::options::{DeleteOptions, ListOptions};
use crate::registry::store::{Deleted, Part};
use crate::registry::Registry;
use crate::request::Request;
use bytes::Bytes;
use http::HeaderValue;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use warp::reply::Response;
use warp::Reply;

/// What the REST handlers need of the server.
pub struct Rest<'a> {
    pub registry: &'a Registry,
    pub admission: &'a AdmissionChain,
    pub authorizer: &'a Arc<Authorizer>,
    /// `--max-request-body-bytes`.
    pub max_body: usize,
    /// `--min-request-timeout`: watches without `timeoutSeconds` last between it and twice it.
    pub min_request_timeout: Duration,
    /// Watches record the events they send here.
    pub metrics: &'a crate::metrics::Metrics,
}

impl Rest<'_> {
    /// The request's admission context: the effective user, the URL's subresource.
    fn admission_context(&self, req: &Request, sub: Option<&str>) -> Context {
        Context::for_request(self.authorizer, req.user.as_ref(), sub)
    }

    /// The body, read once with the limit.
    async fn body(&self, req: &Request) -> ApiResult<Bytes> {
        req.body(self.max_body).await
    }

    /// The body decoded by its Content-Type (JSON, YAML, protobuf), once per request.
    async fn decoded(&self, req: &Request) -> ApiResult<Value> {
        let body = self.body(req).await?;
        let ct = req.header("content-type");
        match req.decode_with(|b| crate::codec::decode_body(ct, b)) {
            Some(v) => v.clone(),
            None => crate::codec::decode_body(ct, &body),
        }
    }

    /// A subresource body that names its own kind (`Scale`, `Binding`, `Eviction`), with its
    /// typed values normalised as upstream's decoder of that kind does.
    async fn decoded_typed(&self, req: &Request) -> ApiResult<Value> {
        let mut v = self.decoded(req).await?;
        crate::codec::normalize_any(&mut v)?;
        Ok(v)
    }

    /// An object body of the row's kind, decoded once per request.
    async fn decoded_object(&self, req: &Request, def: &ResourceDef) -> ApiResult<(Value, Bytes)> {
        let body = self.body(req).await?;
        let ct = req.header("content-type");
        let v = match req.decode_with(|b| crate::codec::decode_object(def, ct, b)) {
            Some(v) => v.clone()?,
            None => crate::codec::decode_object(def, ct, &body)?,
        };
        Ok((v, body))
    }
}

pub fn not_found() -> ApiError {
    ApiError::new(404, "NotFound", "the server could not find the requested resource")
        .with_details(serde_json::json!({}))
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    )
    .with_details(serde_json::json!({}))
}

/// Serve a request for `def` (a `Store` or `Pod` row, or one of its subresources).
pub async fn serve(rest: &Rest<'_>, req: &Request, def: &'static ResourceDef) -> ApiResult<Response> {
    let info = &req.info;
    let query = &req.query;
    let ns = if def.namespaced() {
        info.namespace.as_deref()
    } else {
        None
    };
    if !def.namespaced() && info.namespace.is_some() {
        return Err(not_found());
    }
    let sub = info.subresource.as_deref();
    let served = match sub {
        Some(s) => {
            let sdef = def.subresource(s).ok_or_else(not_found)?;
            if !sdef.verbs.contains(&info.verb.as_str()) {
                return Err(method_not_allowed());
            }
            sdef.served
        }
        None => {
            if !def.has_verb(&info.verb) {
                return Err(method_not_allowed());
            }
            def.served
        }
    };
    if let Served::Pod(write) = served {
        return pods::serve(rest, req, def, write).await;
    }
    if def.namespaced() && ns.is_none() && !matches!(info.verb.as_str(), "list" | "watch") {
        return Err(not_found());
    }
    let reads = matches!(info.verb.as_str(), "get" | "list" | "watch");
    let output = negotiate::negotiate(
        req.header("accept"),
        if reads { Endpoint::Read } else { Endpoint::Plain },
        crate::protobuf::has_kind(&def.api_version(), def.kind),
    )?;
    let enc = Encoding {
        output,
        pretty: query.flag("pretty").unwrap_or(false),
        include: IncludeObject::parse(query.get("includeObject")),
    };
    let reg = rest.registry;
    let name = info.name.as_deref().unwrap_or("");
    let dry_run = match info.verb.as_str() {
        "create" => write_options(query, "CreateOptions", Vec::new())?,
        "update" => write_options(query, "UpdateOptions", Vec::new())?,
        // PatchOptions are checked with the patch's own rules; DeleteOptions with the body.
        _ => false,
    };
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
        ("watch", _) => watch(rest, req, def, ns, enc).await,
        ("create", None) => {
            let (mut obj, body) = rest.decoded_object(req, def).await?;
            let warnings = validate_fields(def, query, &mut obj, Some(&body))?;
            let schemas = crate::api::schema::builtin();
            let merge = crate::api::schema::merge_root(def);
            let manager = field_manager(req);
            // Decoding defaults the object before the field manager sees it (upstream), so the
            // creator owns the defaulted fields too.
            def.strategy.defaults(&mut obj);
            let root = merge.as_ref().map(|m| m.node());
            crate::patch::record_update(None, &mut obj, &manager, &def.api_version(), None, schemas, root);
            let ctx = rest.admission_context(req, None);
            let created = reg
                .create_with(def, ns, obj, dry_run, Some(&rest.admission.request(&ctx)))
                .await?;
            Ok(respond(
                encode::object_response(201, def, &created, enc),
                warnings,
                &ctx,
            ))
        }
        ("update", Some("scale")) => {
            let v = rest.decoded_typed(req).await?;
            let ctx = rest.admission_context(req, Some("scale"));
            let scale = reg
                .update_scale(def, ns, name, &v, dry_run, Some(&rest.admission.request(&ctx)))
                .await?;
            Ok(respond(encode::value_response(200, &scale, enc), Vec::new(), &ctx))
        }
        ("update", s) => {
            let (mut obj, body) = rest.decoded_object(req, def).await?;
            let warnings = validate_fields(def, query, &mut obj, Some(&body))?;
            let manager = field_manager(req);
            let ctx = rest.admission_context(req, s);
            let adm = rest.admission.request(&ctx);
            let uid = crate::registry::store::put_uid(&obj).map(str::to_owned);
            let updated = reg
                .update_with(
                    def,
                    ns,
                    name,
                    obj,
                    part_of(s),
                    dry_run,
                    Some(&manager),
                    Some(&adm),
                    uid.as_deref(),
                )
                .await?;
            Ok(respond(
                encode::object_response(200, def, &updated, enc),
                warnings,
                &ctx,
            ))
        }
        ("patch", s) => patch::patch(rest, req, def, ns, name, s, enc).await,
        ("delete", None) => {
            def.strategy.check_delete(name)?;
            let opts = delete_options(rest, req).await?;
            let ctx = rest.admission_context(req, None);
            match reg
                .delete_with(def, ns, name, &opts, Some(&rest.admission.request(&ctx)))
                .await?
            {
                Deleted::Gone(obj) if def.strategy.returns_deleted_object() => {
                    Ok(encode::object_response(200, def, &obj, enc))
                }
                Deleted::Gone(obj) => Ok(encode::value_response(200, &encode::delete_status(def, &obj), enc)),
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
            let opts = delete_options(rest, req).await?;
            let list_opts = ListOptions::from_query(query, false)?;
            let ctx = rest.admission_context(req, None);
            let deleted = reg
                .delete_collection_with(def, ns, &list_opts, &opts, Some(&rest.admission.request(&ctx)))
                .await?;
            Ok(encode::list_response(def, deleted, enc))
        }
        _ => Err(method_not_allowed()),
    }
}

/// DeleteOptions from the query and the (optional) body.
async fn delete_options(rest: &Rest<'_>, req: &Request) -> ApiResult<DeleteOptions> {
    let body = rest.body(req).await?;
    let opts_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(rest.decoded(req).await?)
    };
    DeleteOptions::parse(&req.query, opts_body.as_ref())
}

/// A watch stream: replay, then live events, until the timeout.
async fn watch(
    rest: &Rest<'_>,
    req: &Request,
    def: &'static ResourceDef,
    ns: Option<&str>,
    enc: Encoding,
) -> ApiResult<Response> {
    let info = &req.info;
    let mut opts = ListOptions::from_query(&req.query, info.watch_path)?;
    opts.watch = true;
    if let Some(n) = info.name.as_deref() {
        // A watch on a single object path: select it by name.
        opts.field_selector
            .requirements
            .push(crate::api::selector::FieldRequirement {
                field: "metadata.name".into(),
                op: crate::api::selector::FieldOp::Equals,
                value: n.to_string(),
            });
    }
    let timeout = match opts.timeout_seconds {
        Some(t) => Duration::from_secs(t),
        None => {
            let min = rest.min_request_timeout.as_secs().max(1);
            Duration::from_secs(min + rand::random::<u64>() % min)
        }
    };
    let rx = rest.registry.watch(def, ns, opts, timeout).await?;
    // The kind's counters travel with the watch: no lookup or reference count per event.
    let sent = rest.metrics.watch_events(def.group, def.version, def.kind);
    let stream = futures_util::stream::unfold((rx, sent), move |(mut rx, sent)| async move {
        let first = rx.recv().await?;
        let batch = watch_batch(def, enc, first, &mut rx, &sent);
        Some((Ok::<Bytes, std::convert::Infallible>(batch), (rx, sent)))
    });
    let mut r = warp::reply::stream(stream).into_response();
    let ct = if enc.output.is_protobuf() {
        crate::protobuf::MEDIA_TYPE_WATCH
    } else {
        "application/json"
    };
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(r)
}

/// Bytes a watcher that fell behind gets in one write at most.
const WATCH_BATCH_BYTES: usize = 64 * 1024;

/// `first`'s frame, followed by the frames of the events already queued behind it (up to
/// [`WATCH_BATCH_BYTES`]): a watcher that fell behind gets them in one chunk, so one TLS record
/// and one write instead of one per event (with 10,000 watchers, per-event writes were most of
/// the fan-out's cost). A watcher that keeps up still gets each event on its own, at once.
fn watch_batch(
    def: &'static ResourceDef,
    enc: Encoding,
    first: crate::registry::store::WatchOut,
    rx: &mut crate::registry::watch::Watch,
    sent: &crate::metrics::WatchEventStats,
) -> Bytes {
    let frame = |out: &crate::registry::store::WatchOut| {
        let f = encode::watch_frame(def, out, enc);
        sent.observe(f.object_len);
        f.bytes
    };
    let first = frame(&first);
    let Some(next) = rx.try_recv() else { return first };
    let mut batch = bytes::BytesMut::with_capacity(first.len() * 4);
    batch.extend_from_slice(&first);
    batch.extend_from_slice(&frame(&next));
    while batch.len() < WATCH_BATCH_BYTES {
        match rx.try_recv() {
            Some(out) => batch.extend_from_slice(&frame(&out)),
            None => break,
        }
    }
    batch.freeze()
}

/// `CreateOptions`/`UpdateOptions`/`PatchOptions` from the query, checked as upstream's
/// `Validate*Options` (with `errs`, the checks of the caller's own, first): `fieldManager` at
/// most 128 characters, `dryRun` only `All`, a known `fieldValidation`; every problem in one 422
/// on the options kind. Returns whether the write is a dry run.
pub(crate) fn write_options(
    query: &crate::request::Query,
    options: &str,
    mut errs: Vec<crate::error::field::FieldError>,
) -> ApiResult<bool> {
    use crate::error::field::FieldError;
    if query.get("fieldManager").is_some_and(|m| m.len() > 128) {
        errs.push(FieldError::too_long("fieldManager", 128));
    }
    let dry_run = query.all("dryRun");
    errs.extend(crate::request::dry_run_error(&dry_run));
    let directive = query.get("fieldValidation").unwrap_or("");
    if crate::api::schema::FieldValidation::parse(directive).is_none() {
        errs.push(FieldError::not_supported(
            "fieldValidation",
            directive,
            &["", "Ignore", "Strict", "Warn"],
        ));
    }
    if errs.is_empty() {
        Ok(!dry_run.is_empty())
    } else {
        Err(ApiError::invalid(options, "meta.k8s.io", "", &errs))
    }
}

/// Server-side field validation (`?fieldValidation=Strict|Warn|Ignore`, Warn by default):
/// unknown fields are pruned; Strict fails with 400, Warn returns the warnings for the
/// `Warning` header.
fn validate_fields(
    def: &ResourceDef,
    query: &crate::request::Query,
    obj: &mut Value,
    raw_body: Option<&[u8]>,
) -> ApiResult<Vec<String>> {
    use crate::api::schema::FieldValidation;
    let directive = query.get("fieldValidation").unwrap_or("");
    // An unknown directive was refused with the other options (`write_options`).
    let mode = FieldValidation::parse(directive).unwrap_or(FieldValidation::Warn);
    // Custom resources: unknown to their CRD's schema (the store prunes them later).
    if let Some(unknown) = def.strategy.unknown_fields(obj) {
        let problems: Vec<String> = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
        return match mode {
            FieldValidation::Strict if !problems.is_empty() => Err(ApiError::cannot_handle(
                def.kind,
                def.version,
                &format!("strict decoding error: {}", problems.join(", ")),
            )),
            FieldValidation::Warn => Ok(problems),
            _ => Ok(Vec::new()),
        };
    }
    crate::api::schema::field_validation_raw(def.group, def.version, def.kind, obj, raw_body, directive)
}

/// The response with upstream's `Warning: 299 - "<text>"` headers (the handler's, then
/// admission's) and admission's audit annotations.
fn respond(mut resp: Response, mut warnings: Vec<String>, ctx: &Context) -> Response {
    warnings.extend(ctx.warnings());
    for w in &warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    ctx.annotate_response(&mut resp);
    resp
}

/// `?fieldManager=`, else upstream's default: the User-Agent's program name.
fn field_manager(req: &Request) -> String {
    match req.query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => crate::patch::apply::manager_from_user_agent(req.header("user-agent")),
    }
}

fn part_of(sub: Option<&str>) -> Part {
    match sub {
        Some("status") => Part::Status,
        Some("finalize") => Part::Finalize,
        Some("approval") => Part::Approval,
        Some("resize") => Part::Resize,
        _ => Part::Main,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::negotiate::Output;
    use crate::registry::options::ListOptions;
    use crate::registry::watch::Watch;
    use crate::storage::cache::{CacheEvent, CacheEventType, CachedObject, Subscription, WatchMsg};

    fn event(i: usize) -> WatchMsg {
        let v = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("c{i}"), "namespace": "d", "resourceVersion": i.to_string()}});
        WatchMsg::Event(CacheEvent {
            kind: CacheEventType::Added,
            object: CachedObject::from_value(&format!("/registry/configmaps/d/c{i}"), v, i as i64),
            prev: None,
            revision: i as i64,
        })
    }

    #[tokio::test]
    async fn a_watch_batch_takes_what_is_queued_and_no_more() {
        let Some(def) = crate::api::builtin_row("", "configmaps") else {
            panic!("configmaps row")
        };
        let enc = Encoding {
            output: Output::Json,
            pretty: false,
            include: IncludeObject::Metadata,
        };
        let (tx, live) = tokio::sync::mpsc::channel(8);
        let sub = Subscription {
            initial: Vec::new(),
            revision: 0,
            rx: live,
        };
        let mut rx = Watch::new(*def, ListOptions::default(), sub, Duration::from_secs(60));
        for i in 1..=3 {
            tx.send(event(i)).await.unwrap_or_else(|_| panic!("send"));
        }
        let first = rx.recv().await.unwrap_or_else(|| panic!("recv"));
        let sent = crate::metrics::WatchEventStats::default();
        let batch = watch_batch(def, enc, first, &mut rx, &sent);
        let names: Vec<String> = std::str::from_utf8(&batch)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .map(|e| e["object"]["metadata"]["name"].to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(names, ["\"c1\"", "\"c2\"", "\"c3\""]);
        assert_eq!(sent.count(), 3, "each event of a batch is counted");
        // Nothing queued: the event goes out on its own.
        tx.send(event(4)).await.unwrap_or_else(|_| panic!("send"));
        let first = rx.recv().await.unwrap_or_else(|| panic!("recv"));
        assert_eq!(
            watch_batch(def, enc, first, &mut rx, &sent)
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            1
        );
        assert_eq!(sent.count(), 4);
    }
}
