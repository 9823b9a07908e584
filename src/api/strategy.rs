//! Per-kind behaviour beyond the generic registry: defaulting and validation, matching
//! upstream's `pkg/apis/*/v1/defaults.go` and `pkg/apis/*/validation`.

pub mod apps;
pub mod batch;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod networking;
pub mod rbac;
pub mod storage;

use super::field::FieldErrors;
use serde_json::Value;

pub struct Strategy {
    /// Defaults applied to every incoming object (create and update), like upstream's
    /// defaulting on decode.
    pub defaults: fn(&mut Value),
    /// Create-only preparation after the generic status reset (e.g. `status.phase`).
    pub prepare_create: fn(&mut Value),
    /// Validation of the object beyond ObjectMeta (which `meta` checks for every kind).
    pub validate: fn(&Value, &mut FieldErrors),
    /// Extra update rules (immutable fields): `(new, old)`.
    pub validate_update: fn(&Value, &Value, &mut FieldErrors),
    /// Keep `status` from the request on create (nodes, events…); otherwise the registry
    /// clears it for kinds with a status subresource.
    pub keep_status_on_create: bool,
}

fn no_op(_: &mut Value) {}
fn no_validate(_: &Value, _: &mut FieldErrors) {}
fn no_validate_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

pub static DEFAULT: Strategy = Strategy {
    defaults: no_op,
    prepare_create: no_op,
    validate: no_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
};

/// The strategy for a kind; `DEFAULT` for kinds without special rules.
pub fn strategy_for(group: &str, kind: &str) -> &'static Strategy {
    let found = match group {
        "" => core::strategy_for(kind),
        "apps" => apps::strategy_for(kind),
        "batch" => batch::strategy_for(kind),
        "rbac.authorization.k8s.io" => rbac::strategy_for(kind),
        "networking.k8s.io" => networking::strategy_for(kind),
        "storage.k8s.io" => storage::strategy_for(kind),
        "coordination.k8s.io" => coordination::strategy_for(kind),
        "discovery.k8s.io" => discovery::strategy_for(kind),
        _ => None,
    };
    found.unwrap_or(&DEFAULT)
}
