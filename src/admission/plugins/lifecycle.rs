//! NamespaceLifecycle: no new objects in a missing or terminating namespace, and the
//! immortal namespaces (default, kube-system, kube-public) can't be deleted.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use serde_json::json;

const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

pub struct NamespaceLifecycle;

#[async_trait::async_trait]
impl Plugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if a.is_core("Namespace") {
            if a.operation == Operation::Delete && IMMORTAL.contains(&a.name.as_str()) {
                return Err(a.forbidden("this namespace may not be deleted"));
            }
            return Ok(());
        }
        if a.operation != Operation::Create || a.namespace.is_empty() || !a.def.namespaced() {
            return Ok(());
        }
        let ns = a.namespace.as_str();
        // Upstream consults its informer, then a live read on a miss; ours is live.
        let Some(nsobj) = env.get("", "namespaces", None, ns).await? else {
            return Err(ApiError::not_found("namespaces", "", ns));
        };
        let terminating = nsobj.pointer("/metadata/deletionTimestamp").is_some()
            || nsobj.opt_str_at("/status/phase") == Some("Terminating");
        if terminating {
            let mut e = a.forbidden(&format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ));
            if let Some(d) = e.details.as_mut() {
                d["causes"] = json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
            }
            return Err(e);
        }
        Ok(())
    }
}
