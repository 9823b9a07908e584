//! Repair (upstream's ClusterIP and NodePort repair controllers): rebuild the bitmaps from the
//! stored Services, report values out of range or used twice, free leaked values after a few
//! passes; and the loop that runs it periodically.

use super::bitmap::Bits;
use super::fields::{hc_node_port, is_headless, needs_health_check, node_port_numbers, ns_name, str_list, svc_type};
use super::persist::Persisted;
use super::ServiceAllocators;
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;

/// Where Services are stored (for [`ServiceAllocators::repair_from_storage`]).
pub const SERVICES_PREFIX: &str = "/registry/services/specs/";

/// Upstream's `numRepairsBeforeLeakCleanup`: a bit set in storage but used by no Service is
/// only freed after this many repair passes (it may belong to a create still in flight).
pub const REPAIRS_BEFORE_LEAK_CLEANUP: u32 = 3;

/// What a repair pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// One message per Service value outside the configured ranges.
    pub out_of_range: Vec<String>,
    /// One message per value claimed by more than one Service.
    pub duplicates: Vec<String>,
    /// Values set in storage but used by no Service, kept for now (possibly in flight).
    pub leaked_kept: usize,
    /// Leaked values freed by this pass.
    pub leaked_freed: usize,
}

impl ServiceAllocators {
    /// Rebuild the bitmaps from the existing Services (upstream's repair controllers): every
    /// value a Service uses is marked; values out of the configured ranges and values used
    /// twice are reported (and logged); values marked but used by no Service are freed after
    /// [`REPAIRS_BEFORE_LEAK_CLEANUP`] passes (they may belong to a create in flight).
    pub async fn repair(&self, services: &[Value]) -> ApiResult<RepairReport> {
        let mut report = RepairReport::default();
        let addresses = self.addresses().await?;
        // Service IPs in range, for the IPAddress objects they need.
        let mut owners: Vec<(IpAddr, &Value)> = Vec::new();
        let mut ip_sets: Vec<Bits> = self.ips.iter().map(|p| Bits::new(p.range.max)).collect();
        let mut port_set = Bits::new(self.ports.range.max);
        for svc in services {
            let who = ns_name(svc);
            if svc_type(svc) != "ExternalName" && !is_headless(svc) {
                let mut ips = str_list(svc, "clusterIPs");
                if ips.is_empty() && !svc.str_at("/spec/clusterIP").is_empty() {
                    ips.push(svc.str_at("/spec/clusterIP").to_string());
                }
                for ip_s in ips.iter().filter(|s| !s.is_empty()) {
                    let Ok(ip) = ip_s.parse::<IpAddr>() else {
                        let m = format!("the cluster IP {ip_s} for service {who} is not a valid IP; please recreate");
                        tracing::warn!("{m}");
                        report.out_of_range.push(m);
                        continue;
                    };
                    let hit = self
                        .ips
                        .iter()
                        .enumerate()
                        .find_map(|(i, p)| p.range.ip_offset(ip).map(|o| (i, o)));
                    match hit {
                        Some((i, off)) => {
                            owners.push((ip, svc));
                            if !ip_sets[i].set(off) {
                                let m = format!(
                                    "the cluster IP {ip} for service {who} was assigned to multiple services; please recreate"
                                );
                                tracing::warn!("{m}");
                                report.duplicates.push(m);
                            }
                        }
                        None => {
                            let specs: Vec<&str> = self.ips.iter().map(|p| p.range.spec.as_str()).collect();
                            let m = format!(
                                "the cluster IP {ip} for service {who} is not within the service CIDR {}; please recreate",
                                specs.join(",")
                            );
                            tracing::warn!("{m}");
                            report.out_of_range.push(m);
                        }
                    }
                }
            }
            let mut ports: Vec<i64> = node_port_numbers(svc);
            // One Service may use one node port for TCP and UDP of the same port number.
            ports.sort_unstable();
            ports.dedup();
            if needs_health_check(svc) && hc_node_port(svc) != 0 {
                ports.push(hc_node_port(svc));
            }
            for np in ports {
                match self.ports.range.port_offset(np) {
                    Some(off) => {
                        if !port_set.set(off) {
                            let m = format!(
                                "the node port {np} for service {who} was assigned to multiple services; please recreate"
                            );
                            tracing::warn!("{m}");
                            report.duplicates.push(m);
                        }
                    }
                    None => {
                        let m = format!(
                            "the node port {np} for service {who} is not within the port range {}; please recreate",
                            self.ports.range.spec
                        );
                        tracing::warn!("{m}");
                        report.out_of_range.push(m);
                    }
                }
            }
        }
        self.ensure_addresses(&owners, &addresses).await;
        // IPs an IPAddress object holds are taken: a user's, or the allocator's for a Service
        // that exists. The allocator's for a Service that is gone are leaks like unused bits
        // (upstream's RepairIPAddress deletes them), and go with the bit.
        let live: std::collections::HashSet<String> = services.iter().map(ns_name).collect();
        let mut held: Vec<Bits> = self.ips.iter().map(|p| Bits::new(p.range.max)).collect();
        let mut orphans: Vec<IpAddr> = Vec::new();
        for a in &addresses {
            if a.managed && !live.contains(&a.parent) {
                orphans.push(a.ip);
                continue;
            }
            for (i, p) in self.ips.iter().enumerate() {
                if let Some(off) = p.range.ip_offset(a.ip) {
                    held[i].set(off);
                }
            }
        }
        // IPs whose leaked bit is kept for now (their orphan IPAddress waits with them).
        let mut waiting: Vec<IpAddr> = Vec::new();
        held.push(Bits::new(self.ports.range.max));
        let mut targets: Vec<(&Persisted, Bits)> = self.ips.iter().zip(ip_sets).collect();
        targets.push((&self.ports, port_set));
        for ((p, mut used), held) in targets.into_iter().zip(held) {
            for off in held.ones() {
                used.set(off);
            }
            // Values stored but used by no Service, with the passes that saw them (this one
            // included), as of the bitmap the write replaced.
            let mut leaked: Vec<(usize, u32)> = Vec::new();
            p.replace(self.storage(), |_, stored| {
                let leaks = self.leaks.lock().unwrap_or_else(|e| e.into_inner());
                leaked = stored
                    .ones()
                    .into_iter()
                    .filter(|off| !used.get(*off))
                    .map(|off| (off, leaks.get(&(p.key, off)).copied().unwrap_or(0) + 1))
                    .collect();
                let mut next = used.clone();
                for (off, n) in &leaked {
                    if *n < REPAIRS_BEFORE_LEAK_CLEANUP {
                        next.set(*off);
                    }
                }
                next
            })
            .await?;
            let (kept, freed): (Vec<_>, Vec<_>) =
                leaked.into_iter().partition(|(_, n)| *n < REPAIRS_BEFORE_LEAK_CLEANUP);
            {
                let mut leaks = self.leaks.lock().unwrap_or_else(|e| e.into_inner());
                leaks.retain(|(k, _), _| *k != p.key);
                leaks.extend(kept.iter().map(|(off, n)| ((p.key, *off), *n)));
            }
            if p.key != self.ports.key {
                waiting.extend(kept.iter().map(|(off, _)| p.range.ip_at(*off)));
            }
            for (off, _) in &freed {
                let value = p.range.show(*off);
                tracing::info!(range = p.key, value = %value, "freed an allocation no Service uses");
            }
            report.leaked_kept += kept.len();
            report.leaked_freed += freed.len();
        }
        let gone: Vec<IpAddr> = orphans.into_iter().filter(|ip| !waiting.contains(ip)).collect();
        self.drop_addresses(&gone).await;
        Ok(report)
    }

    /// [`ServiceAllocators::repair`] over every Service in storage.
    pub async fn repair_from_storage(&self) -> ApiResult<RepairReport> {
        let mut services = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .storage
                .list(SERVICES_PREFIX, after.as_deref(), 0, 500)
                .await
                .map_err(ApiError::internal)?;
            for kv in &page.items {
                if let Ok(v) = serde_json::from_slice::<Value>(&kv.value) {
                    services.push(v);
                }
            }
            if !page.more || page.items.is_empty() {
                break;
            }
            after = page.items.last().map(|kv| kv.key.clone());
        }
        self.repair(&services).await
    }
}

/// How often the periodic allocation repair runs (upstream repairs every few minutes).
pub const REPAIR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(180);

/// Run [`ServiceAllocators::repair_from_storage`] every `interval` (the first pass after one
/// interval: startup already repaired).
pub fn spawn_repair_loop(
    allocators: Arc<ServiceAllocators>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match allocators.repair_from_storage().await {
                Ok(r) => tracing::debug!(
                    out_of_range = r.out_of_range.len(),
                    duplicates = r.duplicates.len(),
                    leaked_kept = r.leaked_kept,
                    leaked_freed = r.leaked_freed,
                    "service allocation repair pass"
                ),
                Err(e) => tracing::warn!(error = %e.message, "service allocation repair failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{ip_svc, store, svc};
    use super::super::ServiceAllocators;
    use serde_json::json;
    use std::net::IpAddr;

    #[tokio::test]
    async fn repair_rebuilds_from_services_and_reports_out_of_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = store(&dir);
        let a = ServiceAllocators::new(st.clone(), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut kept = svc(
            "kept",
            json!({"type": "NodePort", "clusterIP": "10.0.0.20", "ports": [{"port": 80, "nodePort": 30500}]}),
        );
        a.allocate_create(&mut kept, false).await.expect("kept");
        let mut leaked = ip_svc("leaked");
        a.allocate_create(&mut leaked, false).await.expect("leaked");
        // The range moves to a /16 containing the old one; plus a Service outside it.
        let b = ServiceAllocators::new(st.clone(), "10.0.0.0/16", "30000-32767").expect("alloc");
        // The stored /24 bitmap is carried over into the new range.
        assert_eq!(b.allocated_ips("IPv4").await.expect("ips").len(), 2);
        let outside = svc(
            "outside",
            json!({"clusterIP": "192.168.0.9", "clusterIPs": ["192.168.0.9"], "ports": [{"port": 80}]}),
        );
        let report = b.repair(&[kept.clone(), outside]).await.expect("repair");
        assert_eq!(
            report.out_of_range,
            vec!["the cluster IP 192.168.0.9 for service default/outside is not within the service CIDR 10.0.0.0/16; please recreate"]
        );
        assert_eq!(report.leaked_kept, 1);
        let mut ips = b.allocated_ips("IPv4").await.expect("ips");
        ips.sort();
        assert_eq!(ips.len(), 2);
        // After enough passes, the leak is freed; the used values stay.
        b.repair(&[kept.clone()]).await.expect("repair 2");
        let r3 = b.repair(&[kept.clone()]).await.expect("repair 3");
        assert_eq!(r3.leaked_freed, 1);
        assert_eq!(
            b.allocated_ips("IPv4").await.expect("ips"),
            vec!["10.0.0.20".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(b.allocated_node_ports().await.expect("ports"), vec![30500]);
        // Duplicates are reported.
        let twin = svc(
            "twin",
            json!({"clusterIP": "10.0.0.20", "clusterIPs": ["10.0.0.20"], "ports": [{"port": 80}]}),
        );
        let r = b.repair(&[kept, twin]).await.expect("repair dup");
        assert_eq!(
            r.duplicates,
            vec![
                "the cluster IP 10.0.0.20 for service default/twin was assigned to multiple services; please recreate"
            ]
        );
    }
}
