//! PodTopologyLabels: when a pod is bound to a node (`pods/binding`, or created with
//! `spec.nodeName`), the node's `topology.k8s.io/zone` and `topology.k8s.io/region` labels
//! are copied onto the pod (onto the Binding, whose labels the binding storage copies).
//! Default-on as upstream, acting only under the `PodTopologyLabelsAdmission` gate (alpha,
//! off by default in 1.33).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::config::features::FeatureGates;
use crate::error::ApiResult;
use serde_json::{json, Map, Value};

pub const TOPOLOGY_LABELS: &[&str] = &["topology.k8s.io/zone", "topology.k8s.io/region"];

pub struct PodTopologyLabels {
    enabled: bool,
}

impl PodTopologyLabels {
    pub fn new(features: &FeatureGates) -> PodTopologyLabels {
        PodTopologyLabels {
            enabled: features.enabled("PodTopologyLabelsAdmission"),
        }
    }
}

/// The node's topology labels (none when the node does not exist).
async fn node_labels(env: &Env<'_>, node: &str) -> ApiResult<Map<String, Value>> {
    let Some(n) = env.get("", "nodes", None, node).await? else {
        return Ok(Map::new());
    };
    Ok(n.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| TOPOLOGY_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

/// Copy `labels` into `obj.metadata.labels`, overwriting.
pub fn merge_labels(obj: &mut Value, labels: Map<String, Value>) {
    if labels.is_empty() {
        return;
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if !obj["metadata"].get("labels").is_some_and(Value::is_object) {
        obj["metadata"]["labels"] = json!({});
    }
    for (k, v) in labels {
        obj["metadata"]["labels"][k] = v;
    }
}

#[async_trait::async_trait]
impl Plugin for PodTopologyLabels {
    fn name(&self) -> &'static str {
        "PodTopologyLabels"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !self.enabled || !a.is_core("Pod") || a.operation != Operation::Create {
            return Ok(());
        }
        let Some(obj) = a.object.as_ref() else { return Ok(()) };
        let node = match a.subresource.as_str() {
            "" => obj.pointer("/spec/nodeName"),
            "binding" if obj.pointer("/target/kind").and_then(Value::as_str) == Some("Node") => {
                obj.pointer("/target/name")
            }
            _ => None,
        };
        let node = node.and_then(Value::as_str).unwrap_or("").to_string();
        if node.is_empty() {
            return Ok(());
        }
        let labels = node_labels(env, &node).await?;
        if let Some(obj) = a.object.as_mut() {
            merge_labels(obj, labels);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_overwrite() {
        let mut pod = json!({"metadata": {"labels": {"topology.k8s.io/zone": "old", "app": "x"}}});
        let mut l = Map::new();
        l.insert("topology.k8s.io/zone".into(), json!("z1"));
        merge_labels(&mut pod, l);
        assert_eq!(
            pod["metadata"]["labels"],
            json!({"topology.k8s.io/zone": "z1", "app": "x"})
        );
        let mut binding = json!({"target": {"kind": "Node", "name": "n"}});
        let mut l = Map::new();
        l.insert("topology.k8s.io/region".into(), json!("r"));
        merge_labels(&mut binding, l);
        assert_eq!(binding["metadata"]["labels"], json!({"topology.k8s.io/region": "r"}));
    }

    #[test]
    fn off_unless_the_gate_is_on() {
        assert!(!PodTopologyLabels::new(&FeatureGates::default()).enabled);
        assert!(PodTopologyLabels::new(&FeatureGates::with(&[("PodTopologyLabelsAdmission", true)])).enabled);
    }
}
