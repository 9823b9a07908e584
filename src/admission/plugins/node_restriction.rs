//! NodeRestriction: a kubelet (`system:node:<name>` in `system:nodes`) may only modify its own
//! Node object, mirror pods bound to itself, the status of its own pods, and its own Lease.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::Value;

pub struct NodeRestriction;

/// The node name of a node identity; Some("") for a member of system:nodes without a usable name.
pub fn node_name(user: &crate::request::UserInfo) -> Option<&str> {
    if !user.groups.iter().any(|g| g == "system:nodes") {
        return None;
    }
    Some(user.name.strip_prefix("system:node:").unwrap_or(""))
}

const MIRROR: &str = "kubernetes.io/config.mirror";

fn pod_node(a: &Attributes) -> String {
    let from = a.object.as_ref().or(a.old.as_ref());
    from.map(|p| p.str_at("/spec/nodeName").to_string()).unwrap_or_default()
}

fn check(a: &Attributes, node: &str) -> Result<(), String> {
    let is_mirror = || {
        a.object
            .as_ref()
            .and_then(|p| p.pointer("/metadata/annotations"))
            .and_then(Value::as_object)
            .is_some_and(|m| m.contains_key(MIRROR))
    };
    match (a.def.group, a.def.plural, a.operation, a.subresource.as_str()) {
        ("", "nodes", _, _) if a.name != node && a.object_name() != node => Err(format!(
            "node \"{node}\" is not allowed to modify node \"{}\"",
            a.object_name()
        )),
        ("", "pods", Operation::Create, "") if !is_mirror() => Err(format!(
            "pod does not have \"{MIRROR}\" annotation, node \"{node}\" can only create mirror pods"
        )),
        ("", "pods", Operation::Create, "") if pod_node(a) != node => Err(format!(
            "node \"{node}\" can only create pods with spec.nodeName set to itself"
        )),
        ("", "pods", Operation::Update, "status") if pod_node(a) != node => Err(format!(
            "node \"{node}\" can only update pod status for pods with spec.nodeName set to itself"
        )),
        ("", "pods", Operation::Update, "") => Err(format!("node \"{node}\" can only update pod status")),
        ("", "pods", Operation::Delete, _) if pod_node(a) != node => Err(format!(
            "node \"{node}\" can only delete pods with spec.nodeName set to itself"
        )),
        ("coordination.k8s.io", "leases", _, _) if a.namespace == "kube-node-lease" && a.object_name() != node => {
            Err("can only access node lease with the same name as the requesting node".into())
        }
        _ => Ok(()),
    }
}

#[async_trait::async_trait]
impl Plugin for NodeRestriction {
    fn name(&self) -> &'static str {
        "NodeRestriction"
    }
    async fn admit(&self, a: &mut Attributes, _env: &Env<'_>) -> ApiResult<()> {
        let Some(node) = node_name(&a.user) else { return Ok(()) };
        if node.is_empty() {
            return Err(a.forbidden(&format!("could not determine node from user \"{}\"", a.user.name)));
        }
        check(a, node).map_err(|why| a.forbidden(&why))
    }
}
