//! `storage.k8s.io/v1`. (`volumeattributesclasses` is beta in 1.33, off by default; v1 is 1.34.)
//!
//! CSIDriver's strategy bumps generation on spec changes but never initialises it on create; the
//! table's single flag cannot say that, so it stays false here.

use super::def;
use crate::api::*;

const G: &str = "storage.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    def(G, "v1", "CSIDriver", "csidrivers", "csidriver", Scope::Cluster),
    def(G, "v1", "CSINode", "csinodes", "csinode", Scope::Cluster),
    def(
        G,
        "v1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        "csistoragecapacity",
        Scope::Namespaced,
    ),
    ResourceDef {
        short_names: &["sc"],
        ..def(
            G,
            "v1",
            "StorageClass",
            "storageclasses",
            "storageclass",
            Scope::Cluster,
        )
    },
    ResourceDef {
        subresources: &[STATUS],
        ..def(
            G,
            "v1",
            "VolumeAttachment",
            "volumeattachments",
            "volumeattachment",
            Scope::Cluster,
        )
    },
];
