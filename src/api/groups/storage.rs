//! `storage.k8s.io/v1`. (`volumeattributesclasses` is beta in 1.33, off by default; v1 is 1.34.)
//!
//! CSIDriver's strategy bumps generation on spec changes but never initialises it on create; the
//! table's single flag cannot say that, so it stays false here.

use super::def;
use crate::api::*;

const G: &str = "storage.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        strategy: &CSI_DRIVER,
        ..def(G, "v1", "CSIDriver", "csidrivers", "csidriver", Scope::Cluster)
    },
    ResourceDef {
        strategy: &CSI_NODE,
        ..def(G, "v1", "CSINode", "csinodes", "csinode", Scope::Cluster)
    },
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
        strategy: &STORAGE_CLASS,
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
        strategy: &VOLUME_ATTACHMENT,
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

// Per-kind behaviour of this group's rows.

const CSI_DRIVER: Builtin = Builtin {
    ..strategy::storage::CSI_DRIVER
};

const CSI_NODE: Builtin = Builtin {
    printer: &table::CSI_NODE,
    ..Builtin::DEFAULT
};

const STORAGE_CLASS: Builtin = Builtin {
    printer: &table::STORAGE_CLASS,
    returns_deleted_object: true,
    ..strategy::storage::STORAGE_CLASS
};

const VOLUME_ATTACHMENT: Builtin = Builtin {
    printer: &table::VOLUME_ATTACHMENT,
    status_write: StatusWrite::KeepUserMeta,
    ..strategy::storage::VOLUME_ATTACHMENT
};
