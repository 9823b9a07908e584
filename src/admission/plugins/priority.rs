//! Priority: a pod's `priorityClassName` resolves to `spec.priority` (and preemptionPolicy);
//! without one, the `globalDefault` class applies, else priority 0. The two system classes
//! exist even when not stored. Also: only one PriorityClass may be the global default.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub struct Priority;

/// Upstream's built-in classes and their values.
pub const SYSTEM_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

async fn class(env: &Env<'_>, name: &str) -> ApiResult<Option<(i64, Option<String>)>> {
    if let Some(pc) = env.get("scheduling.k8s.io", "priorityclasses", None, name).await? {
        let v = pc.get("value").and_then(Value::as_i64).unwrap_or(0);
        let p = pc.get("preemptionPolicy").and_then(Value::as_str).map(str::to_string);
        return Ok(Some((v, p)));
    }
    Ok(SYSTEM_CLASSES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| (*v, Some("PreemptLowerPriority".to_string()))))
}

#[async_trait::async_trait]
impl Plugin for Priority {
    fn name(&self) -> &'static str {
        "Priority"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("Pod") || a.operation != Operation::Create || !a.subresource.is_empty() {
            return Ok(());
        }
        let Some(pod) = a.object.as_ref() else { return Ok(()) };
        let mut name = pod.str_at("/spec/priorityClassName").to_string();
        let (value, preemption) = if name.is_empty() {
            let classes = env.list_cached("scheduling.k8s.io", "priorityclasses", None).await?;
            let mut defaults: Vec<&Value> = classes
                .iter()
                .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
                .collect();
            // Several defaults (a race): the lowest value wins, as upstream.
            defaults.sort_by_key(|c| c.get("value").and_then(Value::as_i64).unwrap_or(0));
            match defaults.first() {
                Some(d) => {
                    name = d.str_at("/metadata/name").to_string();
                    (
                        d.get("value").and_then(Value::as_i64).unwrap_or(0),
                        d.get("preemptionPolicy").and_then(Value::as_str).map(str::to_string),
                    )
                }
                // No default class: upstream's DefaultPriorityWhenNoDefaultClassExists and
                // PreemptLowerPriority.
                None => (0, Some("PreemptLowerPriority".to_string())),
            }
        } else {
            match class(env, &name).await? {
                Some(c) => c,
                None => return Err(a.forbidden(&format!("no PriorityClass with name {name} was found"))),
            }
        };
        if let Some(given) = pod.i64_at("/spec/priority") {
            if given != value {
                return Err(a.forbidden(&format!(
                    "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
                )));
            }
        }
        let given_policy = pod.str_at("/spec/preemptionPolicy").to_string();
        if let Some(p) = &preemption {
            if !given_policy.is_empty() && given_policy != *p {
                return Err(a.forbidden(&format!(
                    "the string value of PreemptionPolicy ({given_policy}) must not be provided in pod spec; priority admission controller computed {p} from the given PriorityClass name"
                )));
            }
        }
        if let Some(pod) = a.object.as_mut() {
            if !name.is_empty() {
                pod["spec"]["priorityClassName"] = json!(name);
            }
            pod["spec"]["priority"] = json!(value);
            if let Some(p) = preemption {
                pod["spec"]["preemptionPolicy"] = json!(p);
            }
        }
        Ok(())
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if a.def.group != "scheduling.k8s.io" || a.def.kind != "PriorityClass" {
            return Ok(());
        }
        if !matches!(a.operation, Operation::Create | Operation::Update) {
            return Ok(());
        }
        let Some(pc) = a.object.as_ref() else { return Ok(()) };
        if pc.get("globalDefault").and_then(Value::as_bool) != Some(true) {
            return Ok(());
        }
        let me = pc.str_at("/metadata/name");
        for other in env.list_cached("scheduling.k8s.io", "priorityclasses", None).await? {
            let n = other.str_at("/metadata/name");
            if n != me && other.get("globalDefault").and_then(Value::as_bool) == Some(true) {
                return Err(a.forbidden(&format!(
                    "PriorityClass {n} is already marked as default. Only one default can exist"
                )));
            }
        }
        Ok(())
    }
}
