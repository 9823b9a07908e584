//! A bitmap persisted under `/registry/ranges/...` as a `RangeAllocation`-shaped JSON object
//! (the range and `data`, base64 of the bitmap's big-endian integer bytes). Every change is a
//! compare-and-swap on the key's revision, retried on conflict, so several servers sharing one
//! storage never hand out the same value.

use super::bitmap::{bit_positions, Bits};
use super::range::Range;
use crate::error::{ApiError, ApiResult};
use crate::storage::{KeyValue, Storage, StorageError};
use crate::util::json::JsonExt;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

/// Storage keys of the three ranges (upstream: `/ranges/serviceips`… under the etcd prefix).
pub const KEY_SERVICE_IPS: &str = "/registry/ranges/serviceips";
pub const KEY_SECONDARY_SERVICE_IPS: &str = "/registry/ranges/secondaryserviceips";
pub const KEY_NODE_PORTS: &str = "/registry/ranges/servicenodeports";

/// CAS attempts before giving up on a contended range.
const MAX_ATTEMPTS: usize = 10_000;

/// One range persisted at one key, with a cached copy of the last state this process saw.
pub(super) struct Persisted {
    pub(super) key: &'static str,
    pub(super) range: Range,
    pub(super) reserve_first: bool,
    /// (mod revision, bitmap); revision 0 = the key does not exist.
    state: tokio::sync::Mutex<Option<(i64, Bits)>>,
}

impl Persisted {
    pub(super) fn new(key: &'static str, range: Range, reserve_first: bool) -> Persisted {
        Persisted {
            key,
            range,
            reserve_first,
            state: tokio::sync::Mutex::new(None),
        }
    }

    fn encode(&self, bits: &Bits) -> Bytes {
        let v = json!({
            "kind": "RangeAllocation",
            "apiVersion": "v1",
            "metadata": {"name": "", "creationTimestamp": null},
            "range": self.range.spec,
            "data": base64::engine::general_purpose::STANDARD.encode(bits.to_bytes()),
        });
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    /// Decode a stored range; a range stored with another spec (the flags changed) is carried
    /// over value by value, dropping what is outside the new range.
    fn decode(&self, raw: &[u8]) -> Result<Bits, String> {
        let v: Value = serde_json::from_slice(raw).map_err(|e| format!("{}: {e}", self.key))?;
        let spec = v.str_of("range");
        let data = v.str_of("data");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("{}: bad data: {e}", self.key))?;
        let mut bits = Bits::new(self.range.max);
        if spec == self.range.spec {
            for p in bit_positions(&bytes) {
                bits.set(p);
            }
            return Ok(bits);
        }
        let Ok(old) = Range::parse(spec) else {
            tracing::warn!(
                key = self.key,
                range = spec,
                "ignoring stored allocations with an unparsable range"
            );
            return Ok(bits);
        };
        if !old.compatible(&self.range) {
            return Ok(bits);
        }
        for p in bit_positions(&bytes) {
            if let Some(off) = self.range.carry(&old, p) {
                bits.set(off);
            }
        }
        Ok(bits)
    }

    pub(super) async fn load(&self, storage: &dyn Storage) -> ApiResult<(i64, Bits)> {
        match storage.get(self.key, 0).await {
            Ok(Some(kv)) => self.decode_kv(&kv),
            Ok(None) => Ok((0, Bits::new(self.range.max))),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    fn decode_kv(&self, kv: &KeyValue) -> ApiResult<(i64, Bits)> {
        let bits = self.decode(&kv.value).map_err(ApiError::internal)?;
        Ok((kv.mod_revision, bits))
    }

    /// Run `f` on the bitmap and persist the result with compare-and-swap, retrying on
    /// conflicts. `f` must be a pure function of its inputs (it may run several times). A
    /// result computed on a cached state is only trusted once a CAS write confirms it.
    pub(super) async fn modify<T>(
        &self,
        storage: &dyn Storage,
        mut f: impl FnMut(&Range, &mut Bits) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut guard = self.state.lock().await;
        let mut fresh = false;
        for _ in 0..MAX_ATTEMPTS {
            let (rev, bits) = match guard.take() {
                Some(s) => s,
                None => {
                    fresh = true;
                    self.load(storage).await?
                }
            };
            let mut work = bits.clone();
            let out = f(&self.range, &mut work);
            if work == bits || out.is_err() {
                *guard = Some((rev, bits));
                if !fresh {
                    // Unconfirmed outcome on a cached state: read storage and run again.
                    *guard = None;
                    continue;
                }
                return out;
            }
            let bytes = self.encode(&work);
            let res = if rev == 0 {
                storage.create(self.key, bytes).await
            } else {
                storage.update(self.key, bytes, rev).await
            };
            match res {
                Ok(new_rev) => {
                    *guard = Some((new_rev, work));
                    return out;
                }
                Err(StorageError::Conflict { current: Some(kv), .. }) => {
                    *guard = Some(self.decode_kv(&kv)?);
                    fresh = true;
                }
                Err(StorageError::Conflict { current: None, .. }) | Err(StorageError::NotFound { .. }) => {
                    *guard = Some((0, Bits::new(self.range.max)));
                    fresh = true;
                }
                Err(StorageError::KeyExists { .. }) => {
                    *guard = None;
                }
                Err(e) => return Err(ApiError::internal(e)),
            }
            tokio::task::yield_now().await;
        }
        Err(ApiError::internal(format!(
            "too many concurrent updates of the allocation range {}",
            self.key
        )))
    }

    /// Run `f` on a fresh copy of the bitmap without persisting anything (dry run).
    pub(super) async fn peek<T>(
        &self,
        storage: &dyn Storage,
        f: impl FnOnce(&Range, &mut Bits) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let (_, mut bits) = self.load(storage).await?;
        f(&self.range, &mut bits)
    }

    /// Overwrite the stored bitmap with `f(stored)` (repair).
    pub(super) async fn replace(
        &self,
        storage: &dyn Storage,
        mut f: impl FnMut(&Range, &Bits) -> Bits,
    ) -> ApiResult<()> {
        self.modify(storage, |r, b| {
            *b = f(r, &b.clone());
            Ok(())
        })
        .await
    }

    /// Clear the bits at `offs` (a release).
    pub(super) async fn clear(&self, storage: &dyn Storage, offs: &[usize]) -> ApiResult<()> {
        self.modify(storage, |_, b| {
            for o in offs {
                b.clear(*o);
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{np_svc, store, svc};
    use super::super::ServiceAllocators;
    use serde_json::json;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[tokio::test]
    async fn thousand_concurrent_allocations_are_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Arc::new(ServiceAllocators::new(store(&dir), "10.1.0.0/16", "30000-32767").expect("alloc"));
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = np_svc(&format!("s{i}"));
                a.allocate_create(&mut s, false).await.map(|_| s)
            }));
        }
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        for t in tasks {
            let s = t.await.expect("join").expect("allocate");
            assert!(ips.insert(s["spec"]["clusterIP"].as_str().expect("ip").to_string()));
            assert!(ports.insert(s["spec"]["ports"][0]["nodePort"].as_i64().expect("np")));
        }
        assert_eq!(ips.len(), 1000);
        assert_eq!(a.allocated_ips("IPv4").await.expect("ips").len(), 1000);
        assert_eq!(a.allocated_node_ports().await.expect("ports").len(), 1000);
    }

    #[tokio::test]
    async fn two_servers_on_one_storage_never_share_an_ip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = store(&dir);
        // A /24 with a full upper band forces both servers onto the same few addresses.
        let a = Arc::new(ServiceAllocators::new(st.clone(), "10.2.0.0/24", "30000-30300").expect("a"));
        let b = Arc::new(ServiceAllocators::new(st.clone(), "10.2.0.0/24", "30000-30300").expect("b"));
        let mut tasks = Vec::new();
        for i in 0..250 {
            let x = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut s = np_svc(&format!("s{i}"));
                x.allocate_create(&mut s, false).await.map(|_| s)
            }));
        }
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        let mut full = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(s) => {
                    assert!(ips.insert(s["spec"]["clusterIP"].as_str().expect("ip").to_string()));
                    assert!(ports.insert(s["spec"]["ports"][0]["nodePort"].as_i64().expect("np")));
                }
                Err(e) => {
                    assert_eq!(
                        e.message,
                        "Internal error occurred: failed to allocate a serviceIP: range is full"
                    );
                    full += 1;
                }
            }
        }
        // 253 allocatable addresses (.1 reserved): all 250 fit.
        assert_eq!((ips.len(), full), (250, 0));
        assert_eq!(b.allocated_ips("IPv4").await.expect("ips").len(), 250);
        // Releases by one server are seen by the other.
        let mut s = svc("r", json!({"clusterIP": "10.2.0.1", "ports": [{"port": 80}]}));
        a.allocate_create(&mut s, false).await.expect("a takes .1");
        let mut t = svc("r2", json!({"clusterIP": "10.2.0.1", "ports": [{"port": 80}]}));
        assert!(b.allocate_create(&mut t, false).await.is_err());
        b.release_for(&s).await;
        a.allocate_create(&mut t, false)
            .await
            .expect("a retakes .1 after b released it");
    }
}
