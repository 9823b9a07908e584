//! HTTP for the pod writes beside the generic store (`crate::registry::pods`): decode the body
//! once, call the registry, answer as upstream (a `Success` Status for binding and eviction,
//! the pod for ephemeral containers).

use super::Rest;
use crate::admission::{Attributes, Context, Operation};
use crate::api::{PodWrite, ResourceDef};
use crate::codec::encode;
use crate::codec::negotiate::{self, BodyType};
use crate::error::{ApiError, ApiResult};
use crate::registry::pods;
use crate::request::Request;
use serde_json::{json, Value};
use warp::reply::Response;

pub async fn serve(rest: &Rest<'_>, req: &Request, def: &ResourceDef, write: PodWrite) -> ApiResult<Response> {
    let info = &req.info;
    let ns = info.namespace.as_deref().unwrap_or("");
    let name = info.name.as_deref().unwrap_or("");
    let reg = rest.registry;
    match write {
        PodWrite::Binding => {
            let dry_run = super::write_options(&req.query, "CreateOptions", Vec::new())?;
            let binding = rest.decoded_typed(req).await?;
            let url_pod = info.subresource.as_ref().map(|_| name);
            let pod_name = match url_pod {
                Some(n) => n.to_string(),
                None => binding
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            };
            let (ctx, binding) = admit(rest, req, def, &pod_name, binding, dry_run).await?;
            let copy_labels = rest.admission.features.enabled("PodTopologyLabelsAdmission");
            let res = pods::binding::bind(reg, ns, url_pod, &binding, dry_run, copy_labels).await;
            finish(rest, &ctx, res.is_ok()).await;
            res?;
            Ok(success(req, 201))
        }
        PodWrite::Eviction => {
            let dry_run = super::write_options(&req.query, "CreateOptions", Vec::new())?;
            let eviction = rest.decoded_typed(req).await?;
            let (ctx, eviction) = admit(rest, req, def, name, eviction, dry_run).await?;
            let res = pods::eviction::evict(reg, ns, name, &eviction, &req.query).await;
            finish(rest, &ctx, res.is_ok()).await;
            res?;
            Ok(success(req, 201))
        }
        PodWrite::EphemeralContainers => ephemeral_containers(rest, req, ns, name).await,
    }
}

/// Admission of a pod write the store does not admit (`pods/binding`, the legacy `bindings`,
/// `pods/eviction`): CREATE of the subresource with the decoded object, which comes back as
/// admitted.
async fn admit(
    rest: &Rest<'_>,
    req: &Request,
    def: &ResourceDef,
    name: &str,
    obj: Value,
    dry_run: bool,
) -> ApiResult<(Context, Value)> {
    let sub = req.info.subresource.as_deref();
    let ctx = rest.admission_context(req, sub);
    let mut a = Attributes::new(&ctx, Operation::Create, def, req.info.namespace.as_deref(), name);
    a.subresource = sub.unwrap_or("").to_string();
    a.dry_run = dry_run;
    a.object = Some(obj);
    rest.admission.admit_write(rest.registry, &ctx, &mut a).await?;
    let obj = a.object.take().unwrap_or(Value::Null);
    Ok((ctx, obj))
}

/// Keep what admission charged when the write succeeded, else undo it.
async fn finish(rest: &Rest<'_>, ctx: &Context, ok: bool) {
    if ok {
        ctx.commit();
    } else {
        crate::admission::rollback(rest.registry, ctx).await;
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
    let pods = crate::api::builtin_row("", "pods").ok_or_else(|| ApiError::internal("no pods resource"))?;
    if req.info.verb == "get" {
        return Ok(json_response(
            req,
            200,
            &reg.get(pods, Some(ns), name, None).await?.value(),
        ));
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
    // Admission sees the pod as it would be written (UPDATE of pods/ephemeralcontainers); a
    // concurrent change of the rest of the spec means computing and admitting again.
    let ctx = rest.admission_context(req, Some("ephemeralcontainers"));
    let mut attempts = 0;
    let updated = loop {
        attempts += 1;
        let current = reg.get(pods, Some(ns), name, None).await?.value();
        let candidate = pods::ephemeral::apply(&current, &change(&current)?, update, name)?;
        let mut a = Attributes::new(&ctx, Operation::Update, pods, Some(ns), name);
        a.subresource = "ephemeralcontainers".into();
        a.old = Some(current.clone());
        a.object = Some(candidate);
        a.dry_run = dry_run;
        rest.admission.admit_write(reg, &ctx, &mut a).await?;
        // Only the ephemeral containers of what admission returned are taken.
        let admitted = pods::ephemeral::apply(&current, &a.object.take().unwrap_or(Value::Null), false, name)?;
        match pods::ephemeral::store(reg, ns, name, &current, &admitted, dry_run).await {
            Err(e) if e.code == 409 && attempts < 5 => {
                crate::admission::rollback(reg, &ctx).await;
                continue;
            }
            res => {
                finish(rest, &ctx, res.is_ok()).await;
                break res?;
            }
        }
    };
    Ok(json_response(req, 200, &updated))
}
