//! DefaultTolerationSeconds: new pods tolerate `node.kubernetes.io/not-ready` and
//! `node.kubernetes.io/unreachable` (NoExecute) for `--default-not-ready-toleration-seconds` and
//! `--default-unreachable-toleration-seconds` (300 each) unless they say otherwise.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub struct DefaultTolerationSeconds;

const KEYS: &[&str] = &["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];

/// Add the missing tolerations: `seconds` for not-ready and unreachable, in that order.
pub fn add_defaults(pod: &mut Value, seconds: [i64; 2]) {
    let mut tols = pod.arr_at("/spec/tolerations").to_vec();
    let mut changed = false;
    for (key, seconds) in KEYS.iter().zip(seconds) {
        let covered = tols.iter().any(|t| {
            let effect = t.str_of("effect");
            let k = t.str_of("key");
            (effect.is_empty() || effect == "NoExecute")
                && (k == *key || (k.is_empty() && t.get("operator").and_then(Value::as_str) == Some("Exists")))
        });
        if !covered {
            tols.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}));
            changed = true;
        }
    }
    if changed {
        pod["spec"]["tolerations"] = Value::Array(tols);
    }
}

#[async_trait::async_trait]
impl Plugin for DefaultTolerationSeconds {
    fn name(&self) -> &'static str {
        "DefaultTolerationSeconds"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("Pod") || a.operation != Operation::Create || !a.subresource.is_empty() {
            return Ok(());
        }
        let cfg = env.plugin_config(self.name());
        let secs = |k: &str| cfg.get(k).and_then(Value::as_i64).unwrap_or(300);
        if let Some(pod) = a.object.as_mut() {
            add_defaults(pod, [secs("notReady"), secs("unreachable")]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_missing_tolerations_only() {
        let mut pod = json!({"spec": {"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}});
        add_defaults(&mut pod, [300, 300]);
        let t = pod["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 5);
        assert_eq!(
            t[1],
            json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        );
    }
}
