//! The built-in schemas rendered as OpenAPI JSON (v2 `definitions` or v3 `components`), as
//! `/openapi/v2|v3` serve them and as CEL type-checking reads them.

use super::{ListType, MapType, Node, PatchStrategy, Schemas, Ty, TypeRef};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Which OpenAPI dialect a schema is rendered for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    V2,
    V3,
}

impl Dialect {
    pub fn reference(self, name: &str) -> String {
        match self {
            Dialect::V2 => format!("#/definitions/{name}"),
            Dialect::V3 => format!("#/components/schemas/{name}"),
        }
    }
}

fn pairs(v: &mut Map<String, Value>, n: &Node) {
    // Atomic is the default and not recorded apart from it, so only set/map are printed.
    match n.list_type {
        ListType::Atomic => {}
        ListType::Set => {
            v.insert("x-kubernetes-list-type".into(), "set".into());
        }
        ListType::Map => {
            v.insert("x-kubernetes-list-type".into(), "map".into());
        }
    }
    if !n.map_keys.is_empty() {
        v.insert("x-kubernetes-list-map-keys".into(), json!(n.map_keys));
    }
    if n.map_type == MapType::Atomic {
        v.insert("x-kubernetes-map-type".into(), "atomic".into());
    }
    if let Some(k) = &n.merge_key {
        v.insert("x-kubernetes-patch-merge-key".into(), k.as_str().into());
    }
    let ps = match n.patch_strategy {
        PatchStrategy::None => None,
        PatchStrategy::Merge => Some("merge"),
        PatchStrategy::Replace => Some("replace"),
        PatchStrategy::MergeRetainKeys => Some("merge,retainKeys"),
        PatchStrategy::RetainKeys => Some("retainKeys"),
    };
    if let Some(ps) = ps {
        v.insert("x-kubernetes-patch-strategy".into(), ps.into());
    }
}

fn ref_value(d: Dialect, name: &str, description: Option<&str>, extra: Map<String, Value>) -> Value {
    let r = d.reference(name);
    if description.is_none() && extra.is_empty() {
        return json!({ "$ref": r });
    }
    let mut m = Map::new();
    match d {
        Dialect::V2 => {
            m.insert("$ref".into(), r.into());
        }
        Dialect::V3 => {
            m.insert("allOf".into(), json!([{ "$ref": r }]));
        }
    }
    if let Some(desc) = description {
        m.insert("description".into(), desc.into());
    }
    m.extend(extra);
    Value::Object(m)
}

fn typeref_value(d: Dialect, r: &TypeRef, doc: Option<&str>) -> Value {
    match r {
        TypeRef::Named(n) => ref_value(d, n, doc, Map::new()),
        TypeRef::Inline(n) => {
            if let Some(of) = &n.copy_of {
                let mut extra = Map::new();
                pairs(&mut extra, n);
                let desc = Some(n.description.as_str()).filter(|s| !s.is_empty());
                return ref_value(d, of, desc, extra);
            }
            node_value(d, n, None)
        }
    }
}

fn node_value(d: Dialect, n: &Node, gvks: Option<&[(String, String, String)]>) -> Value {
    let mut m = Map::new();
    if !n.description.is_empty() {
        m.insert("description".into(), n.description.as_str().into());
    }
    let ty = match n.ty {
        Ty::Object => Some("object"),
        Ty::Array => Some("array"),
        Ty::String => Some("string"),
        Ty::Integer => Some("integer"),
        Ty::Number => Some("number"),
        Ty::Boolean => Some("boolean"),
        Ty::IntOrString => Some("string"),
        Ty::Any => None,
    };
    if let Some(t) = ty {
        m.insert("type".into(), t.into());
    }
    if n.ty == Ty::IntOrString && n.format.is_empty() && n.description.as_str().starts_with("IntOrString") {
        m.insert("format".into(), "int-or-string".into());
    } else if !n.format.is_empty() {
        m.insert("format".into(), n.format.as_str().into());
    }
    if !n.fields.is_empty() {
        let props: Map<String, Value> = n
            .fields
            .iter()
            .map(|(k, r)| {
                (
                    k.clone(),
                    typeref_value(d, r, n.field_docs.get(k).map(super::Doc::as_str)),
                )
            })
            .collect();
        m.insert("properties".into(), Value::Object(props));
    }
    if !n.required.is_empty() {
        m.insert("required".into(), json!(n.required));
    }
    if let Some(a) = &n.additional {
        m.insert("additionalProperties".into(), typeref_value(d, a, None));
    }
    if let Some(i) = &n.items {
        m.insert("items".into(), typeref_value(d, i, None));
    }
    pairs(&mut m, n);
    if let Some(gvks) = gvks.filter(|g| !g.is_empty()) {
        let list: Vec<Value> = gvks
            .iter()
            .map(|(g, v, k)| json!({"group": g, "kind": k, "version": v}))
            .collect();
        m.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
    }
    Value::Object(m)
}

/// Definition name → the GVKs it is registered for.
fn gvks_by_def(s: &Schemas) -> BTreeMap<&str, Vec<(String, String, String)>> {
    let mut out: BTreeMap<&str, Vec<(String, String, String)>> = BTreeMap::new();
    for ((g, v, k), def) in &s.kinds {
        out.entry(def.as_str())
            .or_default()
            .push((g.clone(), v.clone(), k.clone()));
    }
    for l in out.values_mut() {
        l.sort();
    }
    out
}

/// Every definition reachable from `roots`.
pub fn closure(s: &Schemas, roots: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    fn visit_ref(s: &Schemas, r: &TypeRef, seen: &mut BTreeSet<String>, todo: &mut Vec<String>) {
        match r {
            TypeRef::Named(n) => {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
            TypeRef::Inline(n) => visit_node(s, n, seen, todo),
        }
    }
    fn visit_node(s: &Schemas, n: &Node, seen: &mut BTreeSet<String>, todo: &mut Vec<String>) {
        if let Some(of) = &n.copy_of {
            if seen.insert(of.clone()) {
                todo.push(of.clone());
            }
        }
        for r in n.fields.values() {
            visit_ref(s, r, seen, todo);
        }
        if let Some(r) = &n.additional {
            visit_ref(s, r, seen, todo);
        }
        if let Some(r) = &n.items {
            visit_ref(s, r, seen, todo);
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = Vec::new();
    for r in roots {
        if s.contains(&r) && seen.insert(r.clone()) {
            todo.push(r);
        }
    }
    while let Some(name) = todo.pop() {
        if let Some(n) = s.def(&name) {
            visit_node(s, n, &mut seen, &mut todo);
        }
    }
    seen.retain(|n| s.contains(n));
    seen
}

pub fn definitions(s: &Schemas, d: Dialect, names: &BTreeSet<String>) -> Map<String, Value> {
    let gvks = gvks_by_def(s);
    names
        .iter()
        .filter_map(|name| {
            let n = s.def(name)?;
            Some((
                name.clone(),
                node_value(d, n, gvks.get(name.as_str()).map(Vec::as_slice)),
            ))
        })
        .collect()
}
