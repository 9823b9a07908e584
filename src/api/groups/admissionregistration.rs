//! `admissionregistration.k8s.io/v1`. (Mutating admission policies are alpha in 1.33.)

use super::def;
use crate::api::*;

const G: &str = "admissionregistration.k8s.io";
const EXT: &[&str] = &["api-extensions"];

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        categories: EXT,
        generation: true,
        ..def(
            G,
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            Scope::Cluster,
        )
    },
    ResourceDef {
        categories: EXT,
        subresources: &[STATUS],
        generation: true,
        ..def(
            G,
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            "validatingadmissionpolicy",
            Scope::Cluster,
        )
    },
    ResourceDef {
        categories: EXT,
        generation: true,
        ..def(
            G,
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            "validatingadmissionpolicybinding",
            Scope::Cluster,
        )
    },
    ResourceDef {
        categories: EXT,
        generation: true,
        ..def(
            G,
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            Scope::Cluster,
        )
    },
];
