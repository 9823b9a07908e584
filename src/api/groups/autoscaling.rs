//! `autoscaling`: v2 (preferred) then v1, both over the same stored objects.
//!
//! 1.33's HPA strategy does not touch metadata.generation (the `HPAGeneration` gate that makes it
//! do so came later), so `generation` is false here.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        short_names: &["hpa"],
        categories: &["all"],
        subresources: &[STATUS],
        strategy: &HORIZONTAL_POD_AUTOSCALER,
        ..def(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        short_names: &["hpa"],
        categories: &["all"],
        subresources: &[STATUS],
        strategy: &HORIZONTAL_POD_AUTOSCALER_V1,
        ..def(
            "autoscaling",
            "v1",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            Scope::Namespaced,
        )
    },
];

// Per-kind behaviour of this group's rows.

const HORIZONTAL_POD_AUTOSCALER: Builtin = Builtin {
    printer: &table::HORIZONTAL_POD_AUTOSCALER,
    ..Builtin::DEFAULT
};

const HORIZONTAL_POD_AUTOSCALER_V1: Builtin = Builtin {
    printer: &table::HORIZONTAL_POD_AUTOSCALER,
    to_storage: convert::hpa_v1_to_v2,
    served_form: Some(convert::hpa_v1_from_storage),
    ..Builtin::DEFAULT
};
