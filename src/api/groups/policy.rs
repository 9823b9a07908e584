//! `policy/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["pdb"],
    subresources: &[STATUS],
    generation: true,
    ..def(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        Scope::Namespaced,
    )
}];
