//! One schema source for built-in kinds: structure (from k8s-openapi's OpenAPI definitions)
//! plus patch metadata (`x-kubernetes-patch-strategy`/`-merge-key`, `x-kubernetes-list-type`/
//! `-list-map-keys`, `x-kubernetes-map-type`). Validation of unknown fields, strategic merge
//! patch, server-side apply and `/openapi/v2|v3` all read it.
//!
//! Schemas are a graph of named definitions (`io.k8s.api.core.v1.PodSpec`); a field refers to a
//! definition by name or carries an inline node.

use std::collections::{BTreeMap, HashMap};

mod build;
pub mod custom;
pub mod openapi_json;
pub mod structural;
mod validate;

pub use validate::{duplicate_fields, field_validation, field_validation_raw, prune, unknown_fields, FieldValidation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ty {
    #[default]
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    /// `x-kubernetes-int-or-string`
    IntOrString,
    /// Anything (`x-kubernetes-preserve-unknown-fields` with no structure, RawExtension).
    Any,
}

/// `x-kubernetes-list-type` (server-side apply). Lists without metadata are atomic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListType {
    #[default]
    Atomic,
    Set,
    Map,
}

/// `x-kubernetes-patch-strategy` (strategic merge patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatchStrategy {
    /// Replace the list/map wholesale (SMP default for lists).
    #[default]
    None,
    Merge,
    Replace,
    /// `merge,retainKeys`
    MergeRetainKeys,
    /// `retainKeys`
    RetainKeys,
}

/// `x-kubernetes-map-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapType {
    #[default]
    Granular,
    Atomic,
}

/// A reference to a node: a named definition or an inline node.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeRef {
    Named(String),
    Inline(Box<Node>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub ty: Ty,
    pub description: String,
    /// Object properties.
    pub fields: BTreeMap<String, TypeRef>,
    /// Required property names (for `kubectl explain` and validation).
    pub required: Vec<String>,
    /// Map values (`additionalProperties`).
    pub additional: Option<Box<TypeRef>>,
    /// Array items.
    pub items: Option<Box<TypeRef>>,
    pub list_type: ListType,
    pub map_keys: Vec<String>,
    pub patch_strategy: PatchStrategy,
    pub merge_key: Option<String>,
    pub map_type: MapType,
    pub preserve_unknown: bool,
    /// `format` (int32, date-time, byte…).
    pub format: String,
    /// Descriptions of fields whose schema is a named definition (the field's own text, e.g.
    /// `livenessProbe`'s, as opposed to the definition's): what `kubectl explain` prints.
    pub field_docs: BTreeMap<String, String>,
    /// An inline node that is a copy of this named definition plus field-level metadata (e.g.
    /// `DeploymentSpec.strategy`, `x-kubernetes-patch-strategy: retainKeys`); rendered as a
    /// `$ref` with the metadata beside it.
    pub copy_of: Option<String>,
}

#[derive(Debug, Default)]
pub struct Schemas {
    pub defs: HashMap<String, Node>,
    /// (group, version, kind) → definition name.
    pub kinds: HashMap<(String, String, String), String>,
}

/// The schema a kind's objects merge with (server-side apply, managed fields,
/// ApplyConfigurations): a custom resource's CRD version schema, else the built-in one.
pub enum MergeRoot {
    Builtin(&'static Node),
    Custom(std::sync::Arc<Node>),
}

impl MergeRoot {
    pub fn node(&self) -> &Node {
        match self {
            MergeRoot::Builtin(n) => n,
            MergeRoot::Custom(n) => n,
        }
    }
}

/// [`MergeRoot`] of a kind (None: no schema; lists are atomic, as without one upstream).
pub fn merge_root(def: &super::ResourceDef) -> Option<MergeRoot> {
    if let Some(n) = def.strategy.typed_schema() {
        return Some(MergeRoot::Custom(n));
    }
    builtin()
        .root_for(def.group, def.version, def.kind)
        .map(MergeRoot::Builtin)
}

impl Schemas {
    pub fn resolve<'a>(&'a self, r: &'a TypeRef) -> Option<&'a Node> {
        match r {
            TypeRef::Named(n) => self.defs.get(n),
            TypeRef::Inline(n) => Some(n),
        }
    }

    pub fn root_for(&self, group: &str, version: &str, kind: &str) -> Option<&Node> {
        let name = self
            .kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))?;
        self.defs.get(name)
    }

    /// The node of field `name` of an object node.
    pub fn field<'a>(&'a self, node: &'a Node, name: &str) -> Option<&'a Node> {
        node.fields.get(name).and_then(|r| self.resolve(r))
    }

    /// The item node of an array node, or the value node of a map node.
    pub fn elem<'a>(&'a self, node: &'a Node) -> Option<&'a Node> {
        node.items
            .as_deref()
            .or(node.additional.as_deref())
            .and_then(|r| self.resolve(r))
    }
}

impl Schemas {
    /// The definition name of a kind (`io.k8s.api.apps.v1.Deployment`).
    pub fn def_name(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .map(String::as_str)
    }
}

/// The schemas of every built-in kind (built once, on first use: a few MB, some tens of ms).
pub fn builtin() -> &'static Schemas {
    static S: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();
    S.get_or_init(build::build)
}

#[cfg(test)]
mod tests;
