//! `storage.k8s.io/v1`, and VolumeAttributesClass in v1beta1 (its storage version) and
//! v1alpha1, both off by default (v1 is 1.34). Upstream's storage checks no gate:
//! `--runtime-config` alone serves them; the VolumeAttributesClass gate (PV/PVC fields, the
//! controllers) is not honoured, so capstan refuses it.
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
    ResourceDef {
        strategy: &VOLUME_ATTRIBUTES_CLASS,
        availability: Availability::off_by_default(None),
        ..def(
            G,
            "v1beta1",
            "VolumeAttributesClass",
            "volumeattributesclasses",
            "volumeattributesclass",
            Scope::Cluster,
        )
    },
    ResourceDef {
        strategy: &VOLUME_ATTRIBUTES_CLASS_V1ALPHA1,
        availability: Availability::off_by_default(None),
        ..def(
            G,
            "v1alpha1",
            "VolumeAttributesClass",
            "volumeattributesclasses",
            "volumeattributesclass",
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

const VOLUME_ATTRIBUTES_CLASS: Builtin = Builtin {
    printer: &table::VOLUME_ATTRIBUTES_CLASS,
    ..strategy::storage::VOLUME_ATTRIBUTES_CLASS
};

const VOLUME_ATTRIBUTES_CLASS_V1ALPHA1: Builtin = Builtin {
    deprecation: Some("storage.k8s.io/v1alpha1 VolumeAttributesClass is deprecated in v1.32+, unavailable in v1.35+"),
    to_storage: convert::storage_to_v1beta1,
    served_form: Some(convert::same_schema_served),
    ..VOLUME_ATTRIBUTES_CLASS
};
