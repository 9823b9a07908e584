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
