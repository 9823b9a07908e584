//! The schema model: a graph of named definitions (`io.k8s.api.core.v1.PodSpec`) whose fields
//! refer to a definition by name or carry an inline node. Plain std types only: `build.rs`
//! compiles this file too, to generate the built-in schemas at build time.

use std::collections::{BTreeMap, HashMap};

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
    pub description: Doc,
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
    pub field_docs: BTreeMap<String, Doc>,
    /// An inline node that is a copy of this named definition plus field-level metadata (e.g.
    /// `DeploymentSpec.strategy`, `x-kubernetes-patch-strategy: retainKeys`); rendered as a
    /// `$ref` with the metadata beside it.
    pub copy_of: Option<String>,
}

#[derive(Debug, Default)]
pub struct Schemas {
    defs: HashMap<String, Def>,
    /// (group, version, kind) → definition name.
    pub kinds: HashMap<(String, String, String), String>,
}

/// A named definition: given, or decoded on first use from its encoding (the built-in schemas,
/// so that only the definitions a server really uses take heap).
#[derive(Debug)]
struct Def {
    /// Boxed: most of the index's entries stay undecoded on a server.
    node: std::sync::OnceLock<Box<Node>>,
    encoded: &'static [u8],
}

impl Def {
    fn node(&self) -> &Node {
        // Every built-in definition's encoding is decoded by the schema tests.
        self.node
            .get_or_init(|| Box::new(super::codec::decode_node(self.encoded).unwrap_or_default()))
    }
}

impl Schemas {
    /// The definition `name` (`io.k8s.api.core.v1.PodSpec`).
    pub fn def(&self, name: &str) -> Option<&Node> {
        self.defs.get(name).map(Def::node)
    }

    pub fn def_mut(&mut self, name: &str) -> Option<&mut Node> {
        let d = self.defs.get_mut(name)?;
        d.node();
        d.node.get_mut().map(Box::as_mut)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.defs.contains_key(name)
    }

    pub fn insert(&mut self, name: String, node: Node) {
        let def = Def {
            node: Box::new(node).into(),
            encoded: &[],
        };
        self.defs.insert(name, def);
    }

    /// A definition to decode from `encoded` when first used.
    #[allow(dead_code)] // build.rs only encodes
    pub(super) fn insert_encoded(&mut self, name: String, encoded: &'static [u8]) {
        let def = Def {
            node: std::sync::OnceLock::new(),
            encoded,
        };
        self.defs.insert(name, def);
    }

    /// Every definition's name, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.defs.keys()
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn resolve<'a>(&'a self, r: &'a TypeRef) -> Option<&'a Node> {
        match r {
            TypeRef::Named(n) => self.def(n),
            TypeRef::Inline(n) => Some(n),
        }
    }

    pub fn root_for(&self, group: &str, version: &str, kind: &str) -> Option<&Node> {
        let name = self
            .kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))?;
        self.def(name)
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

/// Documentation text: owned (CRD schemas), or a span of the built-in documentation that
/// `build.rs` generated (kept out of the heap and out of memory until read).
#[derive(Debug, Clone, Default)]
pub enum Doc {
    #[default]
    Empty,
    Owned(String),
    /// Byte offset and length in [`super::builtin_docs`].
    Builtin(u32, u32),
}

impl Doc {
    pub fn as_str(&self) -> &str {
        match self {
            Doc::Empty => "",
            Doc::Owned(s) => s,
            Doc::Builtin(at, len) => super::builtin_docs()
                .get(*at as usize..(*at + *len) as usize)
                .unwrap_or_default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl PartialEq for Doc {
    fn eq(&self, other: &Doc) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<String> for Doc {
    fn from(s: String) -> Doc {
        if s.is_empty() {
            Doc::Empty
        } else {
            Doc::Owned(s)
        }
    }
}

impl From<&str> for Doc {
    fn from(s: &str) -> Doc {
        s.to_string().into()
    }
}
