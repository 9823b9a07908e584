//! `pods/{name}/binding` and the legacy `bindings` resource: the scheduler's write of
//! `spec.nodeName` (upstream `BindingREST.Create` / `setPodHostAndAnnotations`). Pod updates may
//! not change `spec.nodeName`, so this writes through storage with compare-and-swap.

use crate::api::convert;
use crate::error::{ApiError, ApiResult};
use crate::server::handler::RawRequest;
use crate::server::request::RequestInfo;
use crate::server::App;
use crate::storage::StorageError;
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use warp::reply::Response;

/// Read-modify-write of one stored object with compare-and-swap, retried on races (upstream's
/// GuaranteedUpdate). `f` sees the served form; returns the object as written.
pub async fn guaranteed_update<F>(
    app: &Arc<App>,
    group: &str,
    version: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
    mut f: F,
) -> ApiResult<Value>
where
    F: FnMut(&mut Value) -> ApiResult<()>,
{
    let def = app
        .find(group, version, plural)
        .ok_or_else(|| ApiError::internal(format!("no resource {plural}")))?;
    let reg = &app.registry;
    let key = reg.key(def, ns, name);
    for _ in 0..16 {
        let current = reg
            .storage
            .get(&key, 0)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(def.plural, def.group, name))?;
        let stored: Value = serde_json::from_slice(&current.value).map_err(ApiError::internal)?;
        let mut obj = convert::from_storage(def, &stored).unwrap_or(stored);
        f(&mut obj)?;
        convert::to_storage(def, &mut obj);
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let bytes = Bytes::from(serde_json::to_vec(&obj).map_err(ApiError::internal)?);
        match reg.storage.update(&key, bytes, current.mod_revision).await {
            Ok(rev) => {
                obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                return Ok(obj);
            }
            Err(StorageError::Conflict { .. }) => continue,
            Err(StorageError::NotFound { .. }) => return Err(ApiError::not_found(def.plural, def.group, name)),
            Err(e) => return Err(ApiError::internal(e)),
        }
    }
    Err(ApiError::conflict(plural, group, name, "too many concurrent updates"))
}

/// `{"kind":"Status","status":"Success","code":201}`, as upstream answers a binding.
pub fn success(code: u16) -> Response {
    let v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code});
    crate::server::encode::bytes_response(
        code,
        "application/json",
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
    )
}

pub async fn create(
    app: &Arc<App>,
    req: &RawRequest,
    info: &RequestInfo,
    body: ApiResult<Bytes>,
) -> ApiResult<Response> {
    let body = super::need_body(body)?;
    let binding: Value =
        match crate::server::negotiate::body_type(req.headers.get("content-type").and_then(|v| v.to_str().ok())) {
            Ok(crate::server::negotiate::BodyType::Yaml) => yaml_serde::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?,
            _ => {
                serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}")))?
            }
        };
    let ns = info.namespace.as_deref().unwrap_or("");
    let obj_name = binding.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    // pods/{name}/binding: the URL names the pod; legacy `bindings`: the object does.
    let pod = match info.subresource.as_deref() {
        Some(_) => {
            let url_name = info.name.as_deref().unwrap_or("");
            if obj_name != url_name {
                return Err(ApiError::bad_request(
                    "name in URL does not match name in Binding object",
                ));
            }
            url_name
        }
        None => obj_name,
    };
    if let Some(obj_ns) = binding.pointer("/metadata/namespace").and_then(Value::as_str) {
        if !obj_ns.is_empty() && obj_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    validate(&binding, pod)?;
    if query_dry_run(&req.query) {
        return Ok(success(201));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let annotations = binding.pointer("/metadata/annotations").cloned();
    guaranteed_update(app, "", "v1", "pods", Some(ns), pod, |p| {
        let name = p
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if p.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::conflict(
                "pods",
                "",
                &name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        let current = p.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
        if !current.is_empty() {
            return Err(ApiError::conflict(
                "pods",
                "",
                &name,
                &format!("pod {name} is already assigned to node \"{current}\""),
            ));
        }
        if p.pointer("/spec/schedulingGates")
            .and_then(Value::as_array)
            .is_some_and(|g| !g.is_empty())
        {
            return Err(ApiError::conflict(
                "pods",
                "",
                &name,
                &format!("pod {name} has non-empty .spec.schedulingGates"),
            ));
        }
        p["spec"]["nodeName"] = json!(node);
        if let Some(Value::Object(a)) = &annotations {
            if !p["metadata"].get("annotations").is_some_and(Value::is_object) {
                p["metadata"]["annotations"] = json!({});
            }
            for (k, v) in a {
                p["metadata"]["annotations"][k] = v.clone();
            }
        }
        set_condition(p, "PodScheduled", "True", None, None);
        Ok(())
    })
    .await?;
    Ok(success(201))
}

fn query_dry_run(query: &str) -> bool {
    query.split('&').any(|kv| kv.starts_with("dryRun="))
}

/// Upstream's `ValidatePodBinding`.
fn validate(binding: &Value, pod: &str) -> ApiResult<()> {
    use crate::api::field::FieldError;
    let mut errs = Vec::new();
    let kind = binding.pointer("/target/kind").and_then(Value::as_str).unwrap_or("");
    if !kind.is_empty() && kind != "Node" {
        errs.push(FieldError::not_supported("target.kind", kind, &["Node", "<empty>"]));
    }
    if binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        errs.push(FieldError::required("target.name", ""));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("Binding", "", pod, &errs))
    }
}

/// Set (or add) a pod condition; the transition time moves only when the status changes.
pub fn set_condition(pod: &mut Value, ty: &str, status: &str, reason: Option<&str>, message: Option<&str>) {
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    if !pod["status"].get("conditions").is_some_and(Value::is_array) {
        pod["status"]["conditions"] = json!([]);
    }
    let now = crate::util::now_rfc3339();
    let mut cond = json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        cond["reason"] = json!(r);
    }
    if let Some(m) = message {
        cond["message"] = json!(m);
    }
    if let Some(conds) = pod["status"]["conditions"].as_array_mut() {
        match conds
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        {
            Some(c) => {
                if c.get("status").and_then(Value::as_str) == Some(status) {
                    cond["lastTransitionTime"] = c.get("lastTransitionTime").cloned().unwrap_or(json!(now));
                }
                *c = cond;
            }
            None => conds.push(cond),
        }
    }
}
