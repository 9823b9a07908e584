//! `rbac.authorization.k8s.io/v1`. RBAC names only need to be path segments (`system:…`).

use super::def;
use crate::api::*;

const G: &str = "rbac.authorization.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        name_rule: NameRule::PathSegment,
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
        ..def(G, "v1", "ClusterRole", "clusterroles", "clusterrole", Scope::Cluster)
    },
    ResourceDef {
        name_rule: NameRule::PathSegment,
        ..def(G, "v1", "RoleBinding", "rolebindings", "rolebinding", Scope::Namespaced)
    },
    ResourceDef {
        name_rule: NameRule::PathSegment,
        ..def(G, "v1", "Role", "roles", "role", Scope::Namespaced)
    },
];
