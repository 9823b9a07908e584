//! `apiregistration.k8s.io` (kube-aggregator).

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    // Name must be `spec.version + "." + spec.group`, checked after the path-segment rule.
    ResourceDef {
        categories: &["api-extensions"],
        subresources: &[STATUS],
        storage: "apiregistration.k8s.io/apiservices",
        name_rule: NameRule::PathSegment,
        strategy: &API_SERVICE,
        ..def(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            "apiservice",
            Scope::Cluster,
        )
    },
];

// Per-kind behaviour of this group's rows.

const API_SERVICE: Builtin = Builtin {
    printer: &table::API_SERVICE,
    status_write: StatusWrite::KeepUserMeta,
    ..Builtin::DEFAULT
};
