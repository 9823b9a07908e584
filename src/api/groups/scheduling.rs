//! `scheduling.k8s.io/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["pc"],
    ..def(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        Scope::Cluster,
    )
}];
