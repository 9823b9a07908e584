//! ExtendedResourceToleration: a pod requesting an extended resource (`example.com/gpu`)
//! tolerates the `NoSchedule` taint of that name (`operator: Exists`), so nodes dedicated to the
//! resource can be tainted with it.

use super::tolerations;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub struct ExtendedResourceToleration;

/// Upstream's `helper.IsExtendedResourceName`: a domain-prefixed name outside
/// `kubernetes.io/`, not a quota `requests.` name, and valid as a quota name.
pub fn is_extended_resource_name(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    !native
        && !name.starts_with("requests.")
        && crate::api::validation::is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// The extended resources the pod's containers and init containers request, sorted.
fn requested(pod: &Value) -> BTreeSet<String> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.pointer("/resources/requests").and_then(Value::as_object))
        .flat_map(|r| r.keys())
        .filter(|n| is_extended_resource_name(n))
        .cloned()
        .collect()
}

#[async_trait::async_trait]
impl Plugin for ExtendedResourceToleration {
    fn name(&self) -> &'static str {
        "ExtendedResourceToleration"
    }
    async fn admit(&self, a: &mut Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("Pod")
            || !a.subresource.is_empty()
            || !matches!(a.operation, Operation::Create | Operation::Update)
        {
            return Ok(());
        }
        let Some(pod) = a.object.as_mut() else { return Ok(()) };
        for r in requested(pod) {
            tolerations::add_or_update(pod, &json!({"key": r, "operator": "Exists", "effect": "NoSchedule"}));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_resource_names() {
        assert!(is_extended_resource_name("example.com/gpu"));
        assert!(!is_extended_resource_name("cpu"));
        assert!(!is_extended_resource_name("kubernetes.io/something"));
        assert!(!is_extended_resource_name("requests.example.com/gpu"));
        assert!(!is_extended_resource_name("example.com/bad_name!"));
    }

    /// Upstream's TestAdmit: tolerations for each extended resource of containers and init
    /// containers, sorted, once; an existing identical toleration is kept.
    #[test]
    fn adds_one_toleration_per_resource() {
        let mut pod = json!({"spec": {
            "containers": [{"resources": {"requests": {"cpu": "1", "example.com/gpu": "1", "foo.com/a": "2"}}}],
            "initContainers": [{"resources": {"requests": {"example.com/gpu": "1"}}}],
            "tolerations": [{"key": "foo.com/a", "operator": "Exists", "effect": "NoSchedule"}, {"key": "other", "operator": "Exists"}],
        }});
        for r in requested(&pod) {
            tolerations::add_or_update(
                &mut pod,
                &json!({"key": r, "operator": "Exists", "effect": "NoSchedule"}),
            );
        }
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([
                {"key": "foo.com/a", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "other", "operator": "Exists"},
                {"key": "example.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            ])
        );
    }
}
