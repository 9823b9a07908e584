//! `pods/{name}/binding` and the legacy `bindings` resource: the scheduler's write of
//! `spec.nodeName` (upstream `BindingREST.Create` / `setPodHostAndAnnotations`). Pod updates may
//! not change `spec.nodeName`, so this writes through storage with compare-and-swap
//! ([`Registry::guaranteed_update`]).

use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

/// Bind a pod to the Binding's target node. `url_pod`: the pod named by `pods/{name}/binding`
/// (None for the legacy `bindings` resource, which names it in the Binding). `copy_labels`:
/// the Binding's labels go onto the pod (the PodTopologyLabelsAdmission gate).
pub async fn bind(
    reg: &Registry,
    ns: &str,
    url_pod: Option<&str>,
    binding: &Value,
    dry_run: bool,
    copy_labels: bool,
) -> ApiResult<()> {
    let obj_name = binding.str_at("/metadata/name");
    let pod = match url_pod {
        Some(url_name) => {
            if obj_name != url_name {
                return Err(ApiError::bad_request(
                    "name in URL does not match name in Binding object",
                ));
            }
            url_name
        }
        None => obj_name,
    };
    if let Some(obj_ns) = binding.opt_str_at("/metadata/namespace") {
        if !obj_ns.is_empty() && obj_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    validate(binding, pod)?;
    if dry_run {
        return Ok(());
    }
    let node = binding.str_at("/target/name").to_string();
    let annotations = binding.pointer("/metadata/annotations").cloned();
    let labels = binding.pointer("/metadata/labels").cloned().filter(|_| copy_labels);
    let pods = super::pods()?;
    reg.guaranteed_update(pods, Some(ns), pod, |p| {
        let name = p.str_at("/metadata/name").to_string();
        if p.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::conflict(
                "pods",
                "",
                &name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        let current = p.str_at("/spec/nodeName");
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
        if let Some(Value::Object(l)) = &labels {
            if !p["metadata"].get("labels").is_some_and(Value::is_object) {
                p["metadata"]["labels"] = json!({});
            }
            for (k, v) in l {
                p["metadata"]["labels"][k] = v.clone();
            }
        }
        super::set_condition(p, "PodScheduled", "True", None, None);
        Ok(())
    })
    .await?;
    Ok(())
}

/// Upstream's `ValidatePodBinding`.
fn validate(binding: &Value, pod: &str) -> ApiResult<()> {
    use crate::error::field::FieldError;
    let mut errs = Vec::new();
    let kind = binding.str_at("/target/kind");
    if !kind.is_empty() && kind != "Node" {
        errs.push(FieldError::not_supported("target.kind", kind, &["Node", "<empty>"]));
    }
    if binding.str_at("/target/name").is_empty() {
        errs.push(FieldError::required("target.name", ""));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("Binding", "", pod, &errs))
    }
}
