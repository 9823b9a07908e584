//! What the store asks of admission, without knowing the admission chain: the REST handler
//! hands each write an [`Admission`] for its request (`crate::admission` implements it), and
//! the store calls it at upstream's points — mutating admission after defaulting, validating
//! admission after the strategy's validation, and `finish` once the write is done.
//!
//! ```text
//! handler ─► Registry::create_with(.., Some(&admission)) ─► mutate ─► strategy ─► validate ─► storage ─► finish
//! ```

use super::Registry;
use crate::api::ResourceDef;
use crate::error::ApiResult;
use serde_json::Value;

/// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`, as AdmissionReview spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// One write as admission sees it.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub operation: Operation,
    pub def: &'a ResourceDef,
    pub namespace: Option<&'a str>,
    /// The object's name ("" for a create whose name is generated later).
    pub name: &'a str,
    /// The part of the object the store writes ("" for the object itself, `status`…).
    pub subresource: &'a str,
    pub dry_run: bool,
}

/// A request's admission, as the store runs it.
#[async_trait::async_trait]
pub trait Admission: Send + Sync {
    /// Mutating admission of an incoming object (create and update), in place.
    async fn mutate(&self, reg: &Registry, w: &Write<'_>, obj: &mut Value, old: Option<&Value>) -> ApiResult<()>;
    /// Validating admission after the strategy's validation (create and update), or the
    /// whole chain for a delete (`obj` None, `old` the stored object).
    async fn validate(&self, reg: &Registry, w: &Write<'_>, obj: Option<&Value>, old: Option<&Value>) -> ApiResult<()>;
    /// After the write: keep what admission charged (quota) when it succeeded, else undo it.
    async fn finish(&self, reg: &Registry, ok: bool);
    /// An update through `*/scale`: admission sees the Scale (`old`: the Scale before) and may
    /// change it.
    async fn admit_scale(&self, reg: &Registry, w: &Write<'_>, scale: &mut Value, old: &Value) -> ApiResult<()>;
}
