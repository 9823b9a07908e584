//! TaintNodesByCondition: a new Node starts tainted `node.kubernetes.io/not-ready:NoSchedule`
//! until the node lifecycle controller sees it Ready.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub struct TaintNodesByCondition;

pub fn add_not_ready(node: &mut Value) {
    let mut taints = node.arr_at("/spec/taints").to_vec();
    let present = taints.iter().any(|t| {
        t.get("key").and_then(Value::as_str) == Some("node.kubernetes.io/not-ready")
            && t.get("effect").and_then(Value::as_str) == Some("NoSchedule")
    });
    if !present {
        taints.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}));
        node["spec"]["taints"] = Value::Array(taints);
    }
}

#[async_trait::async_trait]
impl Plugin for TaintNodesByCondition {
    fn name(&self) -> &'static str {
        "TaintNodesByCondition"
    }
    async fn admit(&self, a: &mut Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if a.is_core("Node") && a.operation == Operation::Create && a.subresource.is_empty() {
            if let Some(n) = a.object.as_mut() {
                add_not_ready(n);
            }
        }
        Ok(())
    }
}
