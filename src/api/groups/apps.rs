//! `apps/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        strategy: &CONTROLLER_REVISION,
        ..def(
            "apps",
            "v1",
            "ControllerRevision",
            "controllerrevisions",
            "controllerrevision",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        short_names: &["ds"],
        categories: &["all"],
        subresources: &[STATUS],
        generation: true,
        strategy: &DAEMON_SET,
        ..def("apps", "v1", "DaemonSet", "daemonsets", "daemonset", Scope::Namespaced)
    },
    ResourceDef {
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        generation: true,
        strategy: &DEPLOYMENT,
        ..def(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            "deployment",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        generation: true,
        strategy: &REPLICA_SET,
        ..def(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            "replicaset",
            Scope::Namespaced,
        )
    },
    // StatefulSet names are DNS labels since 1.27 (they become pod hostnames).
    ResourceDef {
        short_names: &["sts"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        name_rule: NameRule::Label,
        generation: true,
        strategy: &STATEFUL_SET,
        ..def(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            "statefulset",
            Scope::Namespaced,
        )
    },
];

// Per-kind behaviour of this group's rows.

const CONTROLLER_REVISION: Builtin = Builtin {
    printer: &table::CONTROLLER_REVISION,
    ..strategy::apps::CONTROLLER_REVISION
};

const DAEMON_SET: Builtin = Builtin {
    printer: &table::DAEMON_SET,
    ..strategy::apps::DAEMON_SET
};

const DEPLOYMENT: Builtin = Builtin {
    printer: &table::DEPLOYMENT,
    ..strategy::apps::DEPLOYMENT
};

const REPLICA_SET: Builtin = Builtin {
    printer: &table::REPLICA_SET,
    ..strategy::apps::REPLICA_SET
};

const STATEFUL_SET: Builtin = Builtin {
    printer: &table::STATEFUL_SET,
    served_form: Some(convert::statefulset_claim_type_meta),
    ..strategy::apps::STATEFUL_SET
};
