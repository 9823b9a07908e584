//! The Service fields the allocators read and write (`spec.type`, `clusterIP(s)`,
//! `ipFamilies`, `ipFamilyPolicy`, ports and their node ports, `healthCheckNodePort`).

use crate::util::json::JsonExt;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

pub(super) fn spec(svc: &Value) -> &Value {
    svc.get("spec").unwrap_or(&Value::Null)
}

pub(super) fn spec_mut(svc: &mut Value) -> &mut Map<String, Value> {
    if !svc.is_object() {
        *svc = json!({});
    }
    if !svc.get("spec").is_some_and(Value::is_object) {
        svc["spec"] = json!({});
    }
    svc["spec"].as_object_mut().expect("spec is an object")
}

pub(super) fn svc_type(svc: &Value) -> &str {
    match svc.str_at("/spec/type") {
        "" => "ClusterIP",
        t => t,
    }
}

pub(super) fn name_of(svc: &Value) -> String {
    svc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub(super) fn ns_name(svc: &Value) -> String {
    let ns = svc.str_at("/metadata/namespace");
    format!("{ns}/{}", name_of(svc))
}

pub(super) fn str_list(svc: &Value, key: &str) -> Vec<String> {
    spec(svc)
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// The entries of `spec.clusterIPs` that are IPs.
pub(super) fn cluster_ips(svc: &Value) -> Vec<IpAddr> {
    str_list(svc, "clusterIPs")
        .iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .collect()
}

pub(super) fn set_str_list(svc: &mut Value, key: &str, items: &[String]) {
    spec_mut(svc).insert(key.into(), json!(items));
}

pub(super) fn policy(svc: &Value) -> Option<String> {
    spec(svc)
        .get("ipFamilyPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub(super) fn has_selector(svc: &Value) -> bool {
    spec(svc)
        .get("selector")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
}

pub(super) fn is_headless(svc: &Value) -> bool {
    svc.str_at("/spec/clusterIP") == "None" || str_list(svc, "clusterIPs").first().map(String::as_str) == Some("None")
}

pub(super) fn needs_node_ports(svc: &Value) -> bool {
    matches!(svc_type(svc), "NodePort" | "LoadBalancer")
}

/// `shouldAllocateNodePorts`.
pub(super) fn should_allocate_node_ports(svc: &Value) -> bool {
    match svc_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => spec(svc)
            .get("allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

/// `apiservice.NeedsHealthCheck`.
pub(super) fn needs_health_check(svc: &Value) -> bool {
    svc_type(svc) == "LoadBalancer" && svc.str_at("/spec/externalTrafficPolicy") == "Local"
}

pub(super) fn hc_node_port(svc: &Value) -> i64 {
    spec(svc)
        .get("healthCheckNodePort")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub(super) struct PortInfo {
    pub(super) name: String,
    pub(super) port: i64,
    pub(super) protocol: String,
    pub(super) node_port: i64,
}

pub(super) fn ports_of(svc: &Value) -> Vec<PortInfo> {
    spec(svc)
        .get("ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| PortInfo {
                    name: p.str_of("name").to_string(),
                    port: p.get("port").and_then(Value::as_i64).unwrap_or(0),
                    protocol: p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string(),
                    node_port: p.get("nodePort").and_then(Value::as_i64).unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn set_node_port(svc: &mut Value, i: usize, np: i64) {
    if let Some(p) = spec_mut(svc)
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.get_mut(i))
        .and_then(Value::as_object_mut)
    {
        if np == 0 {
            p.remove("nodePort");
        } else {
            p.insert("nodePort".into(), json!(np));
        }
    }
}

pub(super) fn node_port_numbers(svc: &Value) -> Vec<i64> {
    ports_of(svc).iter().map(|p| p.node_port).filter(|n| *n != 0).collect()
}

pub(super) fn family_of(ip: &str) -> &'static str {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => "IPv4",
        Ok(IpAddr::V6(_)) => "IPv6",
        Err(_) => "unknown",
    }
}

pub(super) fn other_family(f: &str) -> &'static str {
    if f == "IPv4" {
        "IPv6"
    } else {
        "IPv4"
    }
}
