//! `metav1.LabelSelector` (matchLabels + matchExpressions) evaluated against a label map, as
//! webhooks' namespaceSelector/objectSelector use it.

use serde_json::{Map, Value};

/// Does `labels` satisfy `selector`? A missing or empty selector matches everything.
pub fn matches(selector: Option<&Value>, labels: Option<&Map<String, Value>>) -> bool {
    let Some(sel) = selector.filter(|s| s.is_object()) else {
        return true;
    };
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        if ml.iter().any(|(k, v)| get(k) != v.as_str()) {
            return false;
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let vals: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ok = match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => get(key).is_some_and(|v| vals.contains(&v)),
            "NotIn" => get(key).is_none_or(|v| !vals.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_semantics() {
        let labels = json!({"a": "1", "b": "2"});
        let l = labels.as_object();
        assert!(matches(None, l));
        assert!(matches(Some(&json!({})), l));
        assert!(matches(Some(&json!({"matchLabels": {"a": "1"}})), l));
        assert!(!matches(Some(&json!({"matchLabels": {"a": "2"}})), l));
        let expr = |op: &str, vals: Value| json!({"matchExpressions": [{"key": "b", "operator": op, "values": vals}]});
        assert!(matches(Some(&expr("In", json!(["2", "3"]))), l));
        assert!(!matches(Some(&expr("NotIn", json!(["2"]))), l));
        assert!(matches(Some(&expr("Exists", json!([]))), l));
        assert!(!matches(Some(&expr("DoesNotExist", json!([]))), l));
        assert!(matches(Some(&expr("NotIn", json!(["2"]))), None));
    }
}
