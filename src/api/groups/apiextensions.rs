//! `apiextensions.k8s.io/v1`. Name must be `spec.names.plural + "." + spec.group` (on top of the
//! subdomain rule); `crate::apiext` serves the custom resources the CRDs define.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["crd", "crds"],
    categories: &["api-extensions"],
    subresources: &[STATUS],
    storage: "apiextensions.k8s.io/customresourcedefinitions",
    generation: true,
    strategy: &strategy::apiextensions::CUSTOM_RESOURCE_DEFINITION,
    ..def(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        Scope::Cluster,
    )
}];
