//! Strategies for `networking.k8s.io`: Ingress, IngressClass, NetworkPolicy, ServiceCIDR,
//! IPAddress (upstream `pkg/apis/networking/v1/defaults.go`,
//! `pkg/apis/networking/validation/validation.go`).

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn no_op(_: &mut Value) {}

pub const INGRESS: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_ingress,
    validate_update: no_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const INGRESS_CLASS: Builtin = Builtin {
    defaults: default_ingress_class,
    prepare_create: no_op,
    validate: validate_ingress_class,
    validate_update: validate_ingress_class_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const NETWORK_POLICY: Builtin = Builtin {
    defaults: default_network_policy,
    prepare_create: no_op,
    validate: validate_network_policy,
    validate_update: no_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const SERVICE_CIDR: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_service_cidr,
    validate_update: validate_service_cidr_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const IP_ADDRESS: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_ip_address,
    validate_update: validate_ip_address_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn no_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

// ---------------------------------------------------------------- defaults

/// `SetDefaults_NetworkPolicy` (policyTypes) and `SetDefaults_NetworkPolicyPort` (TCP).
pub fn default_network_policy(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    for dir in ["ingress", "egress"] {
        if let Some(Value::Array(rules)) = spec.get_mut(dir) {
            for rule in rules.iter_mut() {
                if let Some(Value::Array(ports)) = rule.get_mut("ports") {
                    for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(port, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
    let no_types = spec
        .get("policyTypes")
        .is_none_or(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty));
    if no_types {
        let has_egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let types = if has_egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec.insert("policyTypes".into(), types);
    }
}

/// `SetDefaults_IngressClass`: parameters.scope defaults to Cluster.
pub fn default_ingress_class(obj: &mut Value) {
    if let Some(Value::Object(p)) = obj.get_mut("spec").and_then(|s| s.get_mut("parameters")) {
        set_default(p, "scope", json!("Cluster"));
    }
}

// ---------------------------------------------------------------- IP helpers

/// netutils.ParseIPSloppy: IPv4 octets may carry leading zeros.
pub fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        o[i] = p.parse::<u16>().ok().filter(|n| *n <= 255)? as u8;
    }
    Some(IpAddr::V4(Ipv4Addr::from(o)))
}

/// netutils.ParseCIDRSloppy: (address, prefix length).
pub fn parse_cidr_sloppy(s: &str) -> Option<(IpAddr, u32)> {
    let (ip, len) = s.split_once('/')?;
    let ip = parse_ip_sloppy(ip)?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

fn masked(ip: IpAddr, len: u32) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

fn port_num_errors(n: i64) -> Vec<String> {
    if (1..=65535).contains(&n) {
        vec![]
    } else {
        vec!["must be between 1 and 65535, inclusive".into()]
    }
}

use crate::api::validation::is_valid_port_name as port_name_errors;

// ---------------------------------------------------------------- NetworkPolicy

fn validate_network_policy(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    if let Some(ps) = spec.get("podSelector").filter(|v| !v.is_null()) {
        validate_label_selector(ps, "spec.podSelector", errs);
    }
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        let Some(rules) = get_arr(spec, dir, "spec", errs) else {
            continue;
        };
        for (i, rule) in rules.iter().enumerate() {
            let rp = format!("spec.{dir}[{i}]");
            if !rule.is_object() {
                errs.push(type_error(rp, rule, "object"));
                continue;
            }
            for (j, port) in get_arr(rule, "ports", &rp, errs).into_iter().flatten().enumerate() {
                validate_np_port(port, &format!("{rp}.ports[{j}]"), errs);
            }
            for (j, peer) in get_arr(rule, peers, &rp, errs).into_iter().flatten().enumerate() {
                validate_np_peer(peer, &format!("{rp}.{peers}[{j}]"), errs);
            }
        }
    }
    let types = get_str_list(spec, "policyTypes", "spec", errs);
    if types.len() > 2 {
        let rendered = format!(
            "[]networking.PolicyType{{{}}}",
            types.iter().map(|t| go_quote(t)).collect::<Vec<_>>().join(", ")
        );
        errs.push(invalid_raw(
            "spec.policyTypes",
            rendered,
            "may not specify more than two policyTypes",
        ));
        return;
    }
    for (i, t) in types.iter().enumerate() {
        if *t != "Ingress" && *t != "Egress" {
            errs.push(FieldError::not_supported(
                format!("spec.policyTypes[{i}]"),
                *t,
                &["Ingress", "Egress"],
            ));
        }
    }
}

fn validate_np_port(port: &Value, p: &str, errs: &mut FieldErrors) {
    if !port.is_object() {
        errs.push(type_error(p, port, "object"));
        return;
    }
    if let Some(proto) = get_str(port, "protocol", p, errs) {
        if !["TCP", "UDP", "SCTP"].contains(&proto) {
            errs.push(FieldError::not_supported(
                format!("{p}.protocol"),
                proto,
                &["TCP", "UDP", "SCTP"],
            ));
        }
    }
    let end = get_i64(port, "endPort", p, errs);
    match port.get("port").filter(|v| !v.is_null()) {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            for msg in port_num_errors(n) {
                errs.push(FieldError::invalid(format!("{p}.port"), n, msg));
            }
            if let Some(e) = end {
                if e < n {
                    errs.push(FieldError::invalid(
                        format!("{p}.endPort"),
                        n,
                        "must be greater than or equal to `port`",
                    ));
                }
                for msg in port_num_errors(e) {
                    errs.push(FieldError::invalid(format!("{p}.endPort"), e, msg));
                }
            }
        }
        Some(Value::String(s)) => {
            if let Some(e) = end {
                errs.push(FieldError::invalid(
                    format!("{p}.endPort"),
                    e,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            for msg in port_name_errors(s) {
                errs.push(FieldError::invalid(format!("{p}.port"), s.as_str(), msg));
            }
        }
        Some(other) => errs.push(type_error(format!("{p}.port"), other, "integer or string")),
        None => {
            if let Some(e) = end {
                errs.push(FieldError::invalid(
                    format!("{p}.endPort"),
                    e,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

fn validate_np_peer(peer: &Value, p: &str, errs: &mut FieldErrors) {
    if !peer.is_object() {
        errs.push(type_error(p, peer, "object"));
        return;
    }
    let mut n = 0;
    for k in ["podSelector", "namespaceSelector"] {
        if let Some(sel) = peer.get(k).filter(|v| !v.is_null()) {
            n += 1;
            validate_label_selector(sel, &format!("{p}.{k}"), errs);
        }
    }
    let ipb = get_obj(peer, "ipBlock", p, errs);
    if let Some(ipb) = ipb {
        n += 1;
        validate_ip_block(ipb, &format!("{p}.ipBlock"), errs);
    }
    if n == 0 {
        errs.push(FieldError::required(p, "must specify a peer"));
    } else if n > 1 && ipb.is_some() {
        errs.push(FieldError::forbidden(
            p,
            "may not specify both ipBlock and another peer",
        ));
    }
}

fn validate_ip_block(ipb: &Value, p: &str, errs: &mut FieldErrors) {
    let cidr = get_str(ipb, "cidr", p, errs).unwrap_or("");
    if cidr.is_empty() {
        errs.push(FieldError::required(format!("{p}.cidr"), ""));
        return;
    }
    let Some((ip, len)) = parse_cidr_sloppy(cidr) else {
        errs.push(FieldError::invalid(format!("{p}.cidr"), cidr, CIDR_MSG));
        return;
    };
    let net = masked(ip, len);
    for (i, ex) in get_str_list(ipb, "except", p, errs).into_iter().enumerate() {
        let ep = format!("{p}.except[{i}]");
        let Some((eip, elen)) = parse_cidr_sloppy(ex) else {
            errs.push(FieldError::invalid(ep, ex, CIDR_MSG));
            continue;
        };
        let contained = eip.is_ipv4() == ip.is_ipv4() && masked(masked(eip, elen), len) == net;
        if !contained || len >= elen {
            errs.push(FieldError::invalid(ep, ex, "must be a strict subset of `cidr`"));
        }
    }
}

// ---------------------------------------------------------------- Ingress

fn validate_ingress(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let rules = get_arr(spec, "rules", "spec", errs);
    let default_backend = get_obj(spec, "defaultBackend", "spec", errs);
    if rules.is_none_or(Vec::is_empty) && default_backend.is_none() {
        let rendered = match spec.get("rules") {
            Some(Value::Array(_)) => "[]networking.IngressRule{}",
            _ => "[]networking.IngressRule(nil)",
        };
        errs.push(invalid_raw(
            "spec",
            rendered.into(),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = default_backend {
        validate_backend(b, "spec.defaultBackend", errs);
    }
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let rp = format!("spec.rules[{i}]");
        if !rule.is_object() {
            errs.push(type_error(rp, rule, "object"));
            continue;
        }
        let host = get_str(rule, "host", &rp, errs).unwrap_or("");
        if !host.is_empty() {
            if parse_ip_sloppy(host).is_some() {
                errs.push(FieldError::invalid(
                    format!("{rp}.host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            let msgs = if host.contains('*') {
                wildcard_subdomain_errors(host)
            } else {
                is_dns1123_subdomain(host)
            };
            for msg in msgs {
                errs.push(FieldError::invalid(format!("{rp}.host"), host, msg));
            }
        }
        if let Some(http) = get_obj(rule, "http", &rp, errs) {
            let hp = format!("{rp}.http");
            let paths = get_arr(http, "paths", &hp, errs);
            if paths.is_none_or(Vec::is_empty) {
                errs.push(FieldError::required(format!("{hp}.paths"), ""));
            }
            for (j, path) in paths.into_iter().flatten().enumerate() {
                validate_http_path(path, &format!("{hp}.paths[{j}]"), errs);
            }
        }
    }
    for (i, tls) in get_arr(spec, "tls", "spec", errs).into_iter().flatten().enumerate() {
        let tp = format!("spec.tls[{i}]");
        if !tls.is_object() {
            errs.push(type_error(tp, tls, "object"));
            continue;
        }
        for (j, host) in get_str_list(tls, "hosts", &tp, errs).into_iter().enumerate() {
            let msgs = if host.contains('*') {
                wildcard_subdomain_errors(host)
            } else {
                is_dns1123_subdomain(host)
            };
            for msg in msgs {
                errs.push(FieldError::invalid(format!("{tp}.hosts[{j}]"), host, msg));
            }
        }
        if let Some(name) = get_str(tls, "secretName", &tp, errs).filter(|s| !s.is_empty()) {
            for msg in is_dns1123_subdomain(name) {
                errs.push(FieldError::invalid(format!("{tp}.secretName"), name, msg));
            }
        }
    }
    let class = get_str(spec, "ingressClassName", "spec", errs);
    if let Some(c) = class {
        for msg in is_dns1123_subdomain(c) {
            errs.push(FieldError::invalid("spec.ingressClassName", c, msg));
        }
    }
    const ANN: &str = "kubernetes.io/ingress.class";
    if let (Some(a), Some(c)) = (
        at(obj, &["metadata", "annotations", ANN]).and_then(Value::as_str),
        class,
    ) {
        if a != c {
            errs.push(FieldError::invalid(
                format!("annotations.{ANN}"),
                a,
                "must match `ingressClassName` when both are specified",
            ));
        }
    }
}

fn wildcard_subdomain_errors(host: &str) -> Vec<String> {
    let mut e = Vec::new();
    if host.len() > 253 {
        e.push(max_len_error(253));
    }
    let ok = host
        .strip_prefix("*.")
        .is_some_and(|rest| is_dns1123_subdomain(rest).is_empty());
    if !ok {
        e.push("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
    }
    e
}

fn validate_http_path(path: &Value, p: &str, errs: &mut FieldErrors) {
    if !path.is_object() {
        errs.push(type_error(p, path, "object"));
        return;
    }
    let value = get_str(path, "path", p, errs).unwrap_or("");
    let Some(pt) = get_str(path, "pathType", p, errs) else {
        errs.push(FieldError::required(
            format!("{p}.pathType"),
            "pathType must be specified",
        ));
        return;
    };
    let pp = format!("{p}.path");
    match pt {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(pp.clone(), value, "must be an absolute path"));
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        errs.push(FieldError::invalid(
                            pp.clone(),
                            value,
                            format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suf in ["/..", "/."] {
                    if value.ends_with(suf) {
                        errs.push(FieldError::invalid(
                            pp.clone(),
                            value,
                            format!("cannot end with '{suf}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(pp, value, "must be an absolute path"));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{p}.pathType"),
            other,
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    let empty = json!({});
    let backend = get_obj(path, "backend", p, errs).unwrap_or(&empty);
    validate_backend(backend, &format!("{p}.backend"), errs);
}

fn validate_backend(b: &Value, p: &str, errs: &mut FieldErrors) {
    let resource = get_obj(b, "resource", p, errs);
    let service = get_obj(b, "service", p, errs);
    match (resource, service) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            p,
            "",
            "cannot set both resource and service backends",
        )),
        (Some(r), None) => validate_typed_ref(r, &format!("{p}.resource"), errs),
        (None, Some(s)) => {
            let sp = format!("{p}.service");
            match get_str(s, "name", &sp, errs).unwrap_or("") {
                "" => errs.push(FieldError::required(format!("{sp}.name"), "")),
                name => {
                    for msg in is_dns1035_label(name) {
                        errs.push(FieldError::invalid(format!("{sp}.name"), name, msg));
                    }
                }
            }
            let empty = json!({});
            let port = get_obj(s, "port", &sp, errs).unwrap_or(&empty);
            let name = get_str(port, "name", &format!("{sp}.port"), errs).unwrap_or("");
            let number = get_i64(port, "number", &format!("{sp}.port"), errs).unwrap_or(0);
            if !name.is_empty() && number != 0 {
                errs.push(FieldError::invalid(p, "", "cannot set both port name & port number"));
            } else if !name.is_empty() {
                for msg in port_name_errors(name) {
                    errs.push(FieldError::invalid(format!("{sp}.port.name"), name, msg));
                }
            } else if number != 0 {
                for msg in port_num_errors(number) {
                    errs.push(FieldError::invalid(format!("{sp}.port.number"), number, msg));
                }
            } else {
                errs.push(FieldError::required(p, "port name or number is required"));
            }
        }
        (None, None) => errs.push(FieldError::invalid(p, "", "resource or service backend is required")),
    }
}

/// `validateIngressTypedLocalObjectReference`.
fn validate_typed_ref(r: &Value, p: &str, errs: &mut FieldErrors) {
    if let Some(g) = get_str(r, "apiGroup", p, errs) {
        for msg in is_dns1123_subdomain(g) {
            errs.push(FieldError::invalid(format!("{p}.apiGroup"), g, msg));
        }
    }
    for (k, req) in [("kind", "kind is required"), ("name", "name is required")] {
        match get_str(r, k, p, errs).unwrap_or("") {
            "" => errs.push(FieldError::required(format!("{p}.{k}"), req)),
            v => {
                for msg in path_segment_errors(v) {
                    errs.push(FieldError::invalid(format!("{p}.{k}"), v, msg));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- IngressClass

fn validate_ingress_class(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let controller = get_str(spec, "controller", "spec", errs).unwrap_or("");
    if controller.len() > 250 {
        errs.push(FieldError::too_long("spec.controller", 250));
    }
    validate_domain_prefixed_path(controller, "spec.controller", errs);
    let Some(params) = get_obj(spec, "parameters", "spec", errs) else {
        return;
    };
    let p = "spec.parameters";
    validate_typed_ref(params, p, errs);
    let Some(scope) = get_str(params, "scope", p, errs) else {
        errs.push(FieldError::required(format!("{p}.scope"), ""));
        return;
    };
    let ns = get_str(params, "namespace", p, errs);
    match scope {
        "Namespace" => match ns {
            None => errs.push(FieldError::required(
                format!("{p}.namespace"),
                "`parameters.scope` is set to 'Namespace'",
            )),
            Some(n) => {
                for msg in is_dns1123_label(n) {
                    errs.push(FieldError::invalid(format!("{p}.namespace"), n, msg));
                }
            }
        },
        "Cluster" => {
            if ns.is_some() {
                errs.push(FieldError::forbidden(
                    format!("{p}.namespace"),
                    "`parameters.scope` is set to 'Cluster'",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{p}.scope"),
            other,
            &["Cluster", "Namespace"],
        )),
    }
}

fn validate_domain_prefixed_path(v: &str, path: &str, errs: &mut FieldErrors) {
    if v.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let Some((host, rest)) = v.split_once('/').filter(|(h, r)| !h.is_empty() && !r.is_empty()) else {
        errs.push(FieldError::invalid(
            path,
            v,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
        return;
    };
    for msg in is_dns1123_subdomain(host) {
        errs.push(FieldError::invalid(path, host, msg));
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c))
    {
        errs.push(FieldError::invalid(
            path,
            rest,
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
}

fn validate_ingress_class_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    immutable(
        at(new, &["spec", "controller"]),
        at(old, &["spec", "controller"]),
        "spec.controller",
        errs,
    );
}

// ---------------------------------------------------------------- ServiceCIDR / IPAddress

fn validate_service_cidr(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let path = "spec.cidrs";
    let cidrs = get_str_list(spec, "cidrs", "spec", errs);
    let rendered = || {
        format!(
            "networking.ServiceCIDRSpec{{CIDRs:[]string{{{}}}}}",
            cidrs.iter().map(|c| go_quote(c)).collect::<Vec<_>>().join(", ")
        )
    };
    if cidrs.is_empty() {
        errs.push(FieldError::required(path, "at least one CIDR required"));
        return;
    }
    if cidrs.len() > 2 {
        errs.push(invalid_raw(path, rendered(), "may only hold up to 2 values"));
        return;
    }
    if cidrs.len() == 2 {
        let fam = |c: &str| parse_cidr_sloppy(c).map(|(ip, _)| ip.is_ipv4());
        let (a, b) = (fam(cidrs[0]), fam(cidrs[1]));
        if a.is_none() || b.is_none() || a == b {
            errs.push(invalid_raw(
                path,
                rendered(),
                "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64",
            ));
            return;
        }
    }
    for (i, c) in cidrs.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match parse_cidr_sloppy(c) {
            None => errs.push(FieldError::invalid(p, *c, CIDR_MSG)),
            Some((ip, len)) => {
                let canonical = format!("{}/{len}", masked(ip, len));
                if *c != canonical {
                    errs.push(FieldError::invalid(
                        p,
                        *c,
                        format!("must be in canonical form ({})", go_quote(&canonical)),
                    ));
                }
            }
        }
    }
}

fn validate_service_cidr_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (n, o) = (at(new, &["spec", "cidrs"]), at(old, &["spec", "cidrs"]));
    if n != o {
        let list = n.and_then(Value::as_array).map(|a| {
            a.iter()
                .map(|c| go_quote(c.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let rendered = match list {
            Some(l) => format!("[]string{{{l}}}"),
            None => "[]string(nil)".into(),
        };
        errs.push(invalid_raw("spec.cidrs", rendered, "field is immutable"));
    }
}

fn validate_ip_address(obj: &Value, errs: &mut FieldErrors) {
    let name = at(obj, &["metadata", "name"]).and_then(Value::as_str).unwrap_or("");
    if !name.is_empty() {
        match parse_ip_sloppy(name) {
            None => errs.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )),
            Some(ip) if ip.to_string() != name => errs.push(FieldError::invalid(
                "metadata.name",
                name,
                format!("must be in canonical form ({})", go_quote(&ip.to_string())),
            )),
            Some(_) => {}
        }
    }
    let Some(spec) = spec_of(obj, errs) else { return };
    let Some(pr) = get_obj(spec, "parentRef", "spec", errs) else {
        errs.push(FieldError::required("spec.parentRef", ""));
        return;
    };
    let p = "spec.parentRef";
    if let Some(g) = get_str(pr, "group", p, errs).filter(|g| !g.is_empty()) {
        for msg in is_dns1123_subdomain(g) {
            errs.push(FieldError::invalid(format!("{p}.group"), g, msg));
        }
    }
    for k in ["resource", "name"] {
        match get_str(pr, k, p, errs).unwrap_or("") {
            "" => errs.push(FieldError::required(format!("{p}.{k}"), "")),
            v => {
                for msg in path_segment_errors(v) {
                    errs.push(FieldError::invalid(format!("{p}.{k}"), v, msg));
                }
            }
        }
    }
    if let Some(ns) = get_str(pr, "namespace", p, errs).filter(|n| !n.is_empty()) {
        for msg in path_segment_errors(ns) {
            errs.push(FieldError::invalid(format!("{p}.namespace"), ns, msg));
        }
    }
}

fn validate_ip_address_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (n, o) = (at(new, &["spec", "parentRef"]), at(old, &["spec", "parentRef"]));
    if n != o {
        let s = |k: &str| go_quote(n.and_then(|v| v.get(k)).and_then(Value::as_str).unwrap_or_default());
        let rendered = match n {
            None => "null".to_string(),
            Some(_) => format!(
                "networking.ParentReference{{Group:{}, Resource:{}, Namespace:{}, Name:{}}}",
                s("group"),
                s("resource"),
                s("namespace"),
                s("name")
            ),
        };
        errs.push(invalid_raw("spec.parentRef", rendered, "field is immutable"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &Builtin, obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        (s.validate)(obj, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn network_policy_defaults() {
        let mut np = json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}});
        (NETWORK_POLICY.defaults)(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
        assert_eq!(np["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
        let mut np = json!({"spec": {"podSelector": {}, "egress": [{}]}});
        (NETWORK_POLICY.defaults)(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert!(run(&NETWORK_POLICY, &np).is_empty());
    }

    #[test]
    fn network_policy_rules() {
        let np = json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 0, "protocol": "ICMP"}],
            "from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}], "policyTypes": ["Sideways"]}});
        assert_eq!(
            run(&NETWORK_POLICY, &np),
            vec![
                "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
                "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ingress[0].from[0]: Required value: must specify a peer",
                "spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`",
                "spec.policyTypes[0]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\"",
            ]
        );
    }

    #[test]
    fn ingress_rules() {
        let ing = json!({"spec": {}});
        assert_eq!(
            run(&INGRESS, &ing),
            vec!["spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"]
        );
        let ing = json!({"spec": {"rules": [{"host": "1.2.3.4", "http": {"paths": [
            {"path": "/a", "backend": {"service": {"name": "svc", "port": {"number": 80}}}},
            {"path": "a", "pathType": "Prefix", "backend": {"service": {"name": "svc"}}}
        ]}}]}});
        assert_eq!(
            run(&INGRESS, &ing),
            vec![
                "spec.rules[0].host: Invalid value: \"1.2.3.4\": must be a DNS name, not an IP address",
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
                "spec.rules[0].http.paths[1].path: Invalid value: \"a\": must be an absolute path",
                "spec.rules[0].http.paths[1].backend: Required value: port name or number is required",
            ]
        );
    }

    #[test]
    fn ingress_class_rules() {
        let mut ic = json!({"spec": {"controller": "example.com/ingress", "parameters": {"kind": "K", "name": "n"}}});
        (INGRESS_CLASS.defaults)(&mut ic);
        assert_eq!(ic["spec"]["parameters"]["scope"], "Cluster");
        assert!(run(&INGRESS_CLASS, &ic).is_empty());
        let bad = json!({"spec": {"controller": "nginx"}});
        assert_eq!(
            run(&INGRESS_CLASS, &bad),
            vec!["spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")"]
        );
        let mut errs = Vec::new();
        (INGRESS_CLASS.validate_update)(&bad, &ic, &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "spec.controller: Invalid value: \"nginx\": field is immutable"
        );
    }

    #[test]
    fn service_cidr_and_ip_address() {
        assert!(run(
            &SERVICE_CIDR,
            &json!({"spec": {"cidrs": ["10.96.0.0/12", "fd00::/108"]}})
        )
        .is_empty());
        assert_eq!(
            run(&SERVICE_CIDR, &json!({"spec": {"cidrs": ["10.96.0.1/12"]}})),
            vec!["spec.cidrs[0]: Invalid value: \"10.96.0.1/12\": must be in canonical form (\"10.96.0.0/12\")"]
        );
        assert_eq!(
            run(&SERVICE_CIDR, &json!({"spec": {}})),
            vec!["spec.cidrs: Required value: at least one CIDR required"]
        );
        assert_eq!(
            run(&IP_ADDRESS, &json!({"metadata": {"name": "10.0.0.1"}, "spec": {}})),
            vec!["spec.parentRef: Required value"]
        );
    }
}
