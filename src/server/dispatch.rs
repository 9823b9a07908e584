//! Where an authorized request goes: non-resource paths to the server's own endpoints; a
//! group/version of a service-backed APIService to the aggregator; everything else by its
//! row (or subresource) — `Served::Store`/`Pod` to the REST handlers, `Connect`/`Proxy` to the
//! proxy, `Review` to access control, `Probed` to the component status probes.

use super::App;
use crate::api::Served;
use crate::error::{ApiError, ApiResult};
use crate::request::Request;
use std::sync::Arc;
use warp::reply::Response;

pub async fn dispatch(app: &Arc<App>, req: &Request) -> ApiResult<Response> {
    let info = &req.info;
    if !info.is_resource {
        return super::nonresource::serve(app, req).await;
    }
    if info.verb == "proxy" {
        return crate::proxy::legacy(&app.proxy, &app.registry, req).await;
    }
    if let Some(svc) = app.aggregator.remote(&info.group, &info.version) {
        return Ok(app.aggregator.proxy(&app.registry, req, &svc).await);
    }
    let def = app
        .registry
        .find(&info.group, &info.version, &info.resource)
        .ok_or_else(crate::rest::not_found)?;
    let served = match info.subresource.as_deref() {
        Some(s) => def.subresource(s).map(|s| s.served).unwrap_or(def.served),
        None => def.served,
    };
    let resp = match served {
        Served::Store | Served::Pod(_) => crate::rest::serve(&app.rest(), req, def).await,
        Served::Connect => crate::proxy::connect(&app.proxy, &app.registry, app.connect_admission(), req).await,
        Served::Proxy => crate::proxy::proxy(&app.proxy, &app.registry, app.connect_admission(), req).await,
        Served::Review => {
            let body = req.body(app.max_body).await?;
            if def.group.is_empty() && def.plural == "serviceaccounts" && info.subresource.as_deref() == Some("token") {
                // TokenRequests are admitted (NodeRestriction binds a kubelet's tokens to its pods).
                let ctx = admit_token_request(app, req, def, &body).await?;
                let res = crate::auth::review(&app.auth, &app.registry, req, def, body).await;
                match &res {
                    Ok(_) => ctx.commit(),
                    Err(_) => crate::admission::rollback(&app.registry, &ctx).await,
                }
                return res;
            }
            crate::auth::review(&app.auth, &app.registry, req, def, body).await
        }
        Served::Probed => super::component_status::serve(app, req, def).await,
        Served::NotYet(issue) => Err(ApiError::not_implemented(&format!(
            "{}{} ({} issue)",
            crate::error::qualified(def.plural, def.group),
            info.subresource.as_deref().map(|s| format!("/{s}")).unwrap_or_default(),
            issue
        ))),
    };
    // A deprecated kind: every request of it says so, as upstream's deprecation filter does.
    match (def.strategy.deprecation_warning(), resp) {
        (Some(w), Ok(mut r)) if info.subresource.is_none() => {
            let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
            if let Ok(v) = http::HeaderValue::from_str(&text) {
                r.headers_mut().append("warning", v);
            }
            Ok(r)
        }
        (_, resp) => resp,
    }
}

/// CREATE admission of `serviceaccounts/<name>/token` with the decoded TokenRequest, before it
/// is issued. (Mutations by admission webhooks are not applied to the request.)
async fn admit_token_request(
    app: &Arc<App>,
    req: &Request,
    def: &crate::api::ResourceDef,
    body: &bytes::Bytes,
) -> ApiResult<crate::admission::Context> {
    let info = &req.info;
    let obj = crate::auth::authn::reviews::decode(req, body)?;
    let ctx = crate::admission::Context::for_request(&app.auth.authorizer, req.user.as_ref(), Some("token"));
    let mut a = crate::admission::Attributes::new(
        &ctx,
        crate::admission::Operation::Create,
        def,
        info.namespace.as_deref(),
        info.name.as_deref().unwrap_or(""),
    );
    a.subresource = "token".into();
    a.dry_run = req.query.get("dryRun").is_some();
    a.object = Some(obj);
    app.admission.admit_write(&app.registry, &ctx, &mut a).await?;
    Ok(ctx)
}
