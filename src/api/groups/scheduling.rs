//! `scheduling.k8s.io/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["pc"],
    strategy: &PRIORITY_CLASS,
    ..def(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        Scope::Cluster,
    )
}];

// Per-kind behaviour of this group's rows.

const PRIORITY_CLASS: Builtin = Builtin {
    printer: &table::PRIORITY_CLASS,
    ..strategy::scheduling::PRIORITY_CLASS
};
