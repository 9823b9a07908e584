//! HTTP for the pod writes beside the generic store (`crate::registry::pods`): decode the body
//! once, call the registry, answer as upstream (a `Success` Status for binding and eviction,
//! the pod for ephemeral containers).

use super::Rest;
use crate::api::PodWrite;
use crate::codec::encode;
use crate::codec::negotiate::{self, BodyType};
use crate::error::{ApiError, ApiResult};
use crate::registry::pods;
use crate::request::Request;
use bytes::Bytes;
use serde_json::{json, Value};
use warp::reply::Response;

pub async fn serve(rest: &Rest<'_>, req: &Request, write: PodWrite) -> ApiResult<Response> {
    let info = &req.info;
    let ns = info.namespace.as_deref().unwrap_or("");
    let name = info.name.as_deref().unwrap_or("");
    let reg = rest.registry;
    match write {
        PodWrite::Binding => {
            let dry_run = super::write_options(&req.query, "CreateOptions", Vec::new())?;
            let binding = rest.decoded_typed(req).await?;
            let url_pod = info.subresource.as_ref().map(|_| name);
            pods::binding::bind(reg, ns, url_pod, &binding, dry_run).await?;
            Ok(success(201))
        }
        PodWrite::Eviction => {
            super::write_options(&req.query, "CreateOptions", Vec::new())?;
            let eviction = rest.decoded_typed(req).await?;
            pods::eviction::evict(reg, ns, name, &eviction, &req.query).await?;
            Ok(success(201))
        }
        PodWrite::EphemeralContainers => ephemeral_containers(rest, req, ns, name).await,
    }
}

/// Upstream's `Success` Status.
fn success(code: u16) -> Response {
    let v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code});
    json_response(code, &v)
}

fn json_response(code: u16, v: &Value) -> Response {
    encode::bytes_response(
        code,
        "application/json",
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    )
}

/// `pods/{name}/ephemeralcontainers` (`kubectl debug`): get, update (PUT), or a JSON, merge or
/// strategic merge patch of the pod.
async fn ephemeral_containers(rest: &Rest<'_>, req: &Request, ns: &str, name: &str) -> ApiResult<Response> {
    let reg = rest.registry;
    let pods = crate::api::builtin_row("", "pods").ok_or_else(|| ApiError::internal("no pods resource"))?;
    if req.info.verb == "get" {
        return Ok(json_response(200, &reg.get(pods, Some(ns), name, None).await?.value));
    }
    let options = if req.info.verb == "update" {
        "UpdateOptions"
    } else {
        "PatchOptions"
    };
    let dry_run = super::write_options(&req.query, options, Vec::new())?;
    let bt = negotiate::body_type(req.header("content-type")).map_err(|c| {
        ApiError::unsupported_media_type(&c, &["application/json", "application/strategic-merge-patch+json"])
    })?;
    let doc = rest.decoded(req).await?;
    let schemas = crate::api::schema::builtin();
    let root = schemas.root_for("", "v1", "Pod");
    let update = req.info.verb == "update";
    let patched = |pod: &Value| -> ApiResult<Value> {
        match (update, bt) {
            (true, _) => Ok(doc.clone()),
            (false, BodyType::MergePatch) => {
                let mut t = pod.clone();
                crate::patch::merge_patch(&mut t, &doc);
                Ok(t)
            }
            (false, BodyType::JsonPatch) => {
                let mut t = pod.clone();
                crate::patch::json_patch(&mut t, &doc).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!("the server rejected our request due to an error in our request: {e}"),
                    )
                })?;
                Ok(t)
            }
            (false, BodyType::StrategicMergePatch) => {
                crate::patch::strategic_merge(pod, &doc, schemas, root).map_err(ApiError::bad_request)
            }
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )),
        }
    };
    let change = |pod: &Value| -> ApiResult<Value> {
        let mut changed = patched(pod)?;
        if update {
            crate::api::typed::normalize("", "v1", "Pod", &mut changed)
                .map_err(|e| ApiError::cannot_handle("Pod", "v1", &e))?;
        } else {
            let strategic = (bt == BodyType::StrategicMergePatch).then_some(&doc);
            crate::codec::normalize_patched(pods, &mut changed, strategic)?;
        }
        Ok(changed)
    };
    let updated = pods::ephemeral::update(reg, ns, name, update, dry_run, change).await?;
    Ok(json_response(200, &updated))
}
