//! `flowcontrol.apiserver.k8s.io/v1` (v1beta3 was removed in 1.32).

use super::def;
use crate::api::*;

const G: &str = "flowcontrol.apiserver.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        subresources: &[STATUS],
        generation: true,
        strategy: &STATUS_KEEPS_META,
        ..def(G, "v1", "FlowSchema", "flowschemas", "flowschema", Scope::Cluster)
    },
    ResourceDef {
        subresources: &[STATUS],
        generation: true,
        strategy: &STATUS_KEEPS_META,
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

/// Status writes (the APF controller's) change only status, metadata included.
const STATUS_KEEPS_META: Builtin = Builtin {
    status_write: StatusWrite::KeepMeta,
    ..Builtin::DEFAULT
};
