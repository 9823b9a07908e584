//! `coordination.k8s.io/v1`. (`leasecandidates` is beta in 1.33, off by default.)

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    strategy: &LEASE,
    ..def(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        Scope::Namespaced,
    )
}];

// Per-kind behaviour of this group's rows.

const LEASE: Builtin = Builtin {
    printer: &table::LEASE,
    ..strategy::coordination::LEASE
};
