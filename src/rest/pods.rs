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
use serde_json::{json, Value};
use warp::reply::Response;

pub async fn serve(rest: &Rest<'_>, req: &Request, write: PodWrite) -> ApiResult<Response> {
    let info = &req.info;
    let ns = info.namespace.as_deref().unwrap_or("");
    let name = info.name.as_deref().unwrap_or("");
    let reg = rest.registry;
    match write {
        PodWrite::Binding => {
            let binding = rest.decoded(req).await?;
            let url_pod = info.subresource.as_ref().map(|_| name);
            pods::binding::bind(reg, ns, url_pod, &binding, req.query.get("dryRun").is_some()).await?;
            Ok(success(req, 201))
        }
        PodWrite::Eviction => {
            let eviction = rest.decoded(req).await?;
            pods::eviction::evict(reg, ns, name, &eviction, &req.query).await?;
            Ok(success(req, 201))
        }
        PodWrite::EphemeralContainers => ephemeral_containers(rest, req, ns, name).await,
    }
}

/// Upstream's `Success` Status.
fn success(req: &Request, code: u16) -> Response {
    let v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code});
    json_response(req, code, &v)
}

/// JSON, or protobuf when the client asks for it (the scheduler's binding POST does).
fn json_response(req: &Request, code: u16, v: &Value) -> Response {
    let output =
        negotiate::negotiate(req.header("accept"), negotiate::Endpoint::Plain, true).unwrap_or(negotiate::Output::Json);
    let enc = encode::Encoding {
        output,
        pretty: false,
        include: encode::IncludeObject::Metadata,
    };
    encode::value_response(code, v, enc)
}

/// `pods/{name}/ephemeralcontainers` (`kubectl debug`): get, update (PUT), or a JSON, merge or
/// strategic merge patch of the pod.
async fn ephemeral_containers(rest: &Rest<'_>, req: &Request, ns: &str, name: &str) -> ApiResult<Response> {
    let reg = rest.registry;
    if req.info.verb == "get" {
        let pods = crate::api::builtin_row("", "pods").ok_or_else(|| ApiError::internal("no pods resource"))?;
        return Ok(json_response(
            req,
            200,
            &reg.get(pods, Some(ns), name, None).await?.value,
        ));
    }
    let bt = negotiate::body_type(req.header("content-type")).map_err(|c| {
        ApiError::unsupported_media_type(&c, &["application/json", "application/strategic-merge-patch+json"])
    })?;
    let doc = rest.decoded(req).await?;
    let schemas = crate::api::schema::builtin();
    let root = schemas.root_for("", "v1", "Pod");
    let update = req.info.verb == "update";
    let change = |pod: &Value| -> ApiResult<Value> {
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
    let updated = pods::ephemeral::update(reg, ns, name, update, change).await?;
    Ok(json_response(req, 200, &updated))
}
