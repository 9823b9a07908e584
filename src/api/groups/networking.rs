//! `networking.k8s.io/v1`. ServiceCIDR and IPAddress are GA (v1, on by default) in 1.33.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        generation: true,
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
        ..def(
            "networking.k8s.io",
            "v1",
            "ServiceCIDR",
            "servicecidrs",
            "servicecidr",
            Scope::Cluster,
        )
    },
];
