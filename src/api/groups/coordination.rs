//! `coordination.k8s.io`: v1 Lease; LeaseCandidate in v1beta1 (its storage version) and
//! v1alpha2, both off by default. Upstream's storage checks no gate: `--runtime-config` alone
//! serves them. The CoordinatedLeaderElection gate (upstream's in-apiserver leader-election
//! controller) is not honoured, so capstan refuses it.

use super::def;
use crate::api::*;

const G: &str = "coordination.k8s.io";

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        strategy: &LEASE,
        ..def(G, "v1", "Lease", "leases", "lease", Scope::Namespaced)
    },
    ResourceDef {
        name_rule: NameRule::ConfigMapKey,
        strategy: &LEASE_CANDIDATE,
        availability: Availability::off_by_default(None),
        ..def(
            G,
            "v1beta1",
            "LeaseCandidate",
            "leasecandidates",
            "leasecandidate",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        name_rule: NameRule::ConfigMapKey,
        strategy: &LEASE_CANDIDATE_V1ALPHA2,
        availability: Availability::off_by_default(None),
        ..def(
            G,
            "v1alpha2",
            "LeaseCandidate",
            "leasecandidates",
            "leasecandidate",
            Scope::Namespaced,
        )
    },
];

// Per-kind behaviour of this group's rows.

const LEASE: Builtin = Builtin {
    printer: &table::LEASE,
    ..strategy::coordination::LEASE
};

const LEASE_CANDIDATE: Builtin = Builtin {
    printer: &table::LEASE_CANDIDATE,
    ..strategy::coordination::LEASE_CANDIDATE
};

const LEASE_CANDIDATE_V1ALPHA2: Builtin = Builtin {
    to_storage: convert::coordination_to_v1beta1,
    served_form: Some(convert::same_schema_served),
    ..LEASE_CANDIDATE
};
