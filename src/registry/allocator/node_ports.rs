//! NodePort and `healthCheckNodePort` allocation (upstream `initNodePorts`,
//! `updateNodePorts`, `allocHealthCheckNodePort`): one plan per create or update, computed
//! against the port bitmap (persisted, or on a copy for a dry run), then applied to the Service.

use super::bitmap::Bits;
use super::errors::{node_port_invalid, port_error_text, AllocError};
use super::fields::{
    hc_node_port, needs_health_check, needs_node_ports, node_port_numbers, ports_of, set_node_port,
    should_allocate_node_ports, spec_mut,
};
use super::range::Range;
use super::ServiceAllocators;
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// Node-port work of one create/update, computed against one bitmap.
pub(super) struct PortPlan {
    pub(super) node_ports: Vec<i64>,
    pub(super) health_check: Option<i64>,
    pub(super) allocated: Vec<u16>,
}

/// Take the requested node port `np`, recording it in `allocated`.
fn take_port(np: i64, r: &Range, b: &mut Bits, allocated: &mut Vec<u16>) -> Result<(), AllocError> {
    b.take(r.port_offset(np))?;
    allocated.push(np as u16);
    Ok(())
}

/// Take a free node port (dynamic band first), recording it in `allocated`; None when full.
fn take_free_port(r: &Range, b: &mut Bits, allocated: &mut Vec<u16>) -> Option<i64> {
    let np = r.value(b.take_free(r, false)?) as i64;
    allocated.push(np as u16);
    Some(np)
}

/// A free node port (dynamic band first), or upstream's internal error when the range is full.
fn allocate_dynamic_node_port(b: &mut Bits, r: &Range, allocated: &mut Vec<u16>) -> ApiResult<i64> {
    take_free_port(r, b, allocated).ok_or_else(|| {
        ApiError::internal(format!(
            "failed to allocate a nodePort: {}",
            port_error_text(&AllocError::Full, r)
        ))
    })
}

impl ServiceAllocators {
    /// Run a node-port plan: persisted, or (dry run) on a throwaway copy.
    pub(super) async fn run_port_plan(
        &self,
        dry_run: bool,
        plan: impl Fn(&Range, &mut Bits) -> ApiResult<PortPlan>,
    ) -> ApiResult<PortPlan> {
        if dry_run {
            return self.ports.peek(self.storage(), |r, b| plan(r, b)).await;
        }
        self.ports.modify(self.storage(), |r, b| plan(r, b)).await
    }

    /// `initNodePorts` + `allocHealthCheckNodePort` for a create.
    pub(super) fn plan_create_ports(name: &str, svc: &Value, r: &Range, b: &mut Bits) -> ApiResult<PortPlan> {
        let ports = ports_of(svc);
        let should = should_allocate_node_ports(svc);
        let mut out: Vec<i64> = ports.iter().map(|p| p.node_port).collect();
        let mut allocated: Vec<u16> = Vec::new();
        let mut by_port: HashMap<i64, i64> = HashMap::new();
        let take = |np: i64, i: usize, b: &mut Bits, allocated: &mut Vec<u16>| {
            take_port(np, r, b, allocated).map_err(|e| node_port_invalid(name, i, np, &e, r))
        };
        if needs_node_ports(svc) {
            for (i, p) in ports.iter().enumerate() {
                if p.node_port == 0 && !should {
                    continue;
                }
                let already = by_port.get(&p.port).copied().unwrap_or(0);
                if already == 0 {
                    let requested = ports
                        .iter()
                        .find(|q| q.port == p.port && q.node_port != 0)
                        .map(|q| q.node_port)
                        .unwrap_or(0);
                    if requested != 0 {
                        take(requested, i, b, &mut allocated)?;
                        out[i] = requested;
                        by_port.insert(p.port, requested);
                    } else {
                        let np = allocate_dynamic_node_port(b, r, &mut allocated)?;
                        out[i] = np;
                        by_port.insert(p.port, np);
                    }
                } else if p.node_port != already {
                    if p.node_port == 0 {
                        out[i] = already;
                    } else {
                        take(p.node_port, i, b, &mut allocated)?;
                    }
                }
            }
        }
        let mut health_check = None;
        if needs_health_check(svc) {
            let hc = hc_node_port(svc);
            health_check = Some(Self::alloc_health_check(hc, r, b, &mut allocated)?);
        }
        Ok(PortPlan {
            node_ports: out,
            health_check,
            allocated,
        })
    }

    /// `allocHealthCheckNodePort` (its failures are internal errors upstream).
    fn alloc_health_check(hc: i64, r: &Range, b: &mut Bits, allocated: &mut Vec<u16>) -> ApiResult<i64> {
        if hc != 0 {
            return take_port(hc, r, b, allocated).map(|()| hc).map_err(|e| {
                ApiError::internal(format!(
                    "failed to allocate requested HealthCheck NodePort {hc}: {}",
                    port_error_text(&e, r)
                ))
            });
        }
        take_free_port(r, b, allocated).ok_or_else(|| {
            ApiError::internal(format!(
                "failed to allocate a HealthCheck NodePort 0: {}",
                port_error_text(&AllocError::Full, r)
            ))
        })
    }

    /// `updateNodePorts` + `updateHealthCheckNodePort` for an update: allocations only; what
    /// to release afterwards is computed by the caller.
    pub(super) fn plan_update_ports(
        name: &str,
        old: &Value,
        svc: &Value,
        r: &Range,
        b: &mut Bits,
    ) -> ApiResult<PortPlan> {
        let ports = ports_of(svc);
        let mut out: Vec<i64> = ports.iter().map(|p| p.node_port).collect();
        let mut allocated: Vec<u16> = Vec::new();
        if needs_node_ports(svc) {
            let old_numbers = node_port_numbers(old);
            let should = should_allocate_node_ports(svc);
            let mut taken_here: HashSet<i64> = HashSet::new();
            let mut seen: Vec<(String, i64)> = Vec::new();
            for (i, p) in ports.iter().enumerate() {
                if p.node_port == 0 && !should {
                    continue;
                }
                let np = if p.node_port != 0 {
                    if !old_numbers.contains(&p.node_port) && !taken_here.contains(&p.node_port) {
                        take_port(p.node_port, r, b, &mut allocated)
                            .map_err(|e| node_port_invalid(name, i, p.node_port, &e, r))?;
                        taken_here.insert(p.node_port);
                    }
                    p.node_port
                } else {
                    let np = allocate_dynamic_node_port(b, r, &mut allocated)?;
                    out[i] = np;
                    np
                };
                let key = (p.protocol.clone(), np);
                if seen.contains(&key) {
                    return Err(ApiError::internal(format!(
                        "duplicate nodePort: {{{} {np}}}",
                        p.protocol
                    )));
                }
                seen.push(key);
            }
        }
        let mut health_check = None;
        if !needs_health_check(old) && needs_health_check(svc) {
            health_check = Some(Self::alloc_health_check(hc_node_port(svc), r, b, &mut allocated)?);
        }
        Ok(PortPlan {
            node_ports: out,
            health_check,
            allocated,
        })
    }

    pub(super) async fn release_ports(&self, ports: &[u16]) {
        if ports.is_empty() {
            return;
        }
        let r = &self.ports.range;
        let offs: Vec<usize> = ports.iter().filter_map(|p| r.port_offset(i64::from(*p))).collect();
        if let Err(e) = self.ports.clear(self.storage(), &offs).await {
            tracing::error!(error = %e, "failed to release node ports; the repair will free them");
        }
    }

    pub(super) fn apply_port_plan(svc: &mut Value, plan: &PortPlan) {
        let current = ports_of(svc);
        for (i, np) in plan.node_ports.iter().enumerate() {
            if current.get(i).map(|p| p.node_port) != Some(*np) {
                set_node_port(svc, i, *np);
            }
        }
        if let Some(hc) = plan.health_check {
            spec_mut(svc).insert("healthCheckNodePort".into(), json!(hc));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{np_svc, store, svc};
    use super::super::ServiceAllocators;
    use serde_json::json;

    #[tokio::test]
    async fn node_ports_requested_taken_out_of_range_and_shared_by_protocols() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = svc(
            "a",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
        );
        a.allocate_create(&mut s, false).await.expect("requested");
        assert_eq!(s["spec"]["ports"][0]["nodePort"], 30080);
        let mut s = svc(
            "x",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
        );
        let e = a.allocate_create(&mut s, false).await.expect_err("taken");
        assert_eq!(
            e.message,
            "Service \"x\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        assert_eq!(e.code, 422);
        // The IP reserved before the port failure was given back.
        assert_eq!(a.allocated_ips("IPv4").await.expect("ips").len(), 1);
        let mut s = svc(
            "y",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]}),
        );
        let e = a.allocate_create(&mut s, false).await.expect_err("range");
        assert_eq!(
            e.message,
            "Service \"y\" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        let mut s = svc(
            "dns",
            json!({"type": "NodePort", "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                {"name": "web", "port": 80}]}),
        );
        let got = a.allocate_create(&mut s, false).await.expect("shared");
        let p = &s["spec"]["ports"];
        assert_eq!(p[0]["nodePort"], p[1]["nodePort"]);
        assert_ne!(p[0]["nodePort"], p[2]["nodePort"]);
        assert_eq!(got.node_ports.len(), 2);
        // LoadBalancer with externalTrafficPolicy Local gets a health check node port.
        let mut lb = svc(
            "lb",
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 443}]}),
        );
        let got = a.allocate_create(&mut lb, false).await.expect("lb");
        let hc = lb["spec"]["healthCheckNodePort"].as_i64().expect("hc");
        assert!(got.node_ports.contains(&(hc as u16)));
        assert_eq!(got.node_ports.len(), 2);
        // Headless and ExternalName get no IP.
        let mut h = svc(
            "h",
            json!({"clusterIP": "None", "selector": {"a": "b"}, "ports": [{"port": 80}]}),
        );
        let got = a.allocate_create(&mut h, false).await.expect("headless");
        assert!(got.ips.is_empty());
        assert_eq!(h["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(h["spec"]["ipFamilies"], json!(["IPv4"]));
        let mut en = svc("en", json!({"type": "ExternalName", "externalName": "example.com"}));
        let got = a.allocate_create(&mut en, false).await.expect("external name");
        assert!(got.is_empty());
        assert!(en["spec"].get("clusterIP").is_none());
    }

    #[tokio::test]
    async fn tiny_node_port_range_exhausts_with_upstream_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-30002").expect("alloc");
        let mut seen = Vec::new();
        for i in 0..3 {
            let mut s = np_svc(&format!("s{i}"));
            a.allocate_create(&mut s, false).await.expect("allocate");
            seen.push(s["spec"]["ports"][0]["nodePort"].as_i64().expect("np"));
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![30000, 30001, 30002]);
        let mut s = np_svc("full");
        let e = a.allocate_create(&mut s, false).await.expect_err("full");
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            "Internal error occurred: failed to allocate a nodePort: range is full"
        );
        // Nothing leaked: three IPs held, the fourth was released.
        assert_eq!(a.allocated_ips("IPv4").await.expect("ips").len(), 3);
    }
}
