//! `coordination.k8s.io/v1`. (`leasecandidates` is beta in 1.33, off by default.)

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[def(
    "coordination.k8s.io",
    "v1",
    "Lease",
    "leases",
    "lease",
    Scope::Namespaced,
)];
