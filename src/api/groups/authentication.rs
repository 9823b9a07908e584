//! `authentication.k8s.io/v1`: create-only review APIs, never stored.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        verbs: CREATE_ONLY,
        storage: "",
        served: Served::Review,
        ..def(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            "selfsubjectreviews",
            "selfsubjectreview",
            Scope::Cluster,
        )
    },
    ResourceDef {
        verbs: CREATE_ONLY,
        storage: "",
        served: Served::Review,
        ..def(
            "authentication.k8s.io",
            "v1",
            "TokenReview",
            "tokenreviews",
            "tokenreview",
            Scope::Cluster,
        )
    },
];
