//! `authorization.k8s.io/v1`: create-only review APIs, never stored.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        verbs: CREATE_ONLY,
        storage: "",
        served: Served::Review,
        ..def(
            "authorization.k8s.io",
            "v1",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            "localsubjectaccessreview",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        verbs: CREATE_ONLY,
        storage: "",
        served: Served::Review,
        ..def(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            Scope::Cluster,
        )
    },
    ResourceDef {
        verbs: CREATE_ONLY,
        storage: "",
        served: Served::Review,
        ..def(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            Scope::Cluster,
        )
    },
    ResourceDef {
        verbs: CREATE_ONLY,
        storage: "",
        served: Served::Review,
        ..def(
            "authorization.k8s.io",
            "v1",
            "SubjectAccessReview",
            "subjectaccessreviews",
            "subjectaccessreview",
            Scope::Cluster,
        )
    },
];
