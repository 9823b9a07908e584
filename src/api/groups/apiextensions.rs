//! `apiextensions.k8s.io/v1`. CRDs are stored objects here; serving the custom resources they
//! define is a later step. Name must be `spec.names.plural + "." + spec.group` (on top of the
//! subdomain rule).

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["crd", "crds"],
    categories: &["api-extensions"],
    subresources: &[STATUS],
    storage: "apiextensions.k8s.io/customresourcedefinitions",
    generation: true,
    ..def(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        Scope::Cluster,
    )
}];
