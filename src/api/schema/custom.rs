//! A custom resource's schema as a [`Node`] tree: a CRD version's structural schema
//! (`openAPIV3Schema`) with its merge metadata (`x-kubernetes-list-type`/`-list-map-keys`,
//! `x-kubernetes-map-type`) and `metadata` as the built-in ObjectMeta, as upstream's
//! published OpenAPI for the CRD (what its type converters read) has them.

use super::{Node, Ty, TypeRef};
use serde_json::Value;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The root node of a custom resource of this schema; nodes are inline except `metadata`
/// (resolve with [`super::builtin`]).
pub fn root(schema: &Value) -> Node {
    let mut n = super::convert::to_node(schema);
    n.ty = Ty::Object;
    for f in ["apiVersion", "kind"] {
        n.fields.entry(f.into()).or_insert_with(|| {
            TypeRef::Inline(Box::new(Node {
                ty: Ty::String,
                ..Node::default()
            }))
        });
    }
    n.fields.insert("metadata".into(), TypeRef::Named(OBJECT_META.into()));
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::{ListType, MapType};
    use serde_json::json;

    #[test]
    fn list_and_map_types_come_from_the_schema() {
        let r = root(
            &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "tags": {"type": "array", "items": {"type": "string"}},
                "env": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
            }}}}),
        );
        let s = super::super::builtin();
        let spec = s.field(&r, "spec").expect("spec");
        let ports = s.field(spec, "ports").expect("ports");
        assert_eq!(
            (ports.list_type, ports.map_keys.clone()),
            (ListType::Map, vec!["name".to_string()])
        );
        assert_eq!(s.field(spec, "tags").expect("tags").list_type, ListType::Atomic);
        assert_eq!(s.field(spec, "env").expect("env").map_type, MapType::Atomic);
        assert!(s.field(&r, "metadata").is_some_and(|m| m.fields.contains_key("labels")));
        assert_eq!(s.field(&r, "kind").map(|k| k.ty), Some(Ty::String));
    }
}
