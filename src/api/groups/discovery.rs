//! `discovery.k8s.io/v1`.
//!
//! The EndpointSlice strategy starts generation at 1 and bumps it when anything but metadata
//! changes (or the labels change) — broader than "spec" for other kinds.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    generation: true,
    strategy: &ENDPOINT_SLICE,
    ..def(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        Scope::Namespaced,
    )
}];

// Per-kind behaviour of this group's rows.

const ENDPOINT_SLICE: Builtin = Builtin {
    printer: &table::ENDPOINT_SLICE,
    ..strategy::discovery::ENDPOINT_SLICE
};
