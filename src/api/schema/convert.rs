//! JSON Schema → [`Node`]: k8s-openapi's schemars output for built-in kinds (at build time, see
//! `generate.rs`) and CRD schemas (at run time), with their merge metadata.
//! Plain std and serde_json only: `build.rs` compiles this file too.

use super::{ListType, MapType, Node, PatchStrategy, Ty, TypeRef};
use serde_json::{Map, Value};

/// The definition name a `$ref` points at (`#/$defs/<name>`).
fn ref_name(r: &str) -> String {
    r.rsplit('/').next().unwrap_or(r).replace("~1", "/").replace("~0", "~")
}

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// A JSON Schema (sub)schema as a reference: `$ref` → named, anything else → inline node.
fn to_ref(v: &Value) -> TypeRef {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return TypeRef::Named(ref_name(r));
    }
    TypeRef::Inline(Box::new(to_node(v)))
}

/// A JSON Schema node, with the `x-kubernetes-*` merge and pruning extensions it carries (CRD
/// schemas; built-in definitions get theirs from `patch_meta.txt`).
pub(super) fn to_node(v: &Value) -> Node {
    let mut n = Node::default();
    let Some(o) = v.as_object() else {
        n.ty = Ty::Any;
        return n;
    };
    n.description = str_of(o, "description").into();
    n.format = str_of(o, "format").to_string();
    let props = o.get("properties").and_then(Value::as_object);
    let additional = o.get("additionalProperties").filter(|a| a.is_object());
    n.ty = if o.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        Ty::IntOrString
    } else {
        match str_of(o, "type") {
            "object" => Ty::Object,
            "array" => Ty::Array,
            "string" => Ty::String,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "boolean" => Ty::Boolean,
            _ => Ty::Any,
        }
    };
    if let Some(props) = props {
        for (k, p) in props {
            let r = to_ref(p);
            if let (TypeRef::Named(_), Some(d)) = (&r, p.get("description").and_then(Value::as_str)) {
                n.field_docs.insert(k.clone(), d.into());
            }
            n.fields.insert(k.clone(), r);
        }
    }
    if let Some(req) = o.get("required").and_then(Value::as_array) {
        n.required = req.iter().filter_map(|s| s.as_str().map(str::to_string)).collect();
    }
    if let Some(a) = additional {
        n.additional = Some(Box::new(to_ref(a)));
    }
    if let Some(items) = o.get("items") {
        n.items = Some(Box::new(to_ref(items)));
    }
    // An object with neither properties nor value schema holds arbitrary content
    // (RawExtension, FieldsV1): never pruned.
    if n.ty == Ty::Object && props.is_none() && additional.is_none() {
        n.preserve_unknown = true;
    }
    let flag = |k: &str| o.get(k).and_then(Value::as_bool) == Some(true);
    // An embedded resource carries its own apiVersion, kind and metadata.
    n.preserve_unknown |= flag("x-kubernetes-preserve-unknown-fields") || flag("x-kubernetes-embedded-resource");
    apply_meta(
        &mut n,
        &[
            &format!("list={}", str_of(o, "x-kubernetes-list-type")),
            &format!("map={}", str_of(o, "x-kubernetes-map-type")),
        ],
    );
    if let Some(keys) = o.get("x-kubernetes-list-map-keys").and_then(Value::as_array) {
        n.map_keys = keys.iter().filter_map(Value::as_str).map(str::to_string).collect();
    }
    n
}

/// Parses one `patch_meta.txt` line into (definition, field, setter).
pub(super) fn apply_meta(node: &mut Node, attrs: &[&str]) {
    for a in attrs {
        let Some((k, v)) = a.split_once('=') else { continue };
        match k {
            "patch" => {
                node.patch_strategy = match v {
                    "merge" => PatchStrategy::Merge,
                    "replace" => PatchStrategy::Replace,
                    "merge,retainKeys" => PatchStrategy::MergeRetainKeys,
                    "retainKeys" => PatchStrategy::RetainKeys,
                    _ => PatchStrategy::None,
                }
            }
            "key" => node.merge_key = Some(v.to_string()),
            "list" => {
                node.list_type = match v {
                    "set" => ListType::Set,
                    "map" => ListType::Map,
                    _ => ListType::Atomic,
                }
            }
            "keys" => node.map_keys = v.split(',').map(str::to_string).collect(),
            "map" => {
                node.map_type = if v == "atomic" {
                    MapType::Atomic
                } else {
                    MapType::Granular
                }
            }
            _ => {}
        }
    }
}
