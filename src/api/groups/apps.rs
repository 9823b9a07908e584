//! `apps/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    def(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        Scope::Namespaced,
    ),
    ResourceDef {
        short_names: &["ds"],
        categories: &["all"],
        subresources: &[STATUS],
        generation: true,
        ..def("apps", "v1", "DaemonSet", "daemonsets", "daemonset", Scope::Namespaced)
    },
    ResourceDef {
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        generation: true,
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
