//! `flowcontrol.apiserver.k8s.io/v1` (v1beta3 was removed in 1.32).

use super::def;
use crate::api::*;

const G: &str = "flowcontrol.apiserver.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        subresources: &[STATUS],
        generation: true,
        strategy: &FLOW_SCHEMA,
        ..def(G, "v1", "FlowSchema", "flowschemas", "flowschema", Scope::Cluster)
    },
    ResourceDef {
        subresources: &[STATUS],
        generation: true,
        strategy: &PRIORITY_LEVEL,
        ..def(
            G,
            "v1",
            "PriorityLevelConfiguration",
            "prioritylevelconfigurations",
            "prioritylevelconfiguration",
            Scope::Cluster,
        )
    },
];

// Per-kind behaviour of this group's rows.

const FLOW_SCHEMA: Builtin = Builtin {
    defaults: strategy::flowcontrol::default_flow_schema,
    prepare_create: strategy::flowcontrol::empty_status,
    validate: strategy::flowcontrol::validate_flow_schema,
    printer: &table::FLOW_SCHEMA,
    table_order: Some(strategy::flowcontrol::by_precedence),
    status_write: StatusWrite::KeepMeta,
    ..Builtin::DEFAULT
};

const PRIORITY_LEVEL: Builtin = Builtin {
    defaults: strategy::flowcontrol::default_priority_level,
    prepare_create: strategy::flowcontrol::empty_status,
    validate: strategy::flowcontrol::validate_priority_level,
    printer: &table::PRIORITY_LEVEL,
    status_write: StatusWrite::KeepMeta,
    ..Builtin::DEFAULT
};
