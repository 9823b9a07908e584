//! Service ClusterIP and NodePort allocation, as upstream's service REST
//! (`pkg/registry/core/service/storage/alloc.go`) over bitmap allocators
//! (`pkg/registry/core/service/{allocator,ipallocator,portallocator}`).
//!
//! Allocation state lives in storage, one bitmap per range (`/registry/ranges/serviceips`,
//! `/registry/ranges/secondaryserviceips`, `/registry/ranges/servicenodeports`), changed only
//! by compare-and-swap, so several servers sharing one storage never hand out the same value.
//!
//! Rules (upstream): IPv4 ranges exclude the network and broadcast addresses; dynamic
//! allocation prefers the upper band of the range (offset `min(max(16, size/16), 256)` for IPs,
//! `min(max(16, size/32), 128)` for ports) and falls back to the lower, static band; the first
//! IP of the primary range is kept for the `kubernetes` Service (never handed out dynamically).
//!
//! One job per file:
//! - `range.rs`: a CIDR or port range, its size and bands;
//! - `bitmap.rs`: the bitmap over a range and the random scan for a free value;
//! - `persist.rs`: a bitmap stored at its key, read and written by compare-and-swap;
//! - `fields.rs`, `errors.rs`: the Service fields read and written, and upstream's messages;
//! - `families.rs`, `ips.rs`, `node_ports.rs`: IP families, cluster IPs, node ports;
//! - `service.rs`: what a Service create, update or delete allocates and releases;
//! - `addresses.rs`: the IPAddress objects 1.33 writes beside the bitmaps (an IP is taken when
//!   either holds it);
//! - `repair.rs`: rebuild the bitmaps from the stored Services, and the periodic loop.
//!
//! The `default/kubernetes` Endpoints reconciler is not here: it is bootstrap work
//! (`server::bootstrap::endpoints`).

mod addresses;
mod bitmap;
mod errors;
mod families;
mod fields;
mod ips;
mod node_ports;
mod persist;
mod range;
mod repair;
mod service;

pub use persist::{KEY_NODE_PORTS, KEY_SECONDARY_SERVICE_IPS, KEY_SERVICE_IPS};
pub use repair::{spawn_repair_loop, RepairReport, REPAIRS_BEFORE_LEAK_CLEANUP, REPAIR_INTERVAL, SERVICES_PREFIX};
pub use service::{prepare_update, Allocation};

use crate::storage::Storage;
use persist::Persisted;
use range::Range;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Upstream's `DefaultServiceIPCIDR` and `DefaultServiceNodePortRange`.
pub const DEFAULT_SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/24";
pub const DEFAULT_SERVICE_NODE_PORT_RANGE: &str = "30000-32767";

/// The allocators of one configuration: the cluster IP range(s) and the node-port range, each
/// persisted at its key, plus the leak candidates the repair is watching.
pub struct ServiceAllocators {
    storage: Arc<dyn Storage>,
    /// Primary range first (`--service-cluster-ip-range[0]`), then the secondary one.
    ips: Vec<Persisted>,
    ports: Persisted,
    /// Leak candidates: (key, offset) → repair passes that saw it.
    leaks: std::sync::Mutex<HashMap<(&'static str, usize), u32>>,
}

impl ServiceAllocators {
    /// `cluster_ip_ranges`: `--service-cluster-ip-range` (one CIDR, or two of different
    /// families comma-separated; empty = upstream's default); `node_port_range`:
    /// `--service-node-port-range` (empty = `30000-32767`).
    pub fn new(storage: Arc<dyn Storage>, cluster_ip_ranges: &str, node_port_range: &str) -> anyhow::Result<Self> {
        let cidrs: Vec<&str> = if cluster_ip_ranges.trim().is_empty() {
            vec![DEFAULT_SERVICE_CLUSTER_IP_RANGE]
        } else {
            cluster_ip_ranges
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        };
        if cidrs.len() > 2 {
            anyhow::bail!(
                "--service-cluster-ip-range may consist of a maximum of two CIDRs, got {}",
                cidrs.len()
            );
        }
        let mut ranges = Vec::new();
        for (i, c) in cidrs.iter().enumerate() {
            let r = Range::cidr(c).map_err(|e| anyhow::anyhow!("--service-cluster-ip-range[{i}]: {e}"))?;
            let width = r.addr_bits();
            if r.host_bits() > 20 {
                anyhow::bail!(
                    "specified --service-cluster-ip-range[{i}] is too large; for {width}-bit addresses, the mask must be >= {}",
                    width - 20
                );
            }
            ranges.push(r);
        }
        if ranges.len() == 2 && ranges[0].is_v6() == ranges[1].is_v6() {
            anyhow::bail!(
                "--service-cluster-ip-range[0] and --service-cluster-ip-range[1] must be of different IP family"
            );
        }
        let ports = Range::ports(if node_port_range.trim().is_empty() {
            DEFAULT_SERVICE_NODE_PORT_RANGE
        } else {
            node_port_range
        })
        .map_err(|e| anyhow::anyhow!("--service-node-port-range: {e}"))?;
        let ips = ranges
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let key = if i == 0 {
                    KEY_SERVICE_IPS
                } else {
                    KEY_SECONDARY_SERVICE_IPS
                };
                Persisted::new(key, r, i == 0)
            })
            .collect();
        Ok(ServiceAllocators {
            storage,
            ips,
            ports: Persisted::new(KEY_NODE_PORTS, ports, false),
            leaks: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// `--service-cluster-ip-range` as configured (primary first): the default ServiceCIDR's.
    pub fn cluster_ip_ranges(&self) -> Vec<String> {
        self.ips.iter().map(|p| p.range.spec.clone()).collect()
    }

    /// The first IP of the primary range: the `kubernetes` Service's.
    pub fn first_service_ip(&self) -> IpAddr {
        self.ips[0].range.ip_at(0)
    }

    /// `IPv4` / `IPv6` of `--service-cluster-ip-range[0]`.
    pub fn default_family(&self) -> &'static str {
        self.ips[0].range.family()
    }

    pub fn dual_stack(&self) -> bool {
        self.ips.len() == 2
    }

    fn ip_range(&self, family: &str) -> Option<&Persisted> {
        self.ips.iter().find(|p| p.range.family() == family)
    }

    fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }
}

/// Fixtures shared by the unit tests of the submodules.
#[cfg(test)]
mod fixtures {
    use crate::storage::sqlite::SqliteStorage;
    use crate::storage::Storage;
    use serde_json::{json, Value};
    use std::sync::Arc;

    pub(super) fn store(dir: &tempfile::TempDir) -> Arc<dyn Storage> {
        let s: Arc<dyn Storage> = SqliteStorage::open(&dir.path().join("db.sqlite")).expect("open sqlite");
        s
    }

    pub(super) fn svc(name: &str, spec: Value) -> Value {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec});
        (crate::api::strategy::core::SERVICE.defaults)(&mut s);
        s
    }

    pub(super) fn ip_svc(name: &str) -> Value {
        svc(name, json!({"ports": [{"port": 80}]}))
    }

    pub(super) fn np_svc(name: &str) -> Value {
        svc(name, json!({"type": "NodePort", "ports": [{"port": 80}]}))
    }
}
