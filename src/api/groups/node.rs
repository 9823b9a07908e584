//! `node.k8s.io/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[def(
    "node.k8s.io",
    "v1",
    "RuntimeClass",
    "runtimeclasses",
    "runtimeclass",
    Scope::Cluster,
)];
