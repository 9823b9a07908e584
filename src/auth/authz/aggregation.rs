//! The clusterrole-aggregation controller (upstream pkg/controller/clusterroleaggregation), run
//! inside the server: a ClusterRole with an `aggregationRule` gets the rules of every ClusterRole
//! its selectors match, in name order, without duplicates.

use crate::api::selector::label_selector_from_json;
use crate::api::ResourceDef;
use crate::registry::options::ListOptions;
use crate::registry::store::{Part, Registry};
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The aggregated rules for `role` given every ClusterRole, or None when it has no rule.
pub fn aggregate(role: &Value, all: &[Value]) -> Option<Vec<Value>> {
    let selectors = role.pointer("/aggregationRule/clusterRoleSelectors")?.as_array()?;
    let name = role.str_at("/metadata/name");
    let parsed: Vec<_> = selectors
        .iter()
        .filter_map(|s| label_selector_from_json(Some(s)).ok().flatten())
        .collect();
    let mut matching: Vec<&Value> = all
        .iter()
        .filter(|o| o.opt_str_at("/metadata/name") != Some(name))
        .filter(|o| {
            let labels = o.obj_at("/metadata/labels");
            // An empty selector selects nothing here, as upstream's controller skips it.
            !parsed.is_empty() && parsed.iter().any(|s| !s.is_empty() && s.matches(labels))
        })
        .collect();
    matching.sort_by_key(|o| o.str_at("/metadata/name").to_string());
    let mut rules: Vec<Value> = Vec::new();
    for o in matching {
        for r in o.get("rules").and_then(Value::as_array).into_iter().flatten() {
            if !rules.contains(r) {
                rules.push(r.clone());
            }
        }
    }
    Some(rules)
}

async fn pass(reg: &Registry, def: &ResourceDef) {
    let Ok(list) = reg.list(def, None, &ListOptions::default()).await else {
        return;
    };
    let all: Vec<Value> = list.items.iter().map(|o| o.value()).collect();
    for role in &all {
        let Some(rules) = aggregate(role, &all) else { continue };
        let current = role.get("rules").cloned().unwrap_or(Value::Null);
        let empty = rules.is_empty() && current.as_array().is_none_or(Vec::is_empty);
        if empty || current == json!(rules) {
            continue;
        }
        let mut next = role.clone();
        next["rules"] = json!(rules);
        let name = role.str_at("/metadata/name");
        if let Err(e) = reg.update(def, None, name, next, Part::Main, false, None).await {
            // A conflict means another change arrived: the next pass retries.
            tracing::debug!(role = name, error = %e, "clusterrole aggregation update failed");
        }
    }
}

/// Run a pass now and after every ClusterRole change (debounced).
pub fn spawn(reg: Registry, def: &'static ResourceDef, notify: Arc<Notify>) {
    tokio::spawn(async move {
        loop {
            pass(&reg, def).await;
            notify.notified().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_labelled_roles_in_name_order() {
        let agg = json!({"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "true"}}]}});
        let r = |name: &str, label: bool, res: &str| {
            let mut o = json!({"metadata": {"name": name}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": [res]}]});
            if label {
                o["metadata"]["labels"] = json!({"x": "true"});
            }
            o
        };
        let all = vec![
            agg.clone(),
            r("b", true, "pods"),
            r("a", true, "secrets"),
            r("c", false, "nodes"),
            r("d", true, "pods"),
        ];
        let rules = aggregate(&agg, &all).unwrap_or_default();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["resources"], json!(["secrets"]));
        assert_eq!(rules[1]["resources"], json!(["pods"]));
        assert_eq!(aggregate(&r("a", true, "x"), &all), None);
    }
}
