//! Pod writes with their own semantics, beside the generic store (upstream's pod REST
//! storages): `binding` (the scheduler's write of `spec.nodeName`), `eviction` (a delete
//! guarded by PodDisruptionBudgets) and `ephemeralcontainers` (`kubectl debug`).

pub mod binding;
pub mod ephemeral;
pub mod eviction;

use crate::api::ResourceDef;
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};

/// The core/v1 pods row.
fn pods() -> ApiResult<&'static ResourceDef> {
    crate::api::builtin_row("", "pods").ok_or_else(|| ApiError::internal("no pods resource"))
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
