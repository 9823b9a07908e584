//! `flowcontrol.apiserver.k8s.io/v1` (v1beta3 was removed in 1.32).

use super::def;
use crate::api::*;

const G: &str = "flowcontrol.apiserver.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        subresources: &[STATUS],
        generation: true,
        ..def(G, "v1", "FlowSchema", "flowschemas", "flowschema", Scope::Cluster)
    },
    ResourceDef {
        subresources: &[STATUS],
        generation: true,
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
