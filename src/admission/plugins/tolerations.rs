//! Toleration set operations shared by the toleration plugins (upstream
//! `pkg/util/tolerations` and `core/helper.AddOrUpdateTolerationInPod`), over JSON
//! tolerations whose absent fields read as empty.

use crate::util::json::JsonExt;
use serde_json::Value;

fn seconds(t: &Value) -> Option<i64> {
    t.get("tolerationSeconds").and_then(Value::as_i64)
}

/// Semantic equality: every field equal, absent = empty.
pub fn equal(a: &Value, b: &Value) -> bool {
    ["key", "operator", "value", "effect"]
        .iter()
        .all(|k| a.str_of(k) == b.str_of(k))
        && seconds(a) == seconds(b)
}

/// Does `ss` tolerate everything `t` tolerates?
pub fn is_superset(ss: &Value, t: &Value) -> bool {
    if equal(t, ss) {
        return true;
    }
    if t.str_of("key") != ss.str_of("key") && (!ss.str_of("key").is_empty() || ss.str_of("operator") != "Exists") {
        return false;
    }
    if t.str_of("effect") != ss.str_of("effect") && !ss.str_of("effect").is_empty() {
        return false;
    }
    if ss.str_of("effect") == "NoExecute" {
        if let Some(max) = seconds(ss) {
            if seconds(t).is_none_or(|v| v > max) {
                return false;
            }
        }
    }
    match ss.str_of("operator") {
        "Equal" | "" => t.str_of("operator") == "Equal" && t.str_of("value") == ss.str_of("value"),
        "Exists" => true,
        _ => false,
    }
}

/// Both lists in one, dropping any toleration another one covers (of equal ones, the first).
pub fn merge(first: &[Value], second: &[Value]) -> Vec<Value> {
    let all: Vec<&Value> = first.iter().chain(second).collect();
    let mut merged: Vec<Value> = Vec::new();
    'next: for (i, t) in all.iter().enumerate() {
        if merged.iter().any(|m| is_superset(m, t)) {
            continue;
        }
        for t2 in &all[i + 1..] {
            if !equal(t, t2) && is_superset(t2, t) {
                continue 'next;
            }
        }
        merged.push((*t).clone());
    }
    merged
}

/// Every toleration is covered by some whitelist entry (an empty list on either side passes).
pub fn verify_against_whitelist(tolerations: &[Value], whitelist: &[Value]) -> bool {
    whitelist.is_empty()
        || tolerations.is_empty()
        || tolerations.iter().all(|t| whitelist.iter().any(|w| is_superset(w, t)))
}

/// Add `t` to the pod's tolerations, replacing one with the same key, operator, value and
/// effect; false when an equal one is already there.
pub fn add_or_update(pod: &mut Value, t: &Value) -> bool {
    let old = pod
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let same = |o: &Value| {
        ["key", "operator", "value", "effect"]
            .iter()
            .all(|k| o.str_of(k) == t.str_of(k))
    };
    let mut out = Vec::with_capacity(old.len() + 1);
    let mut updated = false;
    for o in old {
        if same(&o) {
            if equal(&o, t) {
                return false;
            }
            out.push(t.clone());
            updated = true;
        } else {
            out.push(o);
        }
    }
    if !updated {
        out.push(t.clone());
    }
    pod["spec"]["tolerations"] = Value::Array(out);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Cases from upstream's pkg/util/tolerations tests.
    #[test]
    fn superset_rules() {
        let exists_all = json!({"operator": "Exists"});
        let foo_bar = json!({"key": "foo", "operator": "Equal", "value": "bar", "effect": "NoSchedule"});
        let foo_exists = json!({"key": "foo", "operator": "Exists"});
        assert!(is_superset(&exists_all, &foo_bar));
        assert!(is_superset(&foo_exists, &foo_bar));
        assert!(!is_superset(&foo_bar, &foo_exists));
        let ne_10 = json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10});
        let ne_5 = json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5});
        let ne_forever = json!({"key": "k", "operator": "Exists", "effect": "NoExecute"});
        assert!(is_superset(&ne_10, &ne_5));
        assert!(!is_superset(&ne_5, &ne_10));
        assert!(!is_superset(&ne_10, &ne_forever));
        assert!(is_superset(&ne_forever, &ne_10));
    }

    #[test]
    fn merge_keeps_the_widest() {
        let a = json!({"key": "foo", "operator": "Exists"});
        let b = json!({"key": "foo", "operator": "Equal", "value": "x", "effect": "NoSchedule"});
        let c = json!({"key": "bar", "operator": "Exists"});
        assert_eq!(
            merge(std::slice::from_ref(&b), &[a.clone(), c.clone()]),
            vec![a.clone(), c.clone()]
        );
        assert_eq!(merge(&[a.clone(), a.clone()], &[]), vec![a.clone()]);
        assert!(verify_against_whitelist(
            std::slice::from_ref(&b),
            std::slice::from_ref(&a)
        ));
        assert!(!verify_against_whitelist(&[c], &[a]));
    }

    #[test]
    fn add_or_update_replaces_the_matching_one() {
        let t = json!({"key": "example.com/gpu", "operator": "Exists", "effect": "NoSchedule"});
        let mut pod = json!({"spec": {}});
        assert!(add_or_update(&mut pod, &t));
        assert!(!add_or_update(&mut pod, &t));
        assert_eq!(pod["spec"]["tolerations"], json!([t]));
    }
}
