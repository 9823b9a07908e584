//! A bounded map whose entries expire: the webhook authenticator's and authorizer's response
//! caches (upstream's LRU expiring caches). Full: expired entries go first, then any entry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<V> {
    entries: Mutex<HashMap<String, (Instant, V)>>,
    capacity: usize,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(capacity: usize) -> TtlCache<V> {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live value under `key`.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut m = self.lock();
        match m.get(key) {
            Some((until, v)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keep `v` for `ttl` (a zero TTL caches nothing).
    pub fn insert(&self, key: String, v: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut m = self.lock();
        if m.len() >= self.capacity && !m.contains_key(&key) {
            m.retain(|_, (until, _)| *until > now);
            if m.len() >= self.capacity {
                // Half the entries go at once, so a full cache of live entries is swept
                // once per capacity/2 inserts, not on every insert.
                let drop: Vec<String> = m.keys().take(self.capacity / 2 + 1).cloned().collect();
                for k in drop {
                    m.remove(&k);
                }
            }
        }
        m.insert(key, (now + ttl, v));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_stays_bounded() {
        let c = TtlCache::new(4);
        c.insert("a".into(), 1, Duration::from_secs(60));
        c.insert("z".into(), 0, Duration::ZERO);
        assert_eq!((c.get("a"), c.get("z")), (Some(1), None));
        c.insert("b".into(), 2, Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(c.get("b"), None, "expired");
        for i in 0..100 {
            c.insert(format!("k{i}"), i, Duration::from_secs(60));
            assert!(c.len() <= 4);
        }
        assert_eq!(c.get("k99"), Some(99), "the newest entry is kept");
    }
}
