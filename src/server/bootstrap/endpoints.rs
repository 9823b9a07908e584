//! The `default/kubernetes` Endpoints and EndpointSlice, kept pointing at the live API servers:
//! upstream's lease endpoint reconciler (`pkg/controlplane/reconcilers/lease.go`), run by the
//! bootstrap controller. Each server refreshes a lease under `/registry/masterleases/` and
//! rewrites the endpoints from the live leases; on shutdown it removes its own.

use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::storage::{Storage, StorageError};
use bytes::Bytes;
use serde_json::{json, Value};
use std::net::IpAddr;

/// The `Endpoints default/kubernetes` upstream's endpoint reconciler writes for these API
/// servers (sorted, de-duplicated addresses).
pub fn kubernetes_endpoints(addresses: &[IpAddr], port: u16) -> Value {
    let mut ips: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    ips.sort();
    ips.dedup();
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{
            "addresses": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }],
    })
}

/// The matching `EndpointSlice default/kubernetes` (upstream `endpointSliceFromEndpoints`).
pub fn kubernetes_endpoint_slice(addresses: &[IpAddr], port: u16) -> Value {
    let mut ips: Vec<IpAddr> = addresses.to_vec();
    ips.sort_by_key(|ip| ip.to_string());
    ips.dedup();
    let v6 = !ips.is_empty() && ips.iter().all(IpAddr::is_ipv6);
    let endpoints: Vec<Value> = ips
        .iter()
        .filter(|ip| ip.is_ipv6() == v6)
        .map(|ip| json!({"addresses": [ip.to_string()], "conditions": {"ready": true}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": if v6 { "IPv6" } else { "IPv4" },
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })
}

/// Create or refresh `Endpoints default/kubernetes` and `EndpointSlice default/kubernetes`
/// with this server's advertise address only (single-server form; see [`EndpointLeases`] for
/// the multi-server lease reconciler).
pub async fn reconcile_kubernetes_endpoints(registry: &Registry, advertise: IpAddr, port: u16) -> ApiResult<()> {
    write_kubernetes_endpoints(registry, &[advertise], port).await
}

/// Write `Endpoints default/kubernetes` and `EndpointSlice default/kubernetes` for these
/// addresses when they differ from what is stored. Refuses an empty list (as upstream: "no API
/// server IP addresses were listed in storage, refusing to erase all endpoints").
pub async fn write_kubernetes_endpoints(registry: &Registry, addresses: &[IpAddr], port: u16) -> ApiResult<()> {
    if addresses.is_empty() {
        return Err(ApiError::internal(
            "no API server IP addresses were listed in storage, refusing to erase all endpoints for the kubernetes Service",
        ));
    }
    let pairs = [
        ("", "endpoints", kubernetes_endpoints(addresses, port)),
        (
            "discovery.k8s.io",
            "endpointslices",
            kubernetes_endpoint_slice(addresses, port),
        ),
    ];
    for (group, plural, want) in pairs {
        let Some(def) = crate::api::builtin_row(group, plural) else {
            return Err(ApiError::internal(format!("resource table lacks {plural}")));
        };
        match registry.get(def, Some("default"), "kubernetes", None).await {
            Ok(cur) => {
                let cur = cur.value();
                let differs = want
                    .as_object()
                    .map(|m| {
                        m.iter().any(|(k, v)| match k.as_str() {
                            "metadata" => cur.pointer("/metadata/labels") != v.get("labels"),
                            "apiVersion" | "kind" => false,
                            _ => cur.get(k) != Some(v),
                        })
                    })
                    .unwrap_or(false);
                if differs {
                    let mut body = cur;
                    if let (Some(b), Some(w)) = (body.as_object_mut(), want.as_object()) {
                        for (k, v) in w {
                            if k == "metadata" {
                                continue;
                            }
                            b.insert(k.clone(), v.clone());
                        }
                    }
                    body["metadata"]["labels"] = want["metadata"]["labels"].clone();
                    // Keep the resourceVersion we read: a concurrent writer (another server)
                    // makes this a conflict, retried on the next pass.
                    registry
                        .update(
                            def,
                            Some("default"),
                            "kubernetes",
                            body,
                            crate::registry::store::Part::Main,
                            false,
                            Some("kube-apiserver"),
                        )
                        .await?;
                }
            }
            Err(e) if e.code == 404 => match registry.create(def, Some("default"), want, false).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Where the per-server leases live: `/registry/masterleases/<advertise IP>`.
pub const MASTER_LEASES_PREFIX: &str = "/registry/masterleases/";
/// Upstream's `DefaultEndpointReconcilerInterval`.
pub const ENDPOINT_RECONCILER_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Upstream's `DefaultEndpointReconcilerTTL`.
pub const ENDPOINT_RECONCILER_TTL: std::time::Duration = std::time::Duration::from_secs(15);
/// Annotation on a lease holding its expiry (RFC 3339, microseconds): our storage has no TTLs,
/// so a lease past this time is dead.
pub const LEASE_EXPIRY_ANNOTATION: &str = "capstan.io/lease-expires-at";

/// One API server's lease as stored: an Endpoints-shaped object named after the IP.
pub fn lease_object(ip: IpAddr, port: u16, expires: std::time::SystemTime) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": ip.to_string(),
            "annotations": {LEASE_EXPIRY_ANNOTATION: crate::util::rfc3339_micros(expires)},
        },
        "subsets": [{
            "addresses": [{"ip": ip.to_string()}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }],
    })
}

/// A live lease: (IP, port). `None` for an unparsable or expired lease.
pub fn live_lease(raw: &[u8], now: std::time::SystemTime) -> Option<(IpAddr, u16)> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    let expires = v
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LEASE_EXPIRY_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(crate::util::parse_rfc3339)?;
    if expires <= now {
        return None;
    }
    let ip: IpAddr = v.pointer("/metadata/name").and_then(Value::as_str)?.parse().ok()?;
    let port = v
        .pointer("/subsets/0/ports/0/port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(443);
    Some((ip, port))
}

/// The Endpoints for a set of live leases: all IPs sorted; the port of the lowest IP's lease
/// (every server computes the same answer, so servers on different ports do not flap).
pub fn endpoints_for_leases(leases: &[(IpAddr, u16)]) -> Option<(Vec<IpAddr>, u16)> {
    let mut sorted = leases.to_vec();
    sorted.sort_by_key(|(ip, _)| ip.to_string());
    sorted.dedup_by_key(|(ip, _)| *ip);
    let port = sorted.first()?.1;
    Some((sorted.into_iter().map(|(ip, _)| ip).collect(), port))
}

/// This server's lease and the reconciler that keeps `default/kubernetes` pointing at the live
/// API servers.
pub struct EndpointLeases {
    pub ip: IpAddr,
    pub port: u16,
    pub ttl: std::time::Duration,
    pub interval: std::time::Duration,
}

impl EndpointLeases {
    pub fn new(ip: IpAddr, port: u16) -> EndpointLeases {
        EndpointLeases {
            ip,
            port,
            ttl: ENDPOINT_RECONCILER_TTL,
            interval: ENDPOINT_RECONCILER_INTERVAL,
        }
    }

    fn key(&self) -> String {
        format!("{MASTER_LEASES_PREFIX}{}", self.ip)
    }

    /// Write (or refresh) this server's lease with a new expiry.
    pub async fn refresh(&self, storage: &dyn Storage) -> ApiResult<()> {
        let key = self.key();
        for _ in 0..5 {
            let body = lease_object(self.ip, self.port, std::time::SystemTime::now() + self.ttl);
            let bytes = Bytes::from(serde_json::to_vec(&body).map_err(ApiError::internal)?);
            let res = match storage.get(&key, 0).await.map_err(ApiError::internal)? {
                Some(kv) => storage.update(&key, bytes, kv.mod_revision).await,
                None => storage.create(&key, bytes).await,
            };
            match res {
                Ok(_) => return Ok(()),
                Err(StorageError::Conflict { .. } | StorageError::KeyExists { .. } | StorageError::NotFound { .. }) => {
                    continue
                }
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        Err(ApiError::internal(format!(
            "cannot refresh the lease {key}: too many conflicts"
        )))
    }

    /// Every live lease in storage.
    pub async fn live(storage: &dyn Storage) -> ApiResult<Vec<(IpAddr, u16)>> {
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = storage
                .list(MASTER_LEASES_PREFIX, after.as_deref(), 0, 500)
                .await
                .map_err(ApiError::internal)?;
            out.extend(page.items.iter().filter_map(|kv| live_lease(&kv.value, now)));
            if !page.more || page.items.is_empty() {
                break;
            }
            after = page.items.last().map(|kv| kv.key.clone());
        }
        Ok(out)
    }

    /// One pass: refresh our lease, list the live ones and rewrite `default/kubernetes`.
    pub async fn reconcile(&self, registry: &Registry) -> ApiResult<Vec<IpAddr>> {
        self.refresh(registry.storage.as_ref()).await?;
        let mut leases = Self::live(registry.storage.as_ref()).await?;
        if !leases.iter().any(|(ip, _)| *ip == self.ip) {
            leases.push((self.ip, self.port));
        }
        let Some((ips, port)) = endpoints_for_leases(&leases) else {
            return Ok(Vec::new());
        };
        write_kubernetes_endpoints(registry, &ips, port).await?;
        Ok(ips)
    }

    /// On shutdown: drop our lease and our address from `default/kubernetes` (kept when we are
    /// the last server: the list is never written empty).
    pub async fn remove(&self, registry: &Registry) -> ApiResult<()> {
        let storage = registry.storage.as_ref();
        let key = self.key();
        if let Some(kv) = storage.get(&key, 0).await.map_err(ApiError::internal)? {
            match storage.delete(&key, kv.mod_revision).await {
                Ok(_) | Err(StorageError::NotFound { .. } | StorageError::Conflict { .. }) => {}
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        let leases: Vec<(IpAddr, u16)> = Self::live(storage)
            .await?
            .into_iter()
            .filter(|(ip, _)| *ip != self.ip)
            .collect();
        match endpoints_for_leases(&leases) {
            Some((ips, port)) => write_kubernetes_endpoints(registry, &ips, port).await,
            None => Ok(()),
        }
    }

    /// Reconcile every `interval` until `stop` turns true, then remove our lease (bounded by
    /// twice the interval, as upstream).
    pub async fn run(self, registry: Registry, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            if let Err(e) = self.reconcile(&registry).await {
                tracing::warn!(error = %e.message, "cannot reconcile the default/kubernetes endpoints");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = async { let _ = stop.wait_for(|v| *v).await; } => {}
            }
        }
        match tokio::time::timeout(2 * self.interval, self.remove(&registry)).await {
            Ok(Ok(())) => tracing::info!(ip = %self.ip, "removed this server from the default/kubernetes endpoints"),
            Ok(Err(e)) => tracing::warn!(error = %e.message, "cannot remove this server's endpoint lease"),
            Err(_) => tracing::warn!("timed out removing this server's endpoint lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;
    use std::sync::Arc;

    fn store(dir: &tempfile::TempDir) -> Arc<dyn Storage> {
        let s: Arc<dyn Storage> = SqliteStorage::open(&dir.path().join("db.sqlite")).expect("open sqlite");
        s
    }

    #[test]
    fn kubernetes_endpoint_objects_match_upstream_shape() {
        let ep = kubernetes_endpoints(&["192.168.1.10".parse().expect("ip")], 6443);
        assert_eq!(
            ep["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"],
            "true"
        );
        assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "192.168.1.10");
        assert_eq!(
            ep["subsets"][0]["ports"][0],
            json!({"name": "https", "port": 6443, "protocol": "TCP"})
        );
        let sl = kubernetes_endpoint_slice(&["fd00::10".parse().expect("ip")], 6443);
        assert_eq!(sl["addressType"], "IPv6");
        assert_eq!(sl["metadata"]["labels"]["kubernetes.io/service-name"], "kubernetes");
        assert_eq!(sl["endpoints"][0]["conditions"]["ready"], true);
    }

    #[test]
    fn leases_expire_and_endpoints_take_the_lowest_ips_port() {
        let now = std::time::SystemTime::now();
        let ip: IpAddr = "192.0.2.10".parse().expect("ip");
        let live = serde_json::to_vec(&lease_object(ip, 6443, now + ENDPOINT_RECONCILER_TTL)).expect("json");
        assert_eq!(live_lease(&live, now), Some((ip, 6443)));
        let dead = serde_json::to_vec(&lease_object(ip, 6443, now - std::time::Duration::from_secs(1))).expect("json");
        assert_eq!(live_lease(&dead, now), None);
        assert_eq!(live_lease(b"not json", now), None);
        let a: IpAddr = "192.0.2.11".parse().expect("ip");
        assert_eq!(
            endpoints_for_leases(&[(a, 7000), (ip, 6443), (a, 7000)]),
            Some((vec![ip, a], 6443))
        );
        assert_eq!(endpoints_for_leases(&[]), None);
        assert_eq!(ENDPOINT_RECONCILER_INTERVAL, std::time::Duration::from_secs(10));
        assert_eq!(ENDPOINT_RECONCILER_TTL, std::time::Duration::from_secs(15));
    }

    async fn registry(storage: Arc<dyn Storage>) -> Registry {
        crate::registry::test_registry(storage, "default").await
    }

    async fn endpoint_ips(reg: &Registry) -> Vec<String> {
        let def = crate::api::builtin_row("", "endpoints").expect("endpoints def");
        let ep = reg
            .get(def, Some("default"), "kubernetes", None)
            .await
            .expect("endpoints");
        let slice_def = crate::api::builtin_row("discovery.k8s.io", "endpointslices").expect("slice def");
        let slice = reg
            .get(slice_def, Some("default"), "kubernetes", None)
            .await
            .expect("slice");
        let ips: Vec<String> = ep.value()["subsets"][0]["addresses"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["ip"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        let slice_ips: Vec<String> = slice.value()["endpoints"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["addresses"][0].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(ips, slice_ips);
        ips
    }

    #[tokio::test]
    async fn lease_reconciler_lists_live_servers_and_removes_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = store(&dir);
        let reg = registry(st.clone()).await;
        let a = EndpointLeases::new("192.0.2.11".parse().expect("ip"), 6443);
        let b = EndpointLeases::new("192.0.2.10".parse().expect("ip"), 6444);
        assert_eq!(a.reconcile(&reg).await.expect("a").len(), 1);
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.11"]);
        b.reconcile(&reg).await.expect("b");
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.10", "192.0.2.11"]);
        assert!(st
            .get("/registry/masterleases/192.0.2.10", 0)
            .await
            .expect("get")
            .is_some());
        // A dead server's lease (expired) no longer counts.
        let stale = lease_object(
            "192.0.2.9".parse().expect("ip"),
            6443,
            std::time::SystemTime::now() - std::time::Duration::from_secs(1),
        );
        st.create(
            "/registry/masterleases/192.0.2.9",
            Bytes::from(serde_json::to_vec(&stale).expect("json")),
        )
        .await
        .expect("stale lease");
        a.reconcile(&reg).await.expect("a again");
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.10", "192.0.2.11"]);
        let def = crate::api::builtin_row("", "endpoints").expect("def");
        let ep = reg.get(def, Some("default"), "kubernetes", None).await.expect("ep");
        // The port of the lowest IP's lease.
        assert_eq!(ep.value()["subsets"][0]["ports"][0]["port"], 6444);
        // Shutting down removes the lease and the address; the last server stays listed.
        b.remove(&reg).await.expect("remove b");
        assert!(st
            .get("/registry/masterleases/192.0.2.10", 0)
            .await
            .expect("get")
            .is_none());
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.11"]);
        a.remove(&reg).await.expect("remove a");
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.11"]);
        let err = write_kubernetes_endpoints(&reg, &[], 6443).await.expect_err("empty");
        assert!(
            err.message.contains("refusing to erase all endpoints"),
            "{}",
            err.message
        );
    }
}
