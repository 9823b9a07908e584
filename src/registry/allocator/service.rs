//! What a Service create, update or delete allocates and releases (upstream
//! `pkg/registry/core/service/storage/alloc.go`): IP families, then cluster IPs, then node
//! ports; a failed step gives back what the earlier ones took.

use super::fields::{
    cluster_ips, hc_node_port, is_headless, name_of, needs_health_check, needs_node_ports, node_port_numbers, ports_of,
    set_node_port, set_str_list, spec, spec_mut, str_list, svc_type,
};
use super::ServiceAllocators;
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Copy the values the server allocated from the old object into an update that omits them
/// (upstream `patchAllocatedValues`), and drop type-dependent fields the new type no longer
/// uses when they were left unchanged (upstream `dropTypeDependentFields`).
pub fn prepare_update(old: &Value, new: &mut Value) {
    let needs_ip = |s: &Value| svc_type(s) != "ExternalName";
    if needs_ip(old) && needs_ip(new) {
        if new.str_at("/spec/clusterIP").is_empty() && !old.str_at("/spec/clusterIP").is_empty() {
            let v = old.str_at("/spec/clusterIP").to_string();
            spec_mut(new).insert("clusterIP".into(), json!(v));
        }
        let old_ips = str_list(old, "clusterIPs");
        if str_list(new, "clusterIPs").is_empty() && !old_ips.is_empty() {
            set_str_list(new, "clusterIPs", &old_ips);
        }
    }
    if needs_node_ports(old) && needs_node_ports(new) {
        let old_used: HashSet<i64> = node_port_numbers(old).into_iter().collect();
        let new_used: HashSet<i64> = node_port_numbers(new).into_iter().collect();
        let used: HashSet<i64> = old_used.intersection(&new_used).copied().collect();
        let by_name: HashMap<String, i64> = ports_of(old).into_iter().map(|p| (p.name, p.node_port)).collect();
        for (i, p) in ports_of(new).iter().enumerate() {
            if p.node_port == 0 {
                let v = by_name.get(&p.name).copied().unwrap_or(0);
                if v != 0 && !used.contains(&v) {
                    set_node_port(new, i, v);
                }
            }
        }
    }
    if needs_health_check(old) && needs_health_check(new) && hc_node_port(new) == 0 && hc_node_port(old) != 0 {
        let v = hc_node_port(old);
        spec_mut(new).insert("healthCheckNodePort".into(), json!(v));
    }

    // dropTypeDependentFields
    if svc_type(new) == "ExternalName" && svc_type(old) != "ExternalName" {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec(new).get(k) == spec(old).get(k) {
                spec_mut(new).remove(k);
            }
        }
    }
    if !needs_node_ports(new) && needs_node_ports(old) {
        let old_ports = ports_of(old);
        for (i, p) in ports_of(new).iter().enumerate() {
            if p.node_port != 0 && old_ports.iter().any(|o| o.node_port == p.node_port) {
                set_node_port(new, i, 0);
            }
        }
    }
    if !needs_health_check(new) && needs_health_check(old) && hc_node_port(new) == hc_node_port(old) {
        spec_mut(new).remove("healthCheckNodePort");
    }
}

/// What one operation allocated (to roll back on failure) or must release (after success).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    pub ips: Vec<IpAddr>,
    pub node_ports: Vec<u16>,
}

impl Allocation {
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.node_ports.is_empty()
    }
}

impl ServiceAllocators {
    /// Allocate what a new Service needs (upstream `allocateCreate`): sets `ipFamilyPolicy`,
    /// `ipFamilies`, `clusterIP(s)`, node ports and `healthCheckNodePort` on `svc`. Returns
    /// what was reserved, for [`ServiceAllocators::release`] if the create then fails. A dry
    /// run fills the fields the same way and reserves nothing.
    pub async fn allocate_create(&self, svc: &mut Value, dry_run: bool) -> ApiResult<Allocation> {
        self.init_ip_families(svc, None)?;
        let ips = self.alloc_cluster_ips(svc, dry_run).await?;
        let name = name_of(svc);
        let snapshot = svc.clone();
        let plan = self
            .run_port_plan(dry_run, |r, b| Self::plan_create_ports(&name, &snapshot, r, b))
            .await;
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                self.release_ips(&ips).await;
                return Err(e);
            }
        };
        Self::apply_port_plan(svc, &plan);
        Ok(Allocation {
            ips,
            node_ports: if dry_run { Vec::new() } else { plan.allocated },
        })
    }

    /// Give back what an [`Allocation`] holds (rollback, or the release half of an update).
    pub async fn release(&self, alloc: &Allocation) {
        self.release_ips(&alloc.ips).await;
        self.release_ports(&alloc.node_ports).await;
    }

    /// Allocate for an update (upstream `allocateUpdate`). Returns (what was newly reserved —
    /// release it if the update fails; what the old object held and the new one no longer
    /// uses — release it once the update is stored).
    pub async fn allocate_update(
        &self,
        old: &Value,
        new: &mut Value,
        dry_run: bool,
    ) -> ApiResult<(Allocation, Allocation)> {
        prepare_update(old, new);
        self.init_ip_families(new, Some(old))?;
        let (new_ips, release_ips) = self.update_cluster_ips(old, new, dry_run).await?;
        let name = name_of(new);
        let snapshot = new.clone();
        let plan = self
            .run_port_plan(dry_run, |r, b| Self::plan_update_ports(&name, old, &snapshot, r, b))
            .await;
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                self.release_ips(&new_ips).await;
                return Err(e);
            }
        };
        Self::apply_port_plan(new, &plan);

        let mut release_ports: Vec<u16> = Vec::new();
        let old_numbers = node_port_numbers(old);
        if needs_node_ports(old) && matches!(svc_type(new), "ClusterIP" | "ExternalName") {
            release_ports.extend(old_numbers.iter().map(|n| *n as u16));
        } else if needs_node_ports(new) {
            let new_numbers = node_port_numbers(new);
            release_ports.extend(
                old_numbers
                    .iter()
                    .filter(|n| !new_numbers.contains(n))
                    .map(|n| *n as u16),
            );
        }
        if needs_health_check(old) && !needs_health_check(new) && hc_node_port(old) != 0 {
            release_ports.push(hc_node_port(old) as u16);
        }
        release_ports.sort_unstable();
        release_ports.dedup();
        if dry_run {
            return Ok((Allocation::default(), Allocation::default()));
        }
        Ok((
            Allocation {
                ips: new_ips,
                node_ports: plan.allocated,
            },
            Allocation {
                ips: release_ips,
                node_ports: release_ports,
            },
        ))
    }

    /// Release everything a deleted Service held (upstream `releaseAllocatedResources`).
    pub async fn release_for(&self, svc: &Value) {
        let mut alloc = Allocation::default();
        if svc_type(svc) != "ExternalName" && !is_headless(svc) {
            alloc.ips = cluster_ips(svc);
            if alloc.ips.is_empty() {
                if let Ok(ip) = svc.str_at("/spec/clusterIP").parse::<IpAddr>() {
                    alloc.ips.push(ip);
                }
            }
        }
        alloc.node_ports = node_port_numbers(svc)
            .into_iter()
            .filter_map(|n| u16::try_from(n).ok())
            .collect();
        if needs_health_check(svc) {
            if let Ok(hc) = u16::try_from(hc_node_port(svc)) {
                if hc > 0 {
                    alloc.node_ports.push(hc);
                }
            }
        }
        self.release(&alloc).await;
    }

    /// Allocated values per range (for tests and diagnostics): IPs of the primary range.
    pub async fn allocated_ips(&self, family: &str) -> ApiResult<Vec<IpAddr>> {
        let Some(p) = self.ip_range(family) else {
            return Ok(Vec::new());
        };
        let (_, bits) = p.load(self.storage()).await?;
        Ok(bits.ones().into_iter().map(|o| p.range.ip_at(o)).collect())
    }

    /// Allocated node ports.
    pub async fn allocated_node_ports(&self) -> ApiResult<Vec<u16>> {
        let (_, bits) = self.ports.load(self.storage()).await?;
        Ok(bits
            .ones()
            .into_iter()
            .filter_map(|o| u16::try_from(self.ports.range.value(o)).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{np_svc, store, svc};
    use super::*;

    #[tokio::test]
    async fn dry_run_reserves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = np_svc("d");
        let got = a.allocate_create(&mut s, true).await.expect("dry");
        assert!(got.is_empty());
        assert!(s["spec"]["ports"][0]["nodePort"].as_i64().is_some());
        assert!(a.allocated_ips("IPv4").await.expect("ips").is_empty());
        assert!(a.allocated_node_ports().await.expect("ports").is_empty());
    }

    #[tokio::test]
    async fn release_then_reallocate_and_update_type_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = svc(
            "a",
            json!({"type": "NodePort", "clusterIP": "10.0.0.50", "ports": [{"port": 80, "nodePort": 30100}]}),
        );
        a.allocate_create(&mut s, false).await.expect("create");
        a.release_for(&s).await;
        assert!(a.allocated_ips("IPv4").await.expect("ips").is_empty());
        assert!(a.allocated_node_ports().await.expect("ports").is_empty());
        let mut again = svc(
            "b",
            json!({"type": "NodePort", "clusterIP": "10.0.0.50", "ports": [{"port": 80, "nodePort": 30100}]}),
        );
        a.allocate_create(&mut again, false).await.expect("reallocate");

        // NodePort -> ClusterIP releases the node port after success; the IP is kept.
        let mut to_cip = again.clone();
        to_cip["spec"]["type"] = json!("ClusterIP");
        let (new, rel) = a.allocate_update(&again, &mut to_cip, false).await.expect("update");
        assert!(new.is_empty());
        assert_eq!(rel.node_ports, vec![30100]);
        assert!(to_cip["spec"]["ports"][0].get("nodePort").is_none());
        a.release(&rel).await;
        assert!(a.allocated_node_ports().await.expect("ports").is_empty());
        // ClusterIP -> NodePort allocates one; an update omitting clusterIP keeps the old one.
        let mut to_np = to_cip.clone();
        to_np["spec"]["type"] = json!("NodePort");
        if let Some(m) = to_np["spec"].as_object_mut() {
            m.remove("clusterIP");
            m.remove("clusterIPs");
        }
        let (new, rel) = a.allocate_update(&to_cip, &mut to_np, false).await.expect("update");
        assert_eq!(new.node_ports.len(), 1);
        assert!(rel.is_empty());
        assert_eq!(to_np["spec"]["clusterIP"], "10.0.0.50");
        // -> ExternalName releases the IP and the port.
        let mut to_en = to_np.clone();
        to_en["spec"]["type"] = json!("ExternalName");
        to_en["spec"]["externalName"] = json!("example.com");
        let (_, rel) = a.allocate_update(&to_np, &mut to_en, false).await.expect("update");
        assert_eq!(rel.ips, vec!["10.0.0.50".parse::<IpAddr>().expect("ip")]);
        assert_eq!(rel.node_ports.len(), 1);
        assert!(to_en["spec"].get("clusterIP").is_none());
        // An update to a taken node port fails with the upstream message.
        let mut holder = svc(
            "h",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30200}]}),
        );
        a.allocate_create(&mut holder, false).await.expect("holder");
        let mut moved = to_np.clone();
        moved["spec"]["ports"][0]["nodePort"] = json!(30200);
        let e = a.allocate_update(&to_np, &mut moved, false).await.expect_err("taken");
        assert_eq!(
            e.message,
            "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30200: provided port is already allocated"
        );
    }
}
