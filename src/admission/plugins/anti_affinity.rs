//! LimitPodHardAntiAffinityTopology: a pod's required anti-affinity terms may only use the
//! `kubernetes.io/hostname` topology key.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::Value;

pub struct LimitPodHardAntiAffinityTopology;

const HOSTNAME: &str = "kubernetes.io/hostname";

/// The first required anti-affinity term's topology key that is not the hostname.
fn forbidden_key(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array)?
        .iter()
        .map(|t| t.str_at("/topologyKey"))
        .find(|k| *k != HOSTNAME)
}

#[async_trait::async_trait]
impl Plugin for LimitPodHardAntiAffinityTopology {
    fn name(&self) -> &'static str {
        "LimitPodHardAntiAffinityTopology"
    }
    async fn validate(&self, a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("Pod")
            || !a.subresource.is_empty()
            || !matches!(a.operation, Operation::Create | Operation::Update)
        {
            return Ok(());
        }
        match a.object.as_ref().and_then(forbidden_key) {
            Some(key) => Err(a.forbidden(&format!(
                "affinity.PodAntiAffinity.RequiredDuringScheduling has TopologyKey {key} but only key {HOSTNAME} is allowed"
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(keys: &[&str]) -> Value {
        let terms: Vec<Value> = keys
            .iter()
            .map(|k| json!({"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": k}))
            .collect();
        json!({"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}}})
    }

    /// Upstream's TestInterPodAffinityAdmission: hostname passes, any other key (or none)
    /// fails, preferred terms and affinity (not anti) are not looked at.
    #[test]
    fn only_hostname_topology() {
        assert_eq!(forbidden_key(&pod(&[HOSTNAME])), None);
        assert_eq!(
            forbidden_key(&pod(&[HOSTNAME, "topology.kubernetes.io/zone"])),
            Some("topology.kubernetes.io/zone")
        );
        assert_eq!(forbidden_key(&pod(&[""])), Some(""));
        let preferred = json!({"spec": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {"topologyKey": "zone"}}]}}}});
        assert_eq!(forbidden_key(&preferred), None);
        let affinity = json!({"spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone"}]}}}});
        assert_eq!(forbidden_key(&affinity), None);
    }
}
