//! One schema source for built-in kinds: structure (from k8s-openapi's OpenAPI definitions)
//! plus patch metadata (`x-kubernetes-patch-strategy`/`-merge-key`, `x-kubernetes-list-type`/
//! `-list-map-keys`, `x-kubernetes-map-type`). Validation of unknown fields, strategic merge
//! patch, server-side apply and `/openapi/v2|v3` all read it.
//!
//! The built-in kinds' schemas are generated at build time (`build.rs` runs [`generate`] over
//! k8s-openapi's schemars output and stores them with [`codec`]); the server only decodes them.

mod codec;
mod convert;
pub mod custom;
#[cfg(test)]
mod generate;
mod model;
pub mod openapi_json;
pub mod structural;
mod validate;

pub use model::{Doc, ListType, MapType, Node, PatchStrategy, Schemas, Ty, TypeRef};
pub use validate::{duplicate_fields, field_validation, field_validation_raw, prune, unknown_fields, FieldValidation};

/// The schemas of every built-in kind (decoded once, on first use).
pub fn builtin() -> &'static Schemas {
    static S: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();
    S.get_or_init(|| codec::decode(BUILTIN_STRUCTURE).expect("build.rs wrote a valid schema encoding"))
}

/// The built-in schemas without their documentation (see [`codec`]).
static BUILTIN_STRUCTURE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/builtin-schemas.bin"));

/// Every built-in description, concatenated; [`Doc::Builtin`] spans index it. Only the pages a
/// reader touches (`/openapi`, `kubectl explain`) are ever loaded.
pub(crate) fn builtin_docs() -> &'static str {
    include_str!(concat!(env!("OUT_DIR"), "/builtin-docs.txt"))
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

#[cfg(test)]
mod tests;
