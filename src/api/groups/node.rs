//! `node.k8s.io/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    strategy: &RUNTIME_CLASS,
    ..def(
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        "runtimeclasses",
        "runtimeclass",
        Scope::Cluster,
    )
}];

// Per-kind behaviour of this group's rows.

const RUNTIME_CLASS: Builtin = Builtin {
    printer: &table::RUNTIME_CLASS,
    ..Builtin::DEFAULT
};
