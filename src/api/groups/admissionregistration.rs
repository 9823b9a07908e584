//! `admissionregistration.k8s.io/v1`, and `v1alpha1`'s MutatingAdmissionPolicies (alpha in
//! 1.33: served only with `--runtime-config=admissionregistration.k8s.io/v1alpha1=true` and the
//! `MutatingAdmissionPolicy` feature gate).

use super::def;
use crate::api::*;

const G: &str = "admissionregistration.k8s.io";
const EXT: &[&str] = &["api-extensions"];

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        categories: EXT,
        generation: true,
        strategy: &MUTATING_WEBHOOK_CONFIGURATION,
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
        strategy: &VALIDATING_ADMISSION_POLICY,
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
        strategy: &VALIDATING_ADMISSION_POLICY_BINDING,
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
        strategy: &VALIDATING_WEBHOOK_CONFIGURATION,
        ..def(
            G,
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            Scope::Cluster,
        )
    },
    ResourceDef {
        categories: EXT,
        generation: true,
        strategy: &MUTATING_ADMISSION_POLICY,
        availability: MAP_AVAILABILITY,
        ..def(
            G,
            "v1alpha1",
            "MutatingAdmissionPolicy",
            "mutatingadmissionpolicies",
            "mutatingadmissionpolicy",
            Scope::Cluster,
        )
    },
    ResourceDef {
        categories: EXT,
        generation: true,
        strategy: &MUTATING_ADMISSION_POLICY_BINDING,
        availability: MAP_AVAILABILITY,
        ..def(
            G,
            "v1alpha1",
            "MutatingAdmissionPolicyBinding",
            "mutatingadmissionpolicybindings",
            "mutatingadmissionpolicybinding",
            Scope::Cluster,
        )
    },
];

// Per-kind behaviour of this group's rows.

const MAP_AVAILABILITY: Availability = Availability::off_by_default(Some("MutatingAdmissionPolicy"));

const MUTATING_ADMISSION_POLICY: Builtin = Builtin {
    printer: &table::MUTATING_ADMISSION_POLICY,
    defaults: crate::api::strategy::admissionregistration::default_mutating_policy,
    validate: crate::api::strategy::admissionregistration::validate_mutating_policy,
    validate_update: crate::api::strategy::admissionregistration::validate_mutating_policy_update,
    ..Builtin::DEFAULT
};

const MUTATING_ADMISSION_POLICY_BINDING: Builtin = Builtin {
    printer: &table::VALIDATING_ADMISSION_POLICY_BINDING,
    defaults: crate::api::strategy::admissionregistration::default_mutating_binding,
    validate: crate::api::strategy::admissionregistration::validate_mutating_binding,
    validate_update: crate::api::strategy::admissionregistration::validate_mutating_binding_update,
    ..Builtin::DEFAULT
};

const MUTATING_WEBHOOK_CONFIGURATION: Builtin = Builtin {
    printer: &table::WEBHOOK_CONFIGURATION,
    ..Builtin::DEFAULT
};

const VALIDATING_ADMISSION_POLICY: Builtin = Builtin {
    printer: &table::VALIDATING_ADMISSION_POLICY,
    validate: crate::api::strategy::admissionregistration::validate_policy,
    validate_update: crate::api::strategy::admissionregistration::validate_policy_update,
    status_write: StatusWrite::KeepUserMeta,
    ..Builtin::DEFAULT
};

const VALIDATING_ADMISSION_POLICY_BINDING: Builtin = Builtin {
    printer: &table::VALIDATING_ADMISSION_POLICY_BINDING,
    ..Builtin::DEFAULT
};

const VALIDATING_WEBHOOK_CONFIGURATION: Builtin = Builtin {
    printer: &table::WEBHOOK_CONFIGURATION,
    ..Builtin::DEFAULT
};
