//! `networking.k8s.io/v1`. ServiceCIDR and IPAddress are GA (v1, on by default) in 1.33; their
//! v1beta1 (off by default, the same schema) is served over the v1 objects.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        generation: true,
        strategy: &INGRESS_CLASS,
        ..def(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            "ingressclass",
            Scope::Cluster,
        )
    },
    ResourceDef {
        short_names: &["ing"],
        subresources: &[STATUS],
        storage: "ingress",
        generation: true,
        strategy: &INGRESS,
        ..def(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            "ingress",
            Scope::Namespaced,
        )
    },
    // The name must be an IP address in canonical form (IPv6 has ':' so it is not a subdomain);
    // the table can only say "path segment", the strategy checks the address.
    ResourceDef {
        short_names: &["ip"],
        name_rule: NameRule::PathSegment,
        strategy: &IP_ADDRESS,
        ..def(
            "networking.k8s.io",
            "v1",
            "IPAddress",
            "ipaddresses",
            "ipaddress",
            Scope::Cluster,
        )
    },
    ResourceDef {
        short_names: &["netpol"],
        generation: true,
        strategy: &NETWORK_POLICY,
        ..def(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            "networkpolicy",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        subresources: &[STATUS],
        strategy: &SERVICE_CIDR,
        ..def(
            "networking.k8s.io",
            "v1",
            "ServiceCIDR",
            "servicecidrs",
            "servicecidr",
            Scope::Cluster,
        )
    },
    ResourceDef {
        short_names: &["ip"],
        name_rule: NameRule::PathSegment,
        strategy: &IP_ADDRESS_V1BETA1,
        availability: Availability::off_by_default(None),
        ..def(
            "networking.k8s.io",
            "v1beta1",
            "IPAddress",
            "ipaddresses",
            "ipaddress",
            Scope::Cluster,
        )
    },
    ResourceDef {
        subresources: &[STATUS],
        strategy: &SERVICE_CIDR_V1BETA1,
        availability: Availability::off_by_default(None),
        ..def(
            "networking.k8s.io",
            "v1beta1",
            "ServiceCIDR",
            "servicecidrs",
            "servicecidr",
            Scope::Cluster,
        )
    },
];

// Per-kind behaviour of this group's rows.

const INGRESS_CLASS: Builtin = Builtin {
    printer: &table::INGRESS_CLASS,
    ..strategy::networking::INGRESS_CLASS
};

const INGRESS: Builtin = Builtin {
    printer: &table::INGRESS,
    ..strategy::networking::INGRESS
};

const IP_ADDRESS: Builtin = Builtin {
    printer: &table::IP_ADDRESS,
    ..strategy::networking::IP_ADDRESS
};

const NETWORK_POLICY: Builtin = Builtin {
    printer: &table::NETWORK_POLICY,
    ..strategy::networking::NETWORK_POLICY
};

const SERVICE_CIDR: Builtin = Builtin {
    printer: &table::SERVICE_CIDR,
    status_write: StatusWrite::KeepUserMeta,
    ..strategy::networking::SERVICE_CIDR
};

const IP_ADDRESS_V1BETA1: Builtin = Builtin {
    to_storage: convert::networking_to_v1,
    served_form: Some(convert::same_schema_served),
    ..IP_ADDRESS
};

const SERVICE_CIDR_V1BETA1: Builtin = Builtin {
    to_storage: convert::networking_to_v1,
    served_form: Some(convert::same_schema_served),
    ..SERVICE_CIDR
};
