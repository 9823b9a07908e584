//! `policy/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["pdb"],
    subresources: &[STATUS],
    generation: true,
    strategy: &POD_DISRUPTION_BUDGET,
    ..def(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        Scope::Namespaced,
    )
}];

// Per-kind behaviour of this group's rows.

const POD_DISRUPTION_BUDGET: Builtin = Builtin {
    printer: &table::POD_DISRUPTION_BUDGET,
    ..Builtin::DEFAULT
};
