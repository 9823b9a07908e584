//! The filter chain every request passes, in upstream's order (`pkg/server/filters`):
//! authenticate → audit (RequestReceived) → impersonate → in-flight limit → authorize →
//! dispatch, then metrics and audit (ResponseComplete). Panics become 500s.

use super::App;
use crate::auth::authz::{forbidden, Attributes};
use crate::codec::encode;
use crate::error::ApiError;
use crate::request::{Query, Request, RequestInfo, UserInfo};
use bytes::Bytes;
use http::HeaderValue;
use std::sync::Arc;
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
    let scope = if !info.is_resource {
        ""
    } else if info.name.is_some() {
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
    let resp = match access {
        Err(e) => encode::error_response_as(&e, error_output(&req)),
        Ok(effective) => {
            req.user = Some(effective);
            serve_authenticated(&app, &req, audit.as_mut(), &mut panicked).await
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
    match (app.audit.clone(), audit) {
        (Some(a), Some(mut ra)) if panicked => {
            ra.set_response(resp.status().as_u16(), None);
            a.emit(&mut ra, crate::audit::policy::Stage::Panic);
            resp
        }
        (Some(a), Some(ra)) => crate::audit::finish(a, ra, resp, long_running(&req.info)).await,
        _ => resp,
    }
}

/// In-flight limit, authorization (upstream WithMaxInFlightLimit + WithAuthorization), then the
/// handler, with panics turned into 500s.
async fn serve_authenticated(
    app: &Arc<App>,
    req: &Request,
    mut audit: Option<&mut crate::audit::RequestAudit>,
    panicked: &mut bool,
) -> Response {
    let info = &req.info;
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
                crate::metrics::Permit::Held(_, true) => Some(&app.metrics.inflight_mutating),
                crate::metrics::Permit::Held(_, false) => Some(&app.metrics.inflight_readonly),
                crate::metrics::Permit::Exempt => None,
            };
            if let Some(g) = gauge {
                g.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
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
            // --request-timeout (upstream WithTimeoutForNonLongRunningRequests): a 504 Status.
            let deadline = super::hardening::request_deadline(app.limits.request_timeout, req.query.get("timeout"))
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
            result.unwrap_or_else(|e| encode::error_response_as(&e, error_output(req)))
        }
    }
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
