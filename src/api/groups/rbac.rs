//! `rbac.authorization.k8s.io/v1`. RBAC names only need to be path segments (`system:…`).

use super::def;
use crate::api::*;

const G: &str = "rbac.authorization.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        name_rule: NameRule::PathSegment,
        strategy: &CLUSTER_ROLE_BINDING,
        ..def(
            G,
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            "clusterrolebinding",
            Scope::Cluster,
        )
    },
    ResourceDef {
        name_rule: NameRule::PathSegment,
        strategy: &CLUSTER_ROLE,
        ..def(G, "v1", "ClusterRole", "clusterroles", "clusterrole", Scope::Cluster)
    },
    ResourceDef {
        name_rule: NameRule::PathSegment,
        strategy: &ROLE_BINDING,
        ..def(G, "v1", "RoleBinding", "rolebindings", "rolebinding", Scope::Namespaced)
    },
    ResourceDef {
        name_rule: NameRule::PathSegment,
        strategy: &ROLE,
        ..def(G, "v1", "Role", "roles", "role", Scope::Namespaced)
    },
];

// Per-kind behaviour of this group's rows.

const CLUSTER_ROLE_BINDING: Builtin = Builtin {
    printer: &table::CLUSTER_ROLE_BINDING,
    ..strategy::rbac::CLUSTER_ROLE_BINDING
};

const CLUSTER_ROLE: Builtin = Builtin {
    ..strategy::rbac::CLUSTER_ROLE
};

const ROLE_BINDING: Builtin = Builtin {
    printer: &table::ROLE_BINDING,
    ..strategy::rbac::ROLE_BINDING
};

const ROLE: Builtin = Builtin { ..strategy::rbac::ROLE };
