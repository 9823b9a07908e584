//! Strategic merge patch (k8s.io/apimachinery `strategicpatch`), driven by the schema's
//! `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`.
//!
//! Maps merge recursively and `null` deletes a key. Lists with the `merge` strategy merge their
//! items by the merge key (new items appended in patch order) or, for scalars, form a union;
//! other lists are replaced. Directives: `$patch: replace|delete|merge` (in maps and list
//! items), `$retainKeys`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`.
//! Without a schema (`node` None) it behaves like a JSON merge patch.

use super::fieldpath::{child, items};
use crate::api::schema::{Node, PatchStrategy, Schemas};
use serde_json::{Map, Value};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Apply a strategic merge patch to `original`.
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    schemas: &Schemas,
    node: Option<&Node>,
) -> Result<Value, String> {
    let Value::Object(p) = patch else {
        return Err("strategic merge patch must be a JSON object".into());
    };
    let mut o = original.as_object().cloned().unwrap_or_default();
    if merge_map(&mut o, p, schemas, node)? {
        return Ok(Value::Object(Map::new()));
    }
    Ok(Value::Object(o))
}

fn is_directive(k: &str) -> bool {
    k == PATCH || k == RETAIN_KEYS || k.starts_with(SET_ORDER) || k.starts_with(DELETE_PRIMITIVE)
}

fn bad_patch_type(v: &Value, patch: &Map<String, Value>) -> String {
    format!(
        "unknown patch type: {} in map: {}",
        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
        Value::Object(patch.clone())
    )
}

/// Merge `patch` into `orig`. Returns true when the map itself is to be deleted
/// (`$patch: delete`).
fn merge_map(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    schemas: &Schemas,
    node: Option<&Node>,
) -> Result<bool, String> {
    if let Some(d) = patch.get(PATCH) {
        match d.as_str() {
            Some("replace") => {
                let mut fresh = Map::new();
                let rest: Map<String, Value> = patch
                    .iter()
                    .filter(|(k, _)| *k != PATCH)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                merge_map(&mut fresh, &rest, schemas, node)?;
                *orig = fresh;
                return Ok(false);
            }
            Some("delete") => {
                orig.clear();
                return Ok(true);
            }
            Some("merge") => {}
            _ => return Err(bad_patch_type(d, patch)),
        }
    }
    if let Some(rk) = patch.get(RETAIN_KEYS) {
        let Some(keep) = rk.as_array() else {
            return Err(format!("invalid type for $retainKeys: {rk}"));
        };
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            let Some(del) = v.as_array() else {
                return Err(format!("invalid type for {k}: must be a list, got {v}"));
            };
            if let Some(Value::Array(a)) = orig.get_mut(field) {
                a.retain(|item| !del.contains(item));
            }
        }
    }
    // Lists being reordered, with their order before the patch.
    let mut orders: Vec<(String, Vec<Value>, Vec<Value>)> = Vec::new();
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(SET_ORDER) {
            let Some(order) = v.as_array() else {
                return Err(format!("invalid type for {k}: must be a list, got {v}"));
            };
            let server = orig.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
            orders.push((field.to_string(), order.clone(), server));
        }
    }
    for (k, v) in patch {
        if is_directive(k) {
            continue;
        }
        let fnode = child(schemas, node, k);
        if v.is_null() {
            orig.remove(k);
            continue;
        }
        match (orig.get_mut(k), v) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                if merge_map(o, p, schemas, fnode)? {
                    orig.remove(k);
                }
            }
            (Some(Value::Array(o)), Value::Array(p)) => {
                let merged = merge_list(std::mem::take(o), p, schemas, fnode)?;
                orig.insert(k.clone(), Value::Array(merged));
            }
            (None, Value::Object(p)) => {
                let mut fresh = Map::new();
                if !merge_map(&mut fresh, p, schemas, fnode)? {
                    orig.insert(k.clone(), Value::Object(fresh));
                }
            }
            (None, Value::Array(p)) => {
                let merged = merge_list(Vec::new(), p, schemas, fnode)?;
                orig.insert(k.clone(), Value::Array(merged));
            }
            _ => {
                orig.insert(k.clone(), v.clone());
            }
        }
    }
    for (field, order, server) in orders {
        let mk = child(schemas, node, &field).and_then(|n| n.merge_key.clone());
        if let Some(Value::Array(a)) = orig.get_mut(&field) {
            let merged = std::mem::take(a);
            *a = reorder(merged, &server, &order, mk.as_deref());
        }
    }
    Ok(false)
}

fn is_merge(node: Option<&Node>) -> bool {
    node.is_some_and(|n| matches!(n.patch_strategy, PatchStrategy::Merge | PatchStrategy::MergeRetainKeys))
}

/// A patch value without directives and nulls, as it lands when there is nothing to merge with.
fn fresh_item(v: &Value, schemas: &Schemas, node: Option<&Node>) -> Result<Option<Value>, String> {
    match v {
        Value::Object(p) => {
            let mut fresh = Map::new();
            if merge_map(&mut fresh, p, schemas, node)? {
                return Ok(None);
            }
            Ok(Some(Value::Object(fresh)))
        }
        other => Ok(Some(other.clone())),
    }
}

fn merge_list(orig: Vec<Value>, patch: &[Value], schemas: &Schemas, node: Option<&Node>) -> Result<Vec<Value>, String> {
    let elem = items(schemas, node);
    // `{"$patch": "replace"}` as an item: the rest of the patch list replaces the list.
    let replace = patch
        .iter()
        .any(|p| p.get(PATCH).and_then(Value::as_str) == Some("replace"));
    if replace || !is_merge(node) {
        let mut out = Vec::new();
        for p in patch {
            if p.as_object().is_some_and(|m| m.len() == 1 && m.contains_key(PATCH)) {
                continue;
            }
            if let Some(v) = fresh_item(p, schemas, elem)? {
                out.push(v);
            }
        }
        return Ok(out);
    }
    let merge_key = node.and_then(|n| n.merge_key.as_deref());
    // Upstream orders the result as `mergeSlice` does: the patch's items in patch order, the
    // server-only items woven in where the server had them (so a new item comes first).
    let server = orig.clone();
    let mut out = orig;
    for p in patch {
        match (p, merge_key) {
            (Value::Object(pm), Some(mk)) => {
                let directive = pm.get(PATCH);
                let key = pm.get(mk);
                match directive.map(|d| d.as_str()) {
                    Some(Some("delete")) => {
                        let Some(key) = key else {
                            return Err(format!(
                                "map: {} does not contain declared merge key: {mk}",
                                Value::Object(pm.clone())
                            ));
                        };
                        out.retain(|it| it.get(mk) != Some(key));
                        continue;
                    }
                    None | Some(Some("merge")) => {}
                    Some(_) => return Err(bad_patch_type(directive.unwrap_or(&Value::Null), pm)),
                }
                let Some(key) = key else {
                    return Err(format!(
                        "map: {} does not contain declared merge key: {mk}",
                        Value::Object(pm.clone())
                    ));
                };
                match out.iter().position(|it| it.get(mk) == Some(key)) {
                    Some(i) => {
                        if let Value::Object(o) = &mut out[i] {
                            if merge_map(o, pm, schemas, elem)? {
                                out.remove(i);
                            }
                        } else {
                            out[i] = p.clone();
                        }
                    }
                    None => {
                        if let Some(v) = fresh_item(p, schemas, elem)? {
                            out.push(v);
                        }
                    }
                }
            }
            (Value::Object(_), None) => {
                // Maps without a merge key cannot be merged: the patch list wins.
                let mut all = Vec::new();
                for p in patch {
                    if let Some(v) = fresh_item(p, schemas, elem)? {
                        all.push(v);
                    }
                }
                return Ok(all);
            }
            (scalar, _) => {
                if !out.contains(scalar) {
                    out.push(scalar.clone());
                }
            }
        }
    }
    let order: Vec<Value> = patch.iter().filter(|p| p.get(PATCH).is_none()).cloned().collect();
    Ok(reorder(out, &server, &order, merge_key))
}

/// `$setElementOrder`: items named in `order` come in that order; the others keep their place
/// relative to the server's order (upstream `normalizeElementOrder` + `mergeSortedSlice`).
fn reorder(merged: Vec<Value>, server: &[Value], order: &[Value], mk: Option<&str>) -> Vec<Value> {
    let key = |v: &Value| -> Value {
        match mk {
            Some(k) => v.get(k).cloned().unwrap_or_else(|| v.clone()),
            None => v.clone(),
        }
    };
    let pos = |list: &[Value], v: &Value| -> Option<usize> {
        let kv = key(v);
        list.iter().position(|x| key(x) == kv)
    };
    let (mut in_order, mut server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|v| pos(order, v).is_some());
    in_order.sort_by_key(|v| pos(order, v).unwrap_or(usize::MAX));
    server_only.sort_by_key(|v| pos(server, v).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(in_order.len() + server_only.len());
    let (mut l, mut r) = (server_only.into_iter().peekable(), in_order.into_iter().peekable());
    loop {
        match (l.peek(), r.peek()) {
            (Some(lv), Some(rv)) => {
                // Go's `mergeSortedSlice`: the server-only item first only when the server
                // had both and it came first.
                let take_left = matches!((pos(server, lv), pos(server, rv)), (Some(a), Some(b)) if a < b);
                let next = if take_left { l.next() } else { r.next() };
                out.extend(next);
            }
            (Some(_), None) => out.extend(l.next()),
            (None, Some(_)) => out.extend(r.next()),
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::{Ty, TypeRef};
    use serde_json::json;

    fn inline(n: Node) -> TypeRef {
        TypeRef::Inline(Box::new(n))
    }

    fn string() -> Node {
        Node {
            ty: Ty::String,
            ..Default::default()
        }
    }

    fn obj(fields: Vec<(&str, TypeRef)>) -> Node {
        Node {
            fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            ..Default::default()
        }
    }

    /// A pod-shaped schema: containers merged by name (ports by containerPort, env by name),
    /// finalizers merged as a set, volumes merged by name with retainKeys, args atomic.
    fn pod_schema() -> (Schemas, Node) {
        let mut s = Schemas::default();
        let port = obj(vec![
            (
                "containerPort",
                inline(Node {
                    ty: Ty::Integer,
                    ..Default::default()
                }),
            ),
            ("name", inline(string())),
        ]);
        let container = obj(vec![
            ("name", inline(string())),
            ("image", inline(string())),
            (
                "args",
                inline(Node {
                    ty: Ty::Array,
                    items: Some(Box::new(inline(string()))),
                    ..Default::default()
                }),
            ),
            (
                "ports",
                inline(Node {
                    ty: Ty::Array,
                    items: Some(Box::new(inline(port))),
                    patch_strategy: PatchStrategy::Merge,
                    merge_key: Some("containerPort".into()),
                    ..Default::default()
                }),
            ),
        ]);
        s.insert("Container".into(), container);
        let volume = Node {
            patch_strategy: PatchStrategy::RetainKeys,
            ..obj(vec![
                ("name", inline(string())),
                ("hostPath", inline(obj(vec![("path", inline(string()))]))),
                ("emptyDir", inline(obj(vec![("medium", inline(string()))]))),
            ])
        };
        let spec = obj(vec![
            (
                "containers",
                inline(Node {
                    ty: Ty::Array,
                    items: Some(Box::new(TypeRef::Named("Container".into()))),
                    patch_strategy: PatchStrategy::Merge,
                    merge_key: Some("name".into()),
                    ..Default::default()
                }),
            ),
            (
                "volumes",
                inline(Node {
                    ty: Ty::Array,
                    items: Some(Box::new(inline(volume))),
                    patch_strategy: PatchStrategy::MergeRetainKeys,
                    merge_key: Some("name".into()),
                    ..Default::default()
                }),
            ),
        ]);
        let meta = obj(vec![
            (
                "labels",
                inline(Node {
                    additional: Some(Box::new(inline(string()))),
                    ..Default::default()
                }),
            ),
            (
                "finalizers",
                inline(Node {
                    ty: Ty::Array,
                    items: Some(Box::new(inline(string()))),
                    patch_strategy: PatchStrategy::Merge,
                    ..Default::default()
                }),
            ),
        ]);
        let root = obj(vec![("metadata", inline(meta)), ("spec", inline(spec))]);
        (s, root)
    }

    fn smp(orig: Value, patch: Value) -> Result<Value, String> {
        let (s, root) = pod_schema();
        strategic_merge(&orig, &patch, &s, Some(&root))
    }

    #[test]
    fn containers_merge_by_name() {
        let out = smp(
            json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.14"}, {"name": "side", "image": "busybox"}]}}),
            json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.16"}, {"name": "new", "image": "redis"}]}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.16"},
                {"name": "new", "image": "redis"},
                {"name": "side", "image": "busybox"}
            ]}})
        );
        // Upstream's order (checked with apimachinery v0.33's StrategicMergePatch): the patch's
        // items in patch order, server-only ones where the server had them.
        let names = |out: Value| -> Vec<String> {
            out["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        };
        let abc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let out = smp(
            abc.clone(),
            json!({"spec": {"containers": [{"name": "d"}, {"name": "b", "image": "x"}]}}),
        );
        assert_eq!(names(out.unwrap()), ["d", "a", "b", "c"]);
        let out = smp(
            abc,
            json!({"spec": {"containers": [{"name": "c", "$patch": "delete"}, {"name": "d"}]}}),
        );
        assert_eq!(names(out.unwrap()), ["d", "a", "b"]);
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["c", "a"]}}),
        );
        assert_eq!(out.unwrap(), json!({"metadata": {"finalizers": ["c", "a", "b"]}}));
    }

    #[test]
    fn nested_merge_lists_and_atomic_lists() {
        let out = smp(
            json!({"spec": {"containers": [{"name": "a", "args": ["x", "y"], "ports": [{"containerPort": 80}]}]}}),
            json!({"spec": {"containers": [{"name": "a", "args": ["z"], "ports": [{"containerPort": 443, "name": "https"}]}]}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "args": ["z"], "ports": [
                {"containerPort": 443, "name": "https"}, {"containerPort": 80}
            ]}]}})
        );
    }

    #[test]
    fn patch_delete_directive_in_list_and_map() {
        let out = smp(
            json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}),
            json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"containers": [{"name": "b", "image": "2"}]}}));
        let out = smp(
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {}}),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {}, "spec": {}}));
    }

    #[test]
    fn patch_replace_directive() {
        let out = smp(
            json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}),
            json!({"spec": {"containers": [{"name": "nginx", "image": "nginx-1.0"}, {"$patch": "replace"}]}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "nginx", "image": "nginx-1.0"}]}})
        );
        let out = smp(
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {"c": "3"}}}));
        let err = smp(json!({}), json!({"metadata": {"$patch": "bogus"}})).unwrap_err();
        assert!(err.starts_with("unknown patch type: bogus in map:"), "{err}");
    }

    #[test]
    fn null_deletes_and_primitive_lists_union() {
        let out = smp(
            json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]}}),
            json!({"metadata": {"labels": {"a": null}, "finalizers": ["y", "x"]}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2"}, "finalizers": ["y", "x"]}})
        );
    }

    #[test]
    fn delete_from_primitive_list() {
        // The documented example: delete b and c from the finalizers.
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "c"]}}),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"finalizers": ["a"]}}));
    }

    #[test]
    fn set_element_order() {
        // The documented examples: reorder a primitive list and a list of maps to b, c, a.
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"]}}),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"finalizers": ["b", "c", "a"]}}));
        let out = smp(
            json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}, {"name": "c", "image": "3"}]}}),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}]}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "3"}, {"name": "a", "image": "1"}]}})
        );
        // Reorder and add in one patch, as kubectl sends it.
        let out = smp(
            json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}, {"name": "c", "image": "3"}]}}),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "d"}, {"name": "b"}],
                "containers": [{"name": "d", "image": "4"}]
            }}),
        )
        .unwrap();
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["c", "a", "d", "b"]);
        // Items the order does not name keep their place relative to the server's order.
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "a"]}}),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"finalizers": ["b", "c", "a"]}}));
    }

    #[test]
    fn retain_keys() {
        // The documented union example.
        let s = Schemas::default();
        let out = strategic_merge(
            &json!({"union": {"foo": "a", "other": "b"}}),
            &json!({"union": {"$retainKeys": ["another", "bar"], "another": "d", "bar": "c"}}),
            &s,
            None,
        )
        .unwrap();
        assert_eq!(out, json!({"union": {"another": "d", "bar": "c"}}));
        // Switching a volume from hostPath to emptyDir, as kubectl sends it.
        let out = smp(
            json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/tmp"}}]}}),
            json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}, "$retainKeys": ["emptyDir", "name"]}]}}),
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}));
    }

    #[test]
    fn documented_delete_of_a_map() {
        // `rollingUpdate: {$patch: delete}` and `rollingUpdate: null` both delete the map.
        let s = Schemas::default();
        let orig = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
        let a = strategic_merge(
            &orig,
            &json!({"strategy": {"rollingUpdate": {"$patch": "delete"}}}),
            &s,
            None,
        )
        .unwrap();
        let b = strategic_merge(&orig, &json!({"strategy": {"rollingUpdate": null}}), &s, None).unwrap();
        assert_eq!(a, json!({"strategy": {"type": "RollingUpdate"}}));
        assert_eq!(a, b);
    }

    #[test]
    fn missing_merge_key_is_an_error() {
        let err = smp(
            json!({"spec": {"containers": []}}),
            json!({"spec": {"containers": [{"image": "x"}]}}),
        )
        .unwrap_err();
        assert_eq!(err, r#"map: {"image":"x"} does not contain declared merge key: name"#);
    }

    #[test]
    fn without_schema_it_is_a_merge_patch() {
        let s = Schemas::default();
        let out = strategic_merge(
            &json!({"a": [1, 2], "b": {"c": 1, "d": 2}}),
            &json!({"a": [3], "b": {"c": null}}),
            &s,
            None,
        )
        .unwrap();
        assert_eq!(out, json!({"a": [3], "b": {"d": 2}}));
    }
}
