//! RuntimeClass: a pod naming a RuntimeClass gets its pod overhead and scheduling
//! (nodeSelector, tolerations); a missing class or a conflicting overhead is rejected.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub struct RuntimeClass;

#[async_trait::async_trait]
impl Plugin for RuntimeClass {
    fn name(&self) -> &'static str {
        "RuntimeClass"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("Pod") || a.operation != Operation::Create || !a.subresource.is_empty() {
            return Ok(());
        }
        let Some(pod) = a.object.as_ref() else { return Ok(()) };
        let name = pod.str_at("/spec/runtimeClassName").to_string();
        if name.is_empty() {
            return Ok(());
        }
        let Some(rc) = env.get("node.k8s.io", "runtimeclasses", None, &name).await? else {
            return Err(a.forbidden(&format!("pod rejected: RuntimeClass \"{name}\" not found")));
        };
        let overhead = rc.pointer("/overhead/podFixed").cloned();
        let given = pod.pointer("/spec/overhead").cloned();
        if let (Some(g), Some(o)) = (&given, &overhead) {
            if g != o {
                return Err(a.forbidden("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"));
            }
        }
        if given.is_some() && overhead.is_none() {
            return Err(
                a.forbidden("pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")
            );
        }
        let denied = a.forbidden("");
        let deny = |why: String| {
            let mut e = denied.clone();
            e.message = format!("{}{why}", e.message);
            e
        };
        let Some(pod) = a.object.as_mut() else { return Ok(()) };
        if let Some(o) = overhead {
            pod["spec"]["overhead"] = o;
        }
        if let Some(sel) = rc.obj_at("/scheduling/nodeSelector") {
            if !pod["spec"]["nodeSelector"].is_object() {
                pod["spec"]["nodeSelector"] = json!({});
            }
            for (k, v) in sel {
                if let Some(existing) = pod["spec"]["nodeSelector"].get(k) {
                    if existing != v {
                        return Err(deny(format!(
                            "pod rejected: conflict: runtimeClass.scheduling.nodeSelector[{k}] = {}; pod.spec.nodeSelector[{k}] = {}",
                            v.as_str().unwrap_or(""),
                            existing.as_str().unwrap_or("")
                        )));
                    }
                }
                pod["spec"]["nodeSelector"][k] = v.clone();
            }
        }
        if let Some(tols) = rc.pointer("/scheduling/tolerations").and_then(Value::as_array) {
            let mut mine = pod["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
            for t in tols {
                if !mine.contains(t) {
                    mine.push(t.clone());
                }
            }
            pod["spec"]["tolerations"] = Value::Array(mine);
        }
        Ok(())
    }
}
