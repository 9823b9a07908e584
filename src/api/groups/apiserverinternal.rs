//! `internal.apiserver.k8s.io/v1alpha1` StorageVersion, off by default. Upstream's storage
//! checks no gate: `--runtime-config` alone serves the kind as plain objects. The
//! StorageVersionAPI gate (the apiserver writing its own StorageVersions) is not honoured, so
//! capstan refuses it.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    subresources: &[STATUS],
    name_rule: NameRule::GroupResource,
    strategy: &STORAGE_VERSION,
    availability: Availability::off_by_default(None),
    ..def(
        "internal.apiserver.k8s.io",
        "v1alpha1",
        "StorageVersion",
        "storageversions",
        "storageversion",
        Scope::Cluster,
    )
}];

const STORAGE_VERSION: Builtin = Builtin {
    printer: &table::STORAGE_VERSION,
    status_write: StatusWrite::KeepUserMeta,
    ..strategy::apiserverinternal::STORAGE_VERSION
};
