//! `certificates.k8s.io/v1`. (`clustertrustbundles` is beta in 1.33 and off by default.)

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    // Upstream imposes no rule on CSR names ("We don't care what you call your certificate
    // requests"), so only the path-segment rule every key obeys applies.
    ResourceDef {
        short_names: &["csr"],
        subresources: &[
            // An update that only carries status.conditions (Approved/Denied); the signer
            // `approve` check belongs to the CertificateApproval admission plugin.
            SubresourceDef {
                name: "approval",
                response: None,
                verbs: STATUS_VERBS,
                served: Served::Store,
            },
            STATUS,
        ],
        name_rule: NameRule::PathSegment,
        strategy: &CERTIFICATE_SIGNING_REQUEST,
        ..def(
            "certificates.k8s.io",
            "v1",
            "CertificateSigningRequest",
            "certificatesigningrequests",
            "certificatesigningrequest",
            Scope::Cluster,
        )
    },
];

// Per-kind behaviour of this group's rows.

const CERTIFICATE_SIGNING_REQUEST: Builtin = Builtin {
    printer: &table::CERTIFICATE_SIGNING_REQUEST,
    fields: &fields::CERTIFICATE_SIGNING_REQUEST,
    ..Builtin::DEFAULT
};
