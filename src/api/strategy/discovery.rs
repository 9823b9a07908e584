//! Strategies for `discovery.k8s.io`: EndpointSlice (upstream
//! `pkg/apis/discovery/v1/defaults.go`, `pkg/apis/discovery/validation/validation.go`).

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::net::IpAddr;

fn no_op(_: &mut Value) {}

pub const ENDPOINT_SLICE: Builtin = Builtin {
    defaults: default_endpoint_slice,
    prepare_create: no_op,
    validate: validate_endpoint_slice,
    validate_update: validate_endpoint_slice_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];

/// `SetDefaults_EndpointPort`: name "" and protocol TCP.
pub fn default_endpoint_slice(obj: &mut Value) {
    if let Some(Value::Array(ports)) = obj.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "name", json!(""));
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

fn validate_endpoint_slice(obj: &Value, errs: &mut FieldErrors) {
    let addr_type = get_str(obj, "addressType", "", errs);
    match addr_type {
        None | Some("") => errs.push(FieldError::required("addressType", "")),
        Some(t) if !ADDRESS_TYPES.contains(&t) => errs.push(FieldError::not_supported("addressType", t, ADDRESS_TYPES)),
        Some(_) => {}
    }
    if let Some(ports) = get_arr(obj, "ports", "", errs) {
        if ports.len() > 20000 {
            errs.push(FieldError::too_many("ports", ports.len(), 20000));
        } else {
            let mut names = std::collections::HashSet::new();
            for (i, p) in ports.iter().enumerate() {
                validate_port(p, &format!("ports[{i}]"), &mut names, errs);
            }
        }
    }
    if let Some(eps) = get_arr(obj, "endpoints", "", errs) {
        if eps.len() > 1000 {
            errs.push(FieldError::too_many("endpoints", eps.len(), 1000));
            return;
        }
        for (i, ep) in eps.iter().enumerate() {
            validate_endpoint(ep, addr_type.unwrap_or(""), &format!("endpoints[{i}]"), errs);
        }
    }
}

fn validate_port(p: &Value, path: &str, names: &mut std::collections::HashSet<String>, errs: &mut FieldErrors) {
    if !p.is_object() {
        errs.push(type_error(path, p, "object"));
        return;
    }
    let name = get_str(p, "name", path, errs).unwrap_or("");
    if !name.is_empty() {
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
        }
    }
    if !names.insert(name.to_string()) {
        errs.push(FieldError::duplicate(format!("{path}.name"), name));
    }
    match get_str(p, "protocol", path, errs) {
        None => errs.push(FieldError::required(format!("{path}.protocol"), "")),
        Some(proto) if !["SCTP", "TCP", "UDP"].contains(&proto) => errs.push(FieldError::not_supported(
            format!("{path}.protocol"),
            proto,
            &["SCTP", "TCP", "UDP"],
        )),
        Some(_) => {}
    }
    if let Some(ap) = get_str(p, "appProtocol", path, errs) {
        for msg in is_qualified_name(ap) {
            errs.push(FieldError::invalid(format!("{path}.appProtocol"), ap, msg));
        }
    }
}

fn validate_endpoint(ep: &Value, addr_type: &str, path: &str, errs: &mut FieldErrors) {
    if !ep.is_object() {
        errs.push(type_error(path, ep, "object"));
        return;
    }
    let ap = format!("{path}.addresses");
    let addrs = get_str_list(ep, "addresses", path, errs);
    if addrs.is_empty() {
        errs.push(FieldError::required(ap.clone(), "must contain at least 1 address"));
    } else if addrs.len() > 100 {
        errs.push(FieldError::too_many(ap.clone(), addrs.len(), 100));
    }
    for (i, a) in addrs.iter().enumerate() {
        let p = format!("{ap}[{i}]");
        match addr_type {
            "IPv4" | "IPv6" => {
                let ip = super::networking::parse_ip_sloppy(a);
                let fam_ok = match (addr_type, ip) {
                    ("IPv4", Some(IpAddr::V4(_))) => true,
                    ("IPv6", Some(IpAddr::V6(v6))) => v6.to_ipv4_mapped().is_none(),
                    _ => false,
                };
                if !fam_ok {
                    errs.push(FieldError::invalid(
                        p.clone(),
                        *a,
                        format!("must be a valid {addr_type} address"),
                    ));
                }
                validate_non_special_ip(a, ip, &p, errs);
            }
            "FQDN" => validate_fqdn(a, &p, errs),
            _ => {}
        }
    }
    if let Some(n) = get_str(ep, "nodeName", path, errs) {
        for msg in is_dns1123_subdomain(n) {
            errs.push(FieldError::invalid(format!("{path}.nodeName"), n, msg));
        }
    }
    if let Some(h) = get_str(ep, "hostname", path, errs) {
        for msg in is_dns1123_label(h) {
            errs.push(FieldError::invalid(format!("{path}.hostname"), h, msg));
        }
    }
    if let Some(hints) = get_obj(ep, "hints", path, errs) {
        let fz = format!("{path}.hints.forZones");
        let zones = get_arr(hints, "forZones", &format!("{path}.hints"), errs);
        if let Some(z) = zones.filter(|z| z.len() > 8) {
            errs.push(FieldError::too_many(fz, z.len(), 8));
            return;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, z) in zones.into_iter().flatten().enumerate() {
            let zp = format!("{fz}[{i}].name");
            let name = z.str_of("name");
            if !seen.insert(name.to_string()) {
                errs.push(FieldError::duplicate(zp.clone(), name));
            }
            for msg in is_valid_label_value(name) {
                errs.push(FieldError::invalid(zp.clone(), name, msg));
            }
        }
    }
}

/// `ValidateNonSpecialIP`.
fn validate_non_special_ip(a: &str, ip: Option<IpAddr>, p: &str, errs: &mut FieldErrors) {
    let Some(ip) = ip else {
        errs.push(FieldError::invalid(p, a, "must be a valid IP address"));
        return;
    };
    let v4 = match ip {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(v) => v.to_ipv4_mapped(),
    };
    if ip.is_unspecified() {
        errs.push(FieldError::invalid(p, a, format!("may not be unspecified ({a})")));
    }
    if ip.is_loopback() || v4.is_some_and(|v| v.is_loopback()) {
        errs.push(FieldError::invalid(
            p,
            a,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    let link_local = match (v4, ip) {
        (Some(v), _) => v.is_link_local(),
        (None, IpAddr::V6(v)) => (v.segments()[0] & 0xffc0) == 0xfe80,
        _ => false,
    };
    if link_local {
        errs.push(FieldError::invalid(
            p,
            a,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    let ll_multicast = match (v4, ip) {
        (Some(v), _) => v.octets()[..3] == [224, 0, 0],
        (None, IpAddr::V6(v)) => (v.segments()[0] & 0xff0f) == 0xff02,
        _ => false,
    };
    if ll_multicast {
        errs.push(FieldError::invalid(
            p,
            a,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

/// `IsFullyQualifiedDomainName`.
fn validate_fqdn(name: &str, p: &str, errs: &mut FieldErrors) {
    if name.is_empty() {
        errs.push(FieldError::required(p, ""));
        return;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let sub = is_dns1123_subdomain(name);
    if !sub.is_empty() {
        errs.push(FieldError::invalid(p, name, sub.join(",")));
        return;
    }
    if name.split('.').count() < 2 {
        errs.push(FieldError::invalid(
            p,
            name,
            "should be a domain with at least two segments separated by dots",
        ));
        return;
    }
    for label in name.split('.') {
        let e = is_dns1123_label(label);
        if !e.is_empty() {
            errs.push(FieldError::invalid(p, label, e.join(",")));
            return;
        }
    }
}

fn validate_endpoint_slice_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    immutable(
        at(new, &["addressType"]),
        at(old, &["addressType"]),
        "addressType",
        errs,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        (ENDPOINT_SLICE.validate)(obj, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn endpoint_slice_defaults_and_rules() {
        let mut es =
            json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]});
        (ENDPOINT_SLICE.defaults)(&mut es);
        assert_eq!(es["ports"][0], json!({"port": 80, "name": "", "protocol": "TCP"}));
        assert!(run(&es).is_empty());
        assert_eq!(run(&json!({})), vec!["addressType: Required value"]);
        assert_eq!(
            run(&json!({"addressType": "IPX", "endpoints": [{"addresses": []}]})),
            vec![
                "addressType: Unsupported value: \"IPX\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"",
                "endpoints[0].addresses: Required value: must contain at least 1 address",
            ]
        );
        assert_eq!(
            run(&json!({"addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1", "fe80::1"]}]})),
            vec![
                "endpoints[0].addresses[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
                "endpoints[0].addresses[1]: Invalid value: \"fe80::1\": must be a valid IPv4 address",
                "endpoints[0].addresses[1]: Invalid value: \"fe80::1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)",
            ]
        );
        let mut errs = Vec::new();
        (ENDPOINT_SLICE.validate_update)(&json!({"addressType": "IPv6"}), &es, &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "addressType: Invalid value: \"IPv6\": field is immutable"
        );
    }
}
