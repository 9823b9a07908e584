//! Reads for admission and authentication that upstream serves from informer listers: the
//! watch cache first, storage only when the cache has nothing (an object created a moment ago),
//! so a write does not wait for an etcd round trip per plugin.

use super::options::ListOptions;
use super::store::Registry;
use crate::api::ResourceDef;
use crate::error::ApiResult;
use crate::storage::cache::CachedObject;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upstream's admission `liveTTL`: a live lookup's answer is reused this long.
const LIVE_TTL: Duration = Duration::from_secs(30);
/// Bound on remembered lookups (upstream's LRUs hold 100–10,000); full means start over.
const MAX_REMEMBERED: usize = 4096;

/// Key prefixes whose consistent list found nothing, and when.
#[derive(Default)]
pub struct EmptyLookups(Mutex<HashMap<String, Instant>>);

impl EmptyLookups {
    fn recent(&self, prefix: &str) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(prefix).is_some_and(|t| t.elapsed() < LIVE_TTL)
    }

    /// An object was created under `prefix` through this server: the next lookup reads storage
    /// unless the cache already shows it (the cache may lag the create by a moment).
    pub(super) fn forget(&self, prefix: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(prefix);
    }

    fn note(&self, prefix: String) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_REMEMBERED {
            map.retain(|_, t| t.elapsed() < LIVE_TTL);
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
        map.insert(prefix, Instant::now());
    }
}

impl Registry {
    /// One object from the watch cache, or from storage when the cache has not got it (yet),
    /// as upstream's listers with a live fallback (admission plugins, the token getter).
    pub async fn get_cached_or_live(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Arc<CachedObject>> {
        match self.get(def, ns, name, Some(0)).await {
            Err(e) if e.code == 404 => self.get(def, ns, name, None).await,
            found => found,
        }
    }

    /// The objects as the watch cache holds them now (upstream's listers).
    pub async fn list_cached(&self, def: &ResourceDef, ns: Option<&str>) -> ApiResult<Vec<Arc<CachedObject>>> {
        let opts = ListOptions {
            resource_version: Some("0".into()),
            ..ListOptions::default()
        };
        Ok(self.list(def, ns, &opts).await?.items)
    }

    /// [`Registry::list_cached`]; when the cache has none, a consistent read, whose empty answer
    /// is reused for [`LIVE_TTL`] (upstream's LimitRanger and ResourceQuota live lookups): a
    /// namespace without LimitRanges does not cost every pod create an etcd round trip.
    pub async fn list_cached_or_live(&self, def: &ResourceDef, ns: Option<&str>) -> ApiResult<Vec<Arc<CachedObject>>> {
        let cached = self.list_cached(def, ns).await?;
        let prefix = self.key_prefix(def, ns);
        if !cached.is_empty() || self.empty_lookups.recent(&prefix) {
            return Ok(cached);
        }
        let live = self.list(def, ns, &ListOptions::default()).await?.items;
        if live.is_empty() {
            self.empty_lookups.note(prefix);
        }
        Ok(live)
    }
}
