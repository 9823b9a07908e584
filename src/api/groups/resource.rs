//! `resource.k8s.io` (Dynamic Resource Allocation): v1beta2 and v1beta1 (beta) and v1alpha3
//! (alpha), all off by default in 1.33 and served with `--runtime-config` alone, as upstream's
//! REST storage checks no feature gate. Objects are stored as v1beta1 whichever versions are
//! served (DeviceTaintRule, v1alpha3 only, as v1alpha3); the gates decide only which fields a
//! write keeps (`strategy::resource`).

use super::def;
use crate::api::strategy::resource as s;
use crate::api::*;

const G: &str = "resource.k8s.io";
const OFF: Availability = Availability::off_by_default(None);

/// The four kinds every version serves, with each version's behaviour.
macro_rules! dra_rows {
    ($v:literal, $class:expr, $claim:expr, $template:expr, $slice:expr) => {
        [
            ResourceDef {
                generation: true,
                strategy: &$class,
                availability: OFF,
                ..def(G, $v, "DeviceClass", "deviceclasses", "deviceclass", Scope::Cluster)
            },
            ResourceDef {
                subresources: &[STATUS],
                strategy: &$claim,
                availability: OFF,
                ..def(
                    G,
                    $v,
                    "ResourceClaim",
                    "resourceclaims",
                    "resourceclaim",
                    Scope::Namespaced,
                )
            },
            ResourceDef {
                strategy: &$template,
                availability: OFF,
                ..def(
                    G,
                    $v,
                    "ResourceClaimTemplate",
                    "resourceclaimtemplates",
                    "resourceclaimtemplate",
                    Scope::Namespaced,
                )
            },
            ResourceDef {
                generation: true,
                strategy: &$slice,
                availability: OFF,
                ..def(
                    G,
                    $v,
                    "ResourceSlice",
                    "resourceslices",
                    "resourceslice",
                    Scope::Cluster,
                )
            },
        ]
    };
}

const V1BETA2: [ResourceDef; 4] = dra_rows!(
    "v1beta2",
    DEVICE_CLASS_V1BETA2,
    RESOURCE_CLAIM_V1BETA2,
    RESOURCE_CLAIM_TEMPLATE_V1BETA2,
    RESOURCE_SLICE_V1BETA2
);
const V1BETA1: [ResourceDef; 4] = dra_rows!(
    "v1beta1",
    DEVICE_CLASS,
    RESOURCE_CLAIM,
    RESOURCE_CLAIM_TEMPLATE,
    RESOURCE_SLICE
);
const V1ALPHA3: [ResourceDef; 4] = dra_rows!(
    "v1alpha3",
    DEVICE_CLASS_V1ALPHA3,
    RESOURCE_CLAIM_V1ALPHA3,
    RESOURCE_CLAIM_TEMPLATE_V1ALPHA3,
    RESOURCE_SLICE_V1ALPHA3
);

pub const ROWS: &[ResourceDef] = &[
    V1BETA2[0],
    V1BETA2[1],
    V1BETA2[2],
    V1BETA2[3],
    V1BETA1[0],
    V1BETA1[1],
    V1BETA1[2],
    V1BETA1[3],
    V1ALPHA3[0],
    ResourceDef {
        generation: true,
        strategy: &DEVICE_TAINT_RULE,
        availability: OFF,
        ..def(
            G,
            "v1alpha3",
            "DeviceTaintRule",
            "devicetaintrules",
            "devicetaintrule",
            Scope::Cluster,
        )
    },
    V1ALPHA3[1],
    V1ALPHA3[2],
    V1ALPHA3[3],
];

// Per-kind behaviour of this group's rows: v1beta1, the storage version, as stored; the other
// versions convert on the way in and out.

const DEVICE_CLASS: Builtin = Builtin {
    printer: &table::NAME_AGE,
    validate: s::validate::device_class,
    ..Builtin::DEFAULT
};

const RESOURCE_CLAIM: Builtin = Builtin {
    printer: &table::RESOURCE_CLAIM,
    defaults: s::default_claim,
    drop_disabled: s::drop_claim_fields,
    validate: s::validate::claim,
    validate_update: s::validate::claim_update,
    namespace_rule: Some(s::claim_namespace_rule),
    status_write: StatusWrite::KeepUserMeta,
    ..Builtin::DEFAULT
};

const RESOURCE_CLAIM_TEMPLATE: Builtin = Builtin {
    printer: &table::NAME_AGE,
    defaults: s::default_claim_template,
    drop_disabled: s::drop_claim_template_fields,
    validate: s::validate::claim_template,
    validate_update: s::validate::claim_template_update,
    namespace_rule: Some(s::claim_template_namespace_rule),
    ..Builtin::DEFAULT
};

const RESOURCE_SLICE: Builtin = Builtin {
    printer: &table::RESOURCE_SLICE,
    to_storage: s::convert::v1beta1_to_storage,
    fields: &fields::RESOURCE_SLICE_V1BETA1,
    defaults: s::default_slice,
    drop_disabled: s::drop_slice_fields,
    validate: s::validate::slice,
    validate_update: s::validate::slice_update,
    ..Builtin::DEFAULT
};

const DEVICE_TAINT_RULE: Builtin = Builtin {
    printer: &table::DEVICE_TAINT_RULE,
    defaults: s::default_taint_rule,
    validate: s::validate::taint_rule,
    ..Builtin::DEFAULT
};

fn v1beta2_served(_def: &ResourceDef, stored: &serde_json::Value) -> Option<serde_json::Value> {
    let mut v = stored.clone();
    s::convert::v1beta1_to_v1beta2(&mut v);
    Some(v)
}

fn v1alpha3_to_storage(v: &mut serde_json::Value) {
    s::convert::v1alpha3_to_v1beta1(v);
}

fn v1alpha3_served(_def: &ResourceDef, stored: &serde_json::Value) -> Option<serde_json::Value> {
    let mut v = stored.clone();
    s::convert::v1beta1_to_v1alpha3(&mut v);
    Some(v)
}

/// `kind`'s v1beta1 behaviour served as v1beta2.
const fn v1beta2(b: Builtin) -> Builtin {
    Builtin {
        to_storage: s::convert::v1beta2_to_v1beta1,
        served_form: Some(v1beta2_served),
        ..b
    }
}

/// `kind`'s v1beta1 behaviour served as v1alpha3.
const fn v1alpha3(b: Builtin) -> Builtin {
    Builtin {
        to_storage: v1alpha3_to_storage,
        served_form: Some(v1alpha3_served),
        ..b
    }
}

const DEVICE_CLASS_V1BETA2: Builtin = v1beta2(DEVICE_CLASS);
const RESOURCE_CLAIM_V1BETA2: Builtin = v1beta2(RESOURCE_CLAIM);
const RESOURCE_CLAIM_TEMPLATE_V1BETA2: Builtin = v1beta2(RESOURCE_CLAIM_TEMPLATE);
const RESOURCE_SLICE_V1BETA2: Builtin = Builtin {
    fields: &fields::RESOURCE_SLICE_V1BETA2,
    ..v1beta2(RESOURCE_SLICE)
};
const DEVICE_CLASS_V1ALPHA3: Builtin = v1alpha3(DEVICE_CLASS);
const RESOURCE_CLAIM_V1ALPHA3: Builtin = v1alpha3(RESOURCE_CLAIM);
const RESOURCE_CLAIM_TEMPLATE_V1ALPHA3: Builtin = v1alpha3(RESOURCE_CLAIM_TEMPLATE);
const RESOURCE_SLICE_V1ALPHA3: Builtin = Builtin {
    fields: &fields::RESOURCE_SLICE_V1ALPHA3,
    ..v1alpha3(RESOURCE_SLICE)
};
