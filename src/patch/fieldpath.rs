//! Field sets as server-side apply tracks them (sigs.k8s.io/structured-merge-diff `fieldpath`),
//! their `FieldsV1` encoding, and the schema-aware walks over objects: the set of fields an
//! object specifies (`to_field_set`), the difference of two objects (`compare`) and the
//! apply merge (`merge`).
//!
//! A path element is kept in its `FieldsV1` spelling: `f:<field>`, `k:{"name":"x"}` (an item of
//! a map-list, by its keys), `v:<json>` (an item of a set), `i:<index>`.

use crate::api::schema::{ListType, MapType, Node, PatchStrategy, Schemas, Ty};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A set of field paths, as a trie. `member` marks the path ending at this node as in the set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    pub member: bool,
    pub children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// No member anywhere in this subtree.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// The subtree at `path`, if any.
    pub fn at(&self, path: &[String]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => self.children.get(first).and_then(|c| c.at(rest)),
        }
    }

    /// Some member at `path` or below it.
    pub fn has_member_at_or_under(&self, path: &[String]) -> bool {
        self.at(path).is_some_and(|s| !s.is_empty())
    }

    pub fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.children.entry(k.clone()).or_default().union(c);
        }
    }

    /// Members of `self` that are not members of `other` (structured-merge-diff `Difference`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    /// Members of `self` not at or under any member of `other` (`RecursiveDifference`).
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        if other.member {
            return FieldSet::new();
        }
        let mut out = FieldSet {
            member: self.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Every member path, in order (parents before their children).
    pub fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON form: `{"f:spec":{"f:replicas":{}}}`, `".": {}` for a member that also
    /// has children.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            if c.children.values().all(FieldSet::is_empty) {
                m.insert(k.clone(), Value::Object(Map::new()));
            } else {
                m.insert(k.clone(), c.to_fields_v1());
            }
        }
        Value::Object(m)
    }

    /// Parse `FieldsV1`. Errors on anything that is not an object of objects.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(m) = v else {
            return Err("FieldsV1 must be a JSON object".into());
        };
        let mut out = FieldSet::new();
        for (k, c) in m {
            if k == "." {
                out.member = true;
                continue;
            }
            if !(k.starts_with("f:") || k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:")) {
                return Err(format!("unknown path element type in {k:?}"));
            }
            let mut child = FieldSet::from_fields_v1(c)?;
            if child.children.is_empty() {
                child.member = true;
            }
            out.children.insert(k.clone(), child);
        }
        Ok(out)
    }
}

/// The human form of a path (`fieldpath.Path.String()`): `.spec.containers[name="x"].image`,
/// `.metadata.finalizers[="a"]`, `.spec.args[0]`.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for pe in path {
        if let Some(f) = pe.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = pe.strip_prefix("k:") {
            let parts: Vec<String> = match serde_json::from_str::<Map<String, Value>>(k) {
                Ok(m) => m.iter().map(|(n, v)| format!("{n}={}", value_string(v))).collect(),
                Err(_) => vec![k.to_string()],
            };
            s.push('[');
            s.push_str(&parts.join(","));
            s.push(']');
        } else if let Some(v) = pe.strip_prefix("v:") {
            let shown = serde_json::from_str::<Value>(v)
                .map(|v| value_string(&v))
                .unwrap_or_else(|_| v.to_string());
            s.push_str(&format!("[={shown}]"));
        } else if let Some(i) = pe.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

/// `value.ToString`: strings quoted, everything else as JSON.
fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

pub fn field_pe(name: &str) -> String {
    format!("f:{name}")
}

/// The node of member `key` of an object node: a declared property, else the map value type.
pub fn child<'a>(schemas: &'a Schemas, node: Option<&'a Node>, key: &str) -> Option<&'a Node> {
    let n = node?;
    if let Some(r) = n.fields.get(key) {
        return schemas.resolve(r);
    }
    n.additional.as_deref().and_then(|r| schemas.resolve(r))
}

/// The item node of an array node.
pub fn items<'a>(schemas: &'a Schemas, node: Option<&'a Node>) -> Option<&'a Node> {
    node?.items.as_deref().and_then(|r| schemas.resolve(r))
}

/// How server-side apply treats a list: `x-kubernetes-list-type`, else (as upstream's schema
/// conversion does) a merge patch strategy makes it a map keyed by the merge key, or a set of
/// scalars; everything else is atomic.
pub fn list_kind(node: Option<&Node>) -> (ListType, Vec<String>) {
    let Some(n) = node else {
        return (ListType::Atomic, Vec::new());
    };
    match n.list_type {
        ListType::Map => {
            let keys = if n.map_keys.is_empty() {
                n.merge_key.iter().cloned().collect()
            } else {
                n.map_keys.clone()
            };
            (ListType::Map, keys)
        }
        ListType::Set => (ListType::Set, Vec::new()),
        ListType::Atomic => match (n.patch_strategy, &n.merge_key) {
            (PatchStrategy::Merge | PatchStrategy::MergeRetainKeys, Some(k)) => (ListType::Map, vec![k.clone()]),
            (PatchStrategy::Merge | PatchStrategy::MergeRetainKeys, None) => (ListType::Set, Vec::new()),
            _ => (ListType::Atomic, Vec::new()),
        },
    }
}

fn map_is_atomic(node: Option<&Node>) -> bool {
    node.is_some_and(|n| n.map_type == MapType::Atomic && n.ty == Ty::Object)
}

/// The path element of a list item.
pub fn item_pe(item: &Value, kind: ListType, keys: &[String], index: usize) -> String {
    match kind {
        ListType::Set => format!("v:{}", serde_json::to_string(item).unwrap_or_default()),
        ListType::Map => {
            let mut k = Map::new();
            for key in keys {
                match item.get(key) {
                    Some(v) if !v.is_null() => {
                        k.insert(key.clone(), v.clone());
                    }
                    // Upstream defaults the `protocol` key of ports before keying them.
                    _ if key == "protocol" => {
                        k.insert(key.clone(), Value::String("TCP".into()));
                    }
                    _ => {}
                }
            }
            if k.is_empty() {
                return format!("i:{index}");
            }
            format!("k:{}", Value::Object(k))
        }
        ListType::Atomic => format!("i:{index}"),
    }
}

/// The fields an object specifies (`TypedValue.ToFieldSet`): scalars, atomic lists and maps,
/// and list items (with their own fields below them).
pub fn to_field_set(v: &Value, schemas: &Schemas, node: Option<&Node>) -> FieldSet {
    let mut set = FieldSet::new();
    walk_set(v, schemas, node, &mut Vec::new(), &mut set);
    set
}

fn walk_set(v: &Value, schemas: &Schemas, node: Option<&Node>, path: &mut Vec<String>, set: &mut FieldSet) {
    match v {
        Value::Object(m) => {
            if map_is_atomic(node) {
                set.insert(path);
                return;
            }
            for (k, c) in m {
                path.push(field_pe(k));
                walk_set(c, schemas, child(schemas, node, k), path, set);
                path.pop();
            }
        }
        Value::Array(a) => {
            let (kind, keys) = list_kind(node);
            if kind == ListType::Atomic {
                set.insert(path);
                return;
            }
            let elem = items(schemas, node);
            for (i, item) in a.iter().enumerate() {
                path.push(item_pe(item, kind, &keys, i));
                walk_set(item, schemas, elem, path, set);
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
}

/// What changed between two objects (`TypedValue.Compare`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Comparison {
    pub added: FieldSet,
    pub removed: FieldSet,
    pub modified: FieldSet,
}

pub fn compare(lhs: &Value, rhs: &Value, schemas: &Schemas, node: Option<&Node>) -> Comparison {
    let mut c = Comparison::default();
    walk_compare(Some(lhs), Some(rhs), schemas, node, &mut Vec::new(), &mut c);
    c
}

fn empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// An empty map or list that appears (or disappears) is itself a member, as structured-merge-diff
/// records `f:securityContext: {}` for a defaulted empty struct; absent and null are neither.
fn empty_member_change(lhs: Option<&Value>, rhs: Option<&Value>, path: &[String], c: &mut Comparison) {
    let present = |v: Option<&Value>| v.is_some_and(|v| !v.is_null());
    if path.is_empty() {
        return;
    }
    match (lhs, rhs) {
        (None, r) if present(r) => c.added.insert(path),
        (l, None) if present(l) => c.removed.insert(path),
        _ => {}
    }
}

fn walk_compare(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    schemas: &Schemas,
    node: Option<&Node>,
    path: &mut Vec<String>,
    c: &mut Comparison,
) {
    let is_map = matches!(lhs, Some(Value::Object(_))) || matches!(rhs, Some(Value::Object(_)));
    let is_list = matches!(lhs, Some(Value::Array(_))) || matches!(rhs, Some(Value::Array(_)));
    // A null container (a Go nil slice/map/pointer in the typed zero object a create is
    // compared against) is there but empty: what fills it is added, not the container itself.
    let shapes_agree = match (lhs, rhs) {
        (Some(Value::Null), _) | (_, Some(Value::Null)) => true,
        (Some(l), Some(r)) => l.is_object() == r.is_object() && l.is_array() == r.is_array(),
        _ => true,
    };
    if shapes_agree && is_map && !map_is_atomic(node) {
        if empty_container(lhs) && empty_container(rhs) {
            empty_member_change(lhs, rhs, path, c);
            return;
        }
        if !path.is_empty() {
            match (lhs, rhs) {
                (None, Some(_)) => c.added.insert(path),
                (Some(_), None) => c.removed.insert(path),
                _ => {}
            }
        }
        let empty = Map::new();
        let l = lhs.and_then(Value::as_object).unwrap_or(&empty);
        let r = rhs.and_then(Value::as_object).unwrap_or(&empty);
        for (k, lv) in l {
            path.push(field_pe(k));
            walk_compare(Some(lv), r.get(k), schemas, child(schemas, node, k), path, c);
            path.pop();
        }
        for (k, rv) in r {
            if !l.contains_key(k) {
                path.push(field_pe(k));
                walk_compare(None, Some(rv), schemas, child(schemas, node, k), path, c);
                path.pop();
            }
        }
        return;
    }
    if shapes_agree && is_list {
        let (kind, keys) = list_kind(node);
        if kind != ListType::Atomic {
            if empty_container(lhs) && empty_container(rhs) {
                empty_member_change(lhs, rhs, path, c);
                return;
            }
            if !path.is_empty() {
                match (lhs, rhs) {
                    (None, Some(_)) => c.added.insert(path),
                    (Some(_), None) => c.removed.insert(path),
                    _ => {}
                }
            }
            let elem = items(schemas, node);
            let index = |v: Option<&Value>| -> Vec<(String, Value)> {
                v.and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .enumerate()
                            .map(|(i, it)| (item_pe(it, kind, &keys, i), it.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let l = index(lhs);
            let r = index(rhs);
            let l_by: HashMap<&String, &Value> = l.iter().map(|(p, v)| (p, v)).collect();
            let r_by: HashMap<&String, &Value> = r.iter().map(|(p, v)| (p, v)).collect();
            for (pe, lv) in &l {
                let rv = r_by.get(pe).copied();
                path.push(pe.clone());
                if rv.is_none() {
                    c.removed.insert(path);
                }
                walk_compare(Some(lv), rv, schemas, elem, path, c);
                path.pop();
            }
            for (pe, rv) in &r {
                if !l_by.contains_key(pe) {
                    path.push(pe.clone());
                    c.added.insert(path);
                    walk_compare(None, Some(rv), schemas, elem, path, c);
                    path.pop();
                }
            }
            return;
        }
    }
    // A leaf: scalar, atomic list or atomic map.
    match (lhs, rhs) {
        (None, None) => {}
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(l), Some(r)) => {
            if l != r {
                c.modified.insert(path);
            }
        }
    }
}

/// The apply merge (`TypedValue.Merge`): maps merge field by field (atomic maps are replaced),
/// sets and map-lists merge item by item (keeping the live order and placing new items after
/// the ones they follow in the applied list), atomic lists and scalars are replaced.
pub fn merge(lhs: Option<&Value>, rhs: &Value, schemas: &Schemas, node: Option<&Node>) -> Value {
    match (lhs, rhs) {
        (Some(Value::Object(l)), Value::Object(r)) if !map_is_atomic(node) => {
            let mut out = l.clone();
            for (k, rv) in r {
                let merged = merge(l.get(k), rv, schemas, child(schemas, node, k));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(r)) => {
            let (kind, keys) = list_kind(node);
            if kind == ListType::Atomic {
                return rhs.clone();
            }
            let elem = items(schemas, node);
            let lpe: Vec<String> = l.iter().enumerate().map(|(i, v)| item_pe(v, kind, &keys, i)).collect();
            let rpe: Vec<String> = r.iter().enumerate().map(|(i, v)| item_pe(v, kind, &keys, i)).collect();
            let l_at: HashMap<&String, usize> = lpe.iter().enumerate().map(|(i, p)| (p, i)).collect();
            let in_r: HashSet<&String> = rpe.iter().collect();
            let mut out = Vec::with_capacity(l.len().max(r.len()));
            let mut done: HashSet<&String> = HashSet::new();
            let (mut li, mut ri) = (0, 0);
            while li < l.len() || ri < r.len() {
                if li < l.len() {
                    let pe = &lpe[li];
                    if done.contains(pe) {
                        li += 1;
                        continue;
                    }
                    if ri < r.len() && &rpe[ri] == pe {
                        out.push(merge(Some(&l[li]), &r[ri], schemas, elem));
                        done.insert(pe);
                        li += 1;
                        ri += 1;
                        continue;
                    }
                    if !in_r.contains(pe) {
                        out.push(l[li].clone());
                        li += 1;
                        continue;
                    }
                }
                if ri < r.len() {
                    let pe = &rpe[ri];
                    if !done.contains(pe) {
                        let live = l_at.get(pe).map(|&i| &l[i]);
                        out.push(merge(live, &r[ri], schemas, elem));
                        done.insert(pe);
                    }
                    ri += 1;
                } else {
                    li += 1;
                }
            }
            Value::Array(out)
        }
        _ => rhs.clone(),
    }
}

/// Remove the value at `path` from `v` (field or list item). Returns whether something went.
pub fn remove_path(v: &mut Value, path: &[String], schemas: &Schemas, node: Option<&Node>) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if let Some(f) = first.strip_prefix("f:") {
        let Some(m) = v.as_object_mut() else {
            return false;
        };
        if rest.is_empty() {
            return m.remove(f).is_some();
        }
        let n = child(schemas, node, f);
        return m.get_mut(f).is_some_and(|c| remove_path(c, rest, schemas, n));
    }
    let (kind, keys) = list_kind(node);
    let elem = items(schemas, node);
    let Some(a) = v.as_array_mut() else {
        return false;
    };
    let Some(i) = a
        .iter()
        .enumerate()
        .position(|(i, it)| &item_pe(it, kind, &keys, i) == first)
    else {
        return false;
    };
    if rest.is_empty() {
        a.remove(i);
        return true;
    }
    remove_path(&mut a[i], rest, schemas, elem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::TypeRef;
    use serde_json::json;

    fn p(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn fields_v1_round_trip_and_dot() {
        let mut s = FieldSet::new();
        s.insert(&p(&["f:metadata", "f:labels"]));
        s.insert(&p(&["f:metadata", "f:labels", "f:app"]));
        s.insert(&p(&["f:spec", "f:replicas"]));
        let v = s.to_fields_v1();
        assert_eq!(
            v,
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}}})
        );
        assert_eq!(FieldSet::from_fields_v1(&v).unwrap(), s);
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
    }

    #[test]
    fn path_strings_as_upstream() {
        assert_eq!(path_string(&p(&["f:spec", "f:replicas"])), ".spec.replicas");
        assert_eq!(
            path_string(&p(&["f:spec", "f:containers", r#"k:{"name":"nginx"}"#, "f:image"])),
            ".spec.containers[name=\"nginx\"].image"
        );
        assert_eq!(
            path_string(&p(&["f:ports", r#"k:{"containerPort":80,"protocol":"TCP"}"#])),
            ".ports[containerPort=80,protocol=\"TCP\"]"
        );
        assert_eq!(
            path_string(&p(&["f:metadata", "f:finalizers", r#"v:"a""#])),
            ".metadata.finalizers[=\"a\"]"
        );
    }

    #[test]
    fn set_operations() {
        let mut a = FieldSet::new();
        a.insert(&p(&["f:a"]));
        a.insert(&p(&["f:b", "f:c"]));
        let mut b = FieldSet::new();
        b.insert(&p(&["f:b", "f:c"]));
        assert_eq!(a.difference(&b).paths(), vec![p(&["f:a"])]);
        assert_eq!(a.intersection(&b).paths(), vec![p(&["f:b", "f:c"])]);
        let mut r = FieldSet::new();
        r.insert(&p(&["f:b"]));
        assert_eq!(a.recursive_difference(&r).paths(), vec![p(&["f:a"])]);
        assert_eq!(a.difference(&r), a);
    }

    fn list_schema() -> (Schemas, Node) {
        let mut s = Schemas::default();
        let container = Node {
            fields: [
                (
                    "name".to_string(),
                    TypeRef::Inline(Box::new(Node {
                        ty: Ty::String,
                        ..Default::default()
                    })),
                ),
                (
                    "image".to_string(),
                    TypeRef::Inline(Box::new(Node {
                        ty: Ty::String,
                        ..Default::default()
                    })),
                ),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        s.insert("C".into(), container);
        let containers = Node {
            ty: Ty::Array,
            items: Some(Box::new(TypeRef::Named("C".into()))),
            patch_strategy: PatchStrategy::Merge,
            merge_key: Some("name".into()),
            ..Default::default()
        };
        let args = Node {
            ty: Ty::Array,
            items: Some(Box::new(TypeRef::Inline(Box::new(Node {
                ty: Ty::String,
                ..Default::default()
            })))),
            ..Default::default()
        };
        let root = Node {
            fields: [
                ("containers".to_string(), TypeRef::Inline(Box::new(containers))),
                ("args".to_string(), TypeRef::Inline(Box::new(args))),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        (s, root)
    }

    #[test]
    fn field_set_of_lists_and_maps() {
        let (s, root) = list_schema();
        let v = json!({"containers": [{"name": "a", "image": "x"}], "args": ["1"], "m": {"k": "v"}});
        let set = to_field_set(&v, &s, Some(&root));
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:args": {},
                "f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}},
                "f:m": {"f:k": {}}
            })
        );
    }

    #[test]
    fn merge_map_list_keeps_live_items() {
        let (s, root) = list_schema();
        let live = json!({"containers": [{"name": "a", "image": "x", "extra": 1}, {"name": "b", "image": "y"}]});
        let cfg = json!({"containers": [{"name": "c", "image": "z"}, {"name": "a", "image": "x2"}]});
        let out = merge(Some(&live), &cfg, &s, Some(&root));
        assert_eq!(
            out,
            json!({"containers": [
                {"name": "c", "image": "z"},
                {"name": "a", "image": "x2", "extra": 1},
                {"name": "b", "image": "y"}
            ]})
        );
        let c = compare(&live, &out, &s, Some(&root));
        assert!(c.added.contains(&p(&["f:containers", r#"k:{"name":"c"}"#])));
        assert!(c
            .modified
            .contains(&p(&["f:containers", r#"k:{"name":"a"}"#, "f:image"])));
        assert!(c.removed.is_empty());
    }
}
