//! `admissionregistration.k8s.io/v1`; v1beta1's ValidatingAdmissionPolicy(Binding) (off by
//! default; the same schema, stored as v1); v1alpha1's MutatingAdmissionPolicies (alpha in
//! 1.33: served with `--runtime-config=admissionregistration.k8s.io/v1alpha1=true`, enforced
//! with the `MutatingAdmissionPolicy` feature gate, as upstream).

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
        subresources: &[STATUS],
        generation: true,
        strategy: &VALIDATING_ADMISSION_POLICY_V1BETA1,
        availability: Availability::off_by_default(None),
        ..def(
            G,
            "v1beta1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            "validatingadmissionpolicy",
            Scope::Cluster,
        )
    },
    ResourceDef {
        categories: EXT,
        generation: true,
        strategy: &VALIDATING_ADMISSION_POLICY_BINDING_V1BETA1,
        availability: Availability::off_by_default(None),
        ..def(
            G,
            "v1beta1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            "validatingadmissionpolicybinding",
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

/// Upstream 1.33 serves the v1alpha1 API whenever `--runtime-config` enables it (its storage
/// checks no gate); the `MutatingAdmissionPolicy` gate turns on the admission plugin that
/// enforces the policies.
const MAP_AVAILABILITY: Availability = Availability::off_by_default(None);

const MUTATING_ADMISSION_POLICY: Builtin = Builtin {
    printer: &table::MUTATING_ADMISSION_POLICY,
    defaults: crate::api::strategy::admissionregistration::default_policy,
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
    defaults: crate::api::strategy::admission_webhooks::default_mutating,
    validate: crate::api::strategy::admission_webhooks::validate_mutating,
    validate_update: crate::api::strategy::admission_webhooks::validate_mutating_update,
    update_replaces_validate: true,
    ..Builtin::DEFAULT
};

const VALIDATING_ADMISSION_POLICY: Builtin = Builtin {
    printer: &table::VALIDATING_ADMISSION_POLICY,
    defaults: crate::api::strategy::admissionregistration::default_policy,
    validate: crate::api::strategy::admissionregistration::validate_policy,
    validate_update: crate::api::strategy::admissionregistration::validate_policy_update,
    update_replaces_validate: true,
    status_write: StatusWrite::KeepUserMeta,
    ..Builtin::DEFAULT
};

const VALIDATING_ADMISSION_POLICY_BINDING: Builtin = Builtin {
    printer: &table::VALIDATING_ADMISSION_POLICY_BINDING,
    defaults: crate::api::strategy::admissionregistration::default_binding,
    validate: crate::api::strategy::admissionregistration::validate_binding,
    validate_update: crate::api::strategy::admissionregistration::validate_binding_update,
    update_replaces_validate: true,
    ..Builtin::DEFAULT
};

const VALIDATING_WEBHOOK_CONFIGURATION: Builtin = Builtin {
    printer: &table::WEBHOOK_CONFIGURATION,
    defaults: crate::api::strategy::admission_webhooks::default_validating,
    validate: crate::api::strategy::admission_webhooks::validate_validating,
    validate_update: crate::api::strategy::admission_webhooks::validate_validating_update,
    update_replaces_validate: true,
    ..Builtin::DEFAULT
};

const VALIDATING_ADMISSION_POLICY_V1BETA1: Builtin = Builtin {
    to_storage: convert::admissionregistration_to_v1,
    served_form: Some(convert::same_schema_served),
    ..VALIDATING_ADMISSION_POLICY
};

const VALIDATING_ADMISSION_POLICY_BINDING_V1BETA1: Builtin = Builtin {
    to_storage: convert::admissionregistration_to_v1,
    served_form: Some(convert::same_schema_served),
    ..VALIDATING_ADMISSION_POLICY_BINDING
};
