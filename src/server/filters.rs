//! The filter chain every request passes, in upstream's order (`pkg/server/filters`):
//! authenticate → audit (RequestReceived) → impersonate → API Priority and Fairness (or the
//! max-in-flight limit) → authorize → dispatch, then metrics and audit (ResponseComplete).
//! Panics become 500s.

use super::App;
use crate::auth::authz::{forbidden, Attributes};
use crate::codec::encode;
use crate::error::ApiError;
use crate::flowcontrol::queueset::Seat;
use crate::flowcontrol::{Classification, Decision, Gate, Inflight};
use crate::request::{Query, Request, RequestInfo, UserInfo};
use bytes::Bytes;
use http::HeaderValue;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use warp::reply::Response;

/// Requests that hold a connection open and are exempt from in-flight limits.
fn long_running(info: &RequestInfo) -> bool {
    matches!(info.verb.as_str(), "watch" | "proxy")
        || matches!(
            info.subresource.as_deref(),
            Some("proxy" | "exec" | "attach" | "portforward" | "log")
        )
}

/// Upstream's metric labels for a request.
fn metric_labels(req: &Request) -> crate::metrics::RequestLabels {
    let info = &req.info;
    let verb = if info.is_resource {
        match info.verb.as_str() {
            "create" => "POST",
            "update" => "PUT",
            "patch"
                if req
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/apply-patch")) =>
            {
                "APPLY"
            }
            other => return labels_with(info, &req.query, other.to_ascii_uppercase()),
        }
        .to_string()
    } else {
        req.method.as_str().to_string()
    };
    labels_with(info, &req.query, verb)
}

fn labels_with(info: &RequestInfo, query: &Query, verb: String) -> crate::metrics::RequestLabels {
    // Upstream's CleanScope: a create is scoped to the one resource it makes.
    let scope = if !info.is_resource {
        ""
    } else if info.name.is_some() || info.verb == "create" {
        "resource"
    } else if info.namespace.is_some() {
        "namespace"
    } else {
        "cluster"
    };
    crate::metrics::RequestLabels {
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

/// How much of an unread request body is read and discarded so the connection survives
/// (Go's `maxPostHandlerReadBytes`).
const UNREAD_BODY_DRAIN: usize = 256 << 10;

/// One request through upstream's filter order; the body stays unread until a handler asks
/// for it (proxies stream it, everything else reads it with `--max-request-body-bytes`).
pub async fn handle(app: Arc<App>, mut req: Request) -> Response {
    let started = std::time::Instant::now();
    // Authentication first (upstream WithAuthentication); a failure is still audited and
    // answered below, as the user nobody.
    let authn = app.auth.authenticator.authenticate(&req).await;
    req.user = authn.as_ref().ok().cloned();
    let nobody = UserInfo::default();
    let authn_user = req.user.as_ref().unwrap_or(&nobody);
    let (user, groups) = (authn_user.name.as_str(), authn_user.groups.as_slice());
    let uri = req.uri();
    let info = &req.info;
    let (audit_id, mut audit) = match &app.audit {
        Some(a) => a.begin(crate::audit::RequestMeta {
            audit_id: req.header("audit-id"),
            uri: uri.clone(),
            verb: &info.verb,
            user,
            groups,
            source_ips: crate::audit::source_ips(&req.headers, req.remote),
            user_agent: req.header("user-agent").unwrap_or(""),
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
            req.header("audit-id")
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
    let (resp, hold) = match access {
        Err(e) => (encode::error_response_as(&e, error_output(&req)), None),
        Ok(effective) => {
            req.user = Some(effective);
            serve_authenticated(&app, &req, audit.as_mut(), &mut panicked, started).await
        }
    };
    // A body nobody read (an error or a timeout came first) is drained, not reset.
    req.drain_body(UNREAD_BODY_DRAIN);
    // The object the handler decoded (JSON, YAML or protobuf), so objectRef and requestObject
    // are filled whatever the client sent, as upstream logs the decoded object.
    if let (Some(ra), Some(v)) = (audit.as_mut(), req.decoded()) {
        ra.set_request_value(v.clone());
    }
    app.metrics
        .observe_request(metric_labels(&req), resp.status().as_u16(), started.elapsed());
    tracing::debug!(
        verb = %req.info.verb, path = %req.path, code = resp.status().as_u16(),
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
    let mut resp = match (app.audit.clone(), audit) {
        (Some(a), Some(mut ra)) if panicked => {
            ra.set_response(resp.status().as_u16(), None);
            a.emit(&mut ra, crate::audit::policy::Stage::Panic);
            resp
        }
        (Some(a), Some(ra)) => crate::audit::finish(a, ra, resp, long_running(&req.info)).await,
        _ => resp,
    };
    if let Some(h) = hold {
        resp.extensions_mut().insert(h);
    }
    resp
}

/// A request the overload filter let through, holding what it occupies until it is dropped.
enum Admitted {
    /// Not limited: long-running requests, and `system:masters` past the in-flight limit.
    Free,
    /// APF: the FlowSchema and level (named in the response headers) and the seats.
    Apf(Classification, Executing<Seat>),
    /// Max-in-flight: the permit.
    Inflight(Executing<Inflight>),
}

/// What a running request holds, counted in `apiserver_current_inflight_requests` while held.
struct Executing<T> {
    _held: T,
    metrics: Arc<crate::metrics::Metrics>,
    mutating: bool,
}

impl<T> Executing<T> {
    fn new(held: T, metrics: &Arc<crate::metrics::Metrics>, verb: &str) -> Executing<T> {
        let mutating = crate::flowcontrol::maxinflight::is_mutating(verb);
        Self::gauge(metrics, mutating).fetch_add(1, Ordering::Relaxed);
        Executing {
            _held: held,
            metrics: metrics.clone(),
            mutating,
        }
    }

    fn gauge(metrics: &crate::metrics::Metrics, mutating: bool) -> &std::sync::atomic::AtomicI64 {
        if mutating {
            &metrics.inflight_mutating
        } else {
            &metrics.inflight_readonly
        }
    }
}

impl<T> Drop for Executing<T> {
    fn drop(&mut self) {
        Self::gauge(&self.metrics, self.mutating).fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a request may wait in an APF queue: a quarter of its deadline, at most a minute
/// (upstream `getRequestWaitContext`; `--request-timeout`/4 for requests without a deadline).
fn queue_wait(app: &App, deadline: Option<Duration>) -> Duration {
    let base = deadline.unwrap_or(app.limits.request_timeout);
    let base = if base.is_zero() { Duration::from_secs(60) } else { base };
    (base / 4).min(Duration::from_secs(60))
}

/// Upstream's 429 from either filter: plain text, `Retry-After`, and the APF headers.
fn too_many_requests(class: Option<&Classification>, retry_after: i64) -> Response {
    let mut r = encode::bytes_response(
        429,
        "text/plain; charset=utf-8",
        Bytes::from_static(crate::flowcontrol::TOO_MANY_REQUESTS.as_bytes()),
    );
    let h = r.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        h.insert(http::header::RETRY_AFTER, v);
    }
    if let Some(c) = class {
        set_apf_headers(&mut r, c);
    }
    r
}

/// `X-Kubernetes-PF-FlowSchema-UID` and `X-Kubernetes-PF-PriorityLevel-UID`.
fn set_apf_headers(r: &mut Response, c: &Classification) {
    for (name, v) in [
        ("x-kubernetes-pf-flowschema-uid", &c.flow_schema_uid),
        ("x-kubernetes-pf-prioritylevel-uid", &c.priority_level_uid),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(name, v);
        }
    }
}

/// The overload filter (upstream WithPriorityAndFairness, or WithMaxInFlightLimit when APF is
/// off): the request runs, or the client gets a 429.
async fn admit(app: &App, req: &Request, deadline: Option<Duration>) -> Result<Admitted, Response> {
    let info = &req.info;
    let nobody = UserInfo::default();
    let user = req.user.as_ref().unwrap_or(&nobody);
    match &app.flow {
        // Long-running requests other than watches bypass APF; watches hold a seat while they
        // start.
        Gate::Apf(_) if long_running(info) && info.verb != "watch" => Ok(Admitted::Free),
        Gate::Apf(apf) => match apf.admit(user, info, &req.query, queue_wait(app, deadline)).await {
            Decision::Run(class, seat) => Ok(Admitted::Apf(class, Executing::new(seat, &app.metrics, &info.verb))),
            Decision::Reject(class, retry_after) => {
                app.metrics.rejected();
                Err(too_many_requests(Some(&class), retry_after))
            }
        },
        Gate::MaxInflight(limits) => match limits.admit(&info.verb, long_running(info), user) {
            Inflight::Rejected { .. } => {
                app.metrics.rejected();
                Err(too_many_requests(None, 1))
            }
            held @ Inflight::Held(..) => Ok(Admitted::Inflight(Executing::new(held, &app.metrics, &info.verb))),
            Inflight::Exempt => Ok(Admitted::Free),
        },
    }
}

/// What a response holds until its body has been sent (or the connection dropped): the seats
/// of a request (upstream frees them when the handler has written the response), or a watch's
/// registration. The connection layer moves it from the response's extensions into the body.
#[derive(Clone)]
pub struct HoldUntilSent(pub Arc<dyn std::any::Any + Send + Sync>);

/// The overload filter, authorization (upstream WithPriorityAndFairness or
/// WithMaxInFlightLimit, then WithAuthorization), then the handler, with panics turned into
/// 500s, under `--request-timeout`.
async fn serve_authenticated(
    app: &Arc<App>,
    req: &Request,
    mut audit: Option<&mut crate::audit::RequestAudit>,
    panicked: &mut bool,
    started: std::time::Instant,
) -> (Response, Option<HoldUntilSent>) {
    let info = &req.info;
    // --request-timeout (upstream WithTimeoutForNonLongRunningRequests), counted from arrival.
    let deadline = super::hardening::request_deadline(app.limits.request_timeout, req.query.get("timeout"))
        .filter(|_| !long_running(info));
    let admitted = match admit(app, req, deadline).await {
        Ok(a) => a,
        Err(rejected) => return (rejected, None),
    };
    // A panic in a handler becomes a 500 and an audit `Panic` event, never a dropped
    // connection (upstream's WithPanicRecovery).
    let work = async {
        let nobody = UserInfo::default();
        let attrs = Attributes::of(req.user.as_ref().unwrap_or(&nobody), info)
            .with_field_selector(req.query.get("fieldSelector"));
        // Upstream's WithAuthorization: the decision and its reason (for an allow too,
        // e.g. which RBAC binding granted it) become audit annotations.
        let verdict = app.auth.authorizer.decide(&attrs).await;
        if let (false, Some(e)) = (verdict.allowed, &verdict.error) {
            // An authorizer failed and none allowed: upstream's InternalError, plain text.
            if let Some(ra) = audit.as_mut() {
                ra.annotate("authorization.k8s.io/reason", "internal error");
            }
            return Ok(encode::bytes_response(
                500,
                "text/plain; charset=utf-8",
                Bytes::from(format!("Internal Server Error: {:?}: {e}\n", req.uri())),
            ));
        }
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
        super::dispatch::dispatch(app, req).await
    };
    let work = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work));
    let outcome = match deadline {
        Some(d) => tokio::time::timeout_at((started + d).into(), work)
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
    let mut resp = result.unwrap_or_else(|e| encode::error_response_as(&e, error_output(req)));
    let hold = match admitted {
        Admitted::Apf(class, seat) => {
            set_apf_headers(&mut resp, &class);
            // A watch gives its seat back once started (its initial events are in the
            // response) and stays counted for the cost of writes while it streams.
            if info.verb == "watch" {
                drop(seat);
                match &app.flow {
                    Gate::Apf(apf) if resp.status().is_success() => {
                        apf.register_watch(info).map(|g| HoldUntilSent(Arc::new(g)))
                    }
                    _ => None,
                }
            } else {
                Some(HoldUntilSent(Arc::new(seat)))
            }
        }
        Admitted::Inflight(held) => Some(HoldUntilSent(Arc::new(held))),
        Admitted::Free => None,
    };
    (resp, hold)
}

/// The encoding of an error `Status`: protobuf when the client negotiated it for a built-in
/// API group (upstream's `ErrorNegotiated`), else JSON.
fn error_output(req: &Request) -> crate::codec::negotiate::Output {
    use crate::codec::negotiate::{negotiate, Endpoint, Output};
    let info = &req.info;
    // Status has a protobuf form wherever upstream's serializer is the built-in codecs: built-in
    // resources, discovery and /version (custom resources answer errors in JSON).
    let discovery =
        req.path == "/version" || req.path == "/api" || req.path.starts_with("/api/") || req.path.starts_with("/apis");
    let pb = if info.is_resource {
        crate::protobuf::has_group_version(&info.group, &info.version)
    } else {
        discovery
    };
    negotiate(req.header("accept"), Endpoint::Plain, pb).unwrap_or(Output::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(method: http::Method, path: &str, query: &str) -> (String, &'static str) {
        let req = Request::new(method, path.into(), query.into(), http::HeaderMap::new(), None);
        let l = metric_labels(&req);
        (l.verb, l.scope)
    }

    #[test]
    fn scope_and_verb_labels_as_upstream_clean_scope() {
        use http::Method;
        let ns = "/api/v1/namespaces/ns/pods";
        assert_eq!(labels(Method::POST, ns, ""), ("POST".into(), "resource"));
        assert_eq!(labels(Method::GET, ns, ""), ("LIST".into(), "namespace"));
        assert_eq!(labels(Method::GET, ns, "watch=true"), ("WATCH".into(), "namespace"));
        assert_eq!(labels(Method::GET, "/api/v1/pods", ""), ("LIST".into(), "cluster"));
        assert_eq!(
            labels(Method::POST, "/api/v1/namespaces", ""),
            ("POST".into(), "resource")
        );
        assert_eq!(
            labels(Method::POST, "/api/v1/namespaces/ns/pods/p/binding", ""),
            ("POST".into(), "resource")
        );
        assert_eq!(labels(Method::DELETE, ns, ""), ("DELETECOLLECTION".into(), "namespace"));
        assert_eq!(
            labels(Method::PUT, "/api/v1/namespaces/ns/pods/p/status", ""),
            ("PUT".into(), "resource")
        );
        assert_eq!(labels(Method::GET, "/healthz", ""), ("GET".into(), ""));
    }
}
