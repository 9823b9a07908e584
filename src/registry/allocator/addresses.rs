//! IPAddress objects (`networking.k8s.io/v1`) beside the bitmaps, as 1.33's ClusterIP
//! allocator writes them (`MultiCIDRServiceAllocator` GA, `DisableAllocatorDualWrite` off): one
//! per allocated ClusterIP, named by the IP, labelled as the ipallocator's, its `parentRef` the
//! Service. Creating the object is the claim (a create of an existing key fails), so an IP is
//! taken when its bit is set or its IPAddress exists; releasing an IP deletes the allocator's
//! object. The repair creates the objects of Services that predate them and keeps the bits of
//! IPs an IPAddress holds.

use super::fields::{name_of, ns_name};
use super::ServiceAllocators;
use crate::error::{ApiError, ApiResult};
use crate::storage::StorageError;
use crate::util::json::JsonExt;
use bytes::Bytes;
use serde_json::{json, Value};
use std::net::IpAddr;

/// Where IPAddress objects are stored.
pub const IP_ADDRESSES_PREFIX: &str = "/registry/ipaddresses/";
const LABEL_FAMILY: &str = "ipaddress.kubernetes.io/ip-family";
const LABEL_MANAGED_BY: &str = "ipaddress.kubernetes.io/managed-by";
/// Upstream's `ipallocator.ControllerName`.
const MANAGED_BY: &str = "ipallocator.k8s.io";

/// A stored IPAddress, as the repair sees it.
#[derive(Debug, Clone)]
pub(super) struct Address {
    pub ip: IpAddr,
    /// "ns/name" of its parent Service ("" for another kind of parent).
    pub parent: String,
    /// Written by the allocator (so the repair may delete it when its Service is gone).
    pub managed: bool,
}

/// Who holds an IP's IPAddress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Claim {
    /// This Service (created now, or before).
    Ours,
    /// Another parent: the IP is taken.
    Taken,
}

/// The IPAddress object of `ip` for the Service `svc`, as the kube-apiserver writes it.
fn address_object(ip: IpAddr, svc: &Value) -> Value {
    let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let ns = svc.str_at("/metadata/namespace");
    let mut obj = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IPAddress",
        "metadata": {
            "name": ip.to_string(),
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": crate::util::now_rfc3339(),
            "labels": {LABEL_FAMILY: family, LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": {"parentRef": {"resource": "services", "namespace": ns, "name": name_of(svc)}},
    });
    let schemas = crate::api::schema::builtin();
    let root = schemas.root_for("networking.k8s.io", "v1", "IPAddress");
    crate::patch::record_update(
        None,
        &mut obj,
        "kube-apiserver",
        "networking.k8s.io/v1",
        None,
        schemas,
        root,
    );
    obj
}

/// "ns/name" of an IPAddress's parent Service ("" for another kind of parent).
fn parent_of(addr: &Value) -> String {
    let r = |k: &str| {
        addr.pointer(&format!("/spec/parentRef/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if r("group").is_empty() && r("resource") == "services" {
        format!("{}/{}", r("namespace"), r("name"))
    } else {
        String::new()
    }
}

fn is_managed(addr: &Value) -> bool {
    addr.pointer(&format!("/metadata/labels/{}", LABEL_MANAGED_BY.replace('/', "~1")))
        .and_then(Value::as_str)
        == Some(MANAGED_BY)
}

fn key_of(ip: IpAddr) -> String {
    format!("{IP_ADDRESSES_PREFIX}{ip}")
}

impl ServiceAllocators {
    /// Claim `ip` for `svc` by creating its IPAddress.
    pub(super) async fn claim_address(&self, svc: &Value, ip: IpAddr) -> ApiResult<Claim> {
        let obj = address_object(ip, svc);
        let bytes = Bytes::from(serde_json::to_vec(&obj).map_err(ApiError::internal)?);
        match self.storage().create(&key_of(ip), bytes).await {
            Ok(_) => Ok(Claim::Ours),
            Err(StorageError::KeyExists { .. }) => {
                let held = self.storage().get(&key_of(ip), 0).await.map_err(ApiError::internal)?;
                let parent = held
                    .and_then(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
                    .map(|v| parent_of(&v));
                Ok(if parent.as_deref() == Some(ns_name(svc).as_str()) {
                    Claim::Ours
                } else {
                    Claim::Taken
                })
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// Delete the allocator's IPAddress objects of `ips` (ones a user made stay).
    pub(super) async fn drop_addresses(&self, ips: &[IpAddr]) {
        for ip in ips {
            let key = key_of(*ip);
            let Ok(Some(kv)) = self.storage().get(&key, 0).await else {
                continue;
            };
            let managed = serde_json::from_slice::<Value>(&kv.value)
                .ok()
                .is_some_and(|v| is_managed(&v));
            if !managed {
                continue;
            }
            match self.storage().delete(&key, kv.mod_revision).await {
                Ok(_) | Err(StorageError::NotFound { .. }) | Err(StorageError::Conflict { .. }) => {}
                Err(e) => tracing::warn!(ip = %ip, error = %e, "cannot delete an IPAddress; the repair keeps its IP"),
            }
        }
    }

    /// Every stored IPAddress.
    pub(super) async fn addresses(&self) -> ApiResult<Vec<Address>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .storage()
                .list(IP_ADDRESSES_PREFIX, after.as_deref(), 0, 500)
                .await
                .map_err(ApiError::internal)?;
            for kv in &page.items {
                let Some(ip) = kv.key.strip_prefix(IP_ADDRESSES_PREFIX).and_then(|s| s.parse().ok()) else {
                    continue;
                };
                let v = serde_json::from_slice::<Value>(&kv.value).unwrap_or_default();
                out.push(Address {
                    ip,
                    parent: parent_of(&v),
                    managed: is_managed(&v),
                });
            }
            if !page.more || page.items.is_empty() {
                break;
            }
            after = page.items.last().map(|kv| kv.key.clone());
        }
        Ok(out)
    }

    /// Create the missing IPAddress objects of Services' cluster IPs (upstream's RepairIPAddress:
    /// Services allocated before the objects existed); returns how many were created.
    pub(super) async fn ensure_addresses(&self, owners: &[(IpAddr, &Value)], existing: &[Address]) -> usize {
        let mut created = 0;
        for (ip, svc) in owners {
            if existing.iter().any(|a| a.ip == *ip) {
                continue;
            }
            match self.claim_address(svc, *ip).await {
                Ok(Claim::Ours) => {
                    created += 1;
                    tracing::info!(ip = %ip, service = %ns_name(svc), "created the missing IPAddress of a ClusterIP");
                }
                Ok(Claim::Taken) => {}
                Err(e) => tracing::warn!(ip = %ip, error = %e.message, "cannot create an IPAddress"),
            }
        }
        created
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{ip_svc, store, svc};
    use super::super::ServiceAllocators;
    use super::*;

    async fn stored(a: &ServiceAllocators, ip: &str) -> Option<Value> {
        let kv = a
            .storage()
            .get(&format!("{IP_ADDRESSES_PREFIX}{ip}"), 0)
            .await
            .expect("get")?;
        Some(serde_json::from_slice(&kv.value).expect("json"))
    }

    #[tokio::test]
    async fn an_ip_is_taken_when_its_bit_or_its_ipaddress_holds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut web = svc("web", json!({"clusterIP": "10.0.0.10", "ports": [{"port": 80}]}));
        let got = a.allocate_create(&mut web, false).await.expect("allocate");
        let addr = stored(&a, "10.0.0.10").await.expect("IPAddress written");
        assert_eq!(
            addr["metadata"]["labels"],
            json!({"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"})
        );
        assert_eq!(
            addr["spec"]["parentRef"],
            json!({"resource": "services", "namespace": "default", "name": "web"})
        );
        assert_eq!(addr["metadata"]["managedFields"][0]["manager"], "kube-apiserver");

        // A user's IPAddress (not in the bitmap) makes its IP taken: requested, it fails as
        // upstream; picked, it is skipped.
        for ip in ["10.0.0.20", "10.0.0.30"] {
            let user = json!({"apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
                "metadata": {"name": ip},
                "spec": {"parentRef": {"resource": "gateways", "group": "gateway.networking.k8s.io", "name": "g"}}});
            let bytes = Bytes::from(serde_json::to_vec(&user).unwrap());
            a.storage()
                .create(&format!("{IP_ADDRESSES_PREFIX}{ip}"), bytes)
                .await
                .expect("user ip");
        }
        let mut want = svc("want", json!({"clusterIP": "10.0.0.20", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut want, false).await.expect_err("taken");
        assert_eq!(
            e.message,
            "Service \"want\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.20\"}: failed to allocate IP 10.0.0.20: provided IP is already allocated"
        );
        // 254 addresses less .1 (kubernetes), .10, .20 and .30: 250 dynamic picks, none on .30.
        for i in 0..250 {
            let mut s = ip_svc(&format!("s{i}"));
            a.allocate_create(&mut s, false).await.expect("allocate");
            assert_ne!(s["spec"]["clusterIP"], "10.0.0.30");
        }
        let mut full = ip_svc("full");
        assert!(a.allocate_create(&mut full, false).await.is_err());

        // Release deletes the allocator's object, never the user's.
        a.release(&got).await;
        assert!(stored(&a, "10.0.0.10").await.is_none());
        a.drop_addresses(&["10.0.0.20".parse().unwrap()]).await;
        assert!(stored(&a, "10.0.0.20").await.is_some());
    }

    #[tokio::test]
    async fn repair_creates_missing_ipaddresses_and_frees_orphans_with_their_bits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut kept = ip_svc("kept");
        a.allocate_create(&mut kept, false).await.expect("kept");
        let mut gone = ip_svc("gone");
        a.allocate_create(&mut gone, false).await.expect("gone");
        let kept_ip = kept["spec"]["clusterIP"].as_str().unwrap().to_string();
        let gone_ip = gone["spec"]["clusterIP"].as_str().unwrap().to_string();
        // A Service from before the objects existed: its IPAddress is created by the repair.
        a.drop_addresses(&[kept_ip.parse().unwrap()]).await;
        assert!(stored(&a, &kept_ip).await.is_none());
        a.repair(&[kept.clone()]).await.expect("repair 1");
        assert_eq!(
            stored(&a, &kept_ip).await.expect("recreated")["spec"]["parentRef"]["name"],
            "kept"
        );
        // `gone`'s object and bit wait the leak passes, then go together.
        assert!(stored(&a, &gone_ip).await.is_some());
        a.repair(&[kept.clone()]).await.expect("repair 2");
        let r = a.repair(&[kept.clone()]).await.expect("repair 3");
        assert_eq!(r.leaked_freed, 1);
        assert!(stored(&a, &gone_ip).await.is_none());
        assert!(stored(&a, &kept_ip).await.is_some());
        assert_eq!(
            a.allocated_ips("IPv4").await.expect("ips"),
            vec![kept_ip.parse::<IpAddr>().unwrap()]
        );
    }
}
