//! A bounded least-recently-used map (upstream's `k8s.io/utils/lru` and
//! `LRUExpireCache`, for EventRateLimit's buckets and ImagePolicyWebhook's decisions).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

#[derive(Debug)]
pub struct Lru<V> {
    cap: usize,
    tick: u64,
    items: HashMap<String, (V, u64)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, String>,
}

impl<V> Lru<V> {
    pub fn new(cap: usize) -> Lru<V> {
        Lru {
            cap: cap.max(1),
            tick: 0,
            items: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn touch(&mut self, key: &str) -> u64 {
        self.tick += 1;
        let tick = self.tick;
        if let Some(entry) = self.items.get_mut(key) {
            self.order.remove(&entry.1);
            entry.1 = tick;
            self.order.insert(tick, key.to_string());
        }
        tick
    }

    /// The value of `key`, marked most recently used.
    pub fn get(&mut self, key: &str) -> Option<&mut V> {
        self.touch(key);
        self.items.get_mut(key).map(|e| &mut e.0)
    }

    /// Make room for a new key and record it as the most recently used.
    fn admit(&mut self, key: &str) {
        if self.items.len() >= self.cap {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.items.remove(&oldest);
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.to_string());
    }

    /// Set `key` (most recently used), evicting the least recently used entry when full.
    pub fn insert(&mut self, key: &str, v: V) {
        if self.items.contains_key(key) {
            self.touch(key);
            if let Some(e) = self.items.get_mut(key) {
                e.0 = v;
            }
        } else {
            self.admit(key);
            self.items.insert(key.to_string(), (v, self.tick));
        }
    }

    /// The value of `key`, inserting `fresh()` when absent; most recently used either way.
    pub fn get_or_insert_with(&mut self, key: &str, fresh: impl FnOnce() -> V) -> &mut V {
        if self.items.contains_key(key) {
            self.touch(key);
        } else {
            self.admit(key);
        }
        let tick = self.tick;
        &mut self.items.entry(key.to_string()).or_insert_with(|| (fresh(), tick)).0
    }

    pub fn remove(&mut self, key: &str) {
        if let Some((_, t)) = self.items.remove(key) {
            self.order.remove(&t);
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.items.contains_key(key)
    }
}

/// Entries that expire: `get` drops an expired one.
pub type ExpiringLru<V> = Lru<(V, Instant)>;

/// The live value of `key` at `now`.
pub fn get_live<V: Clone>(lru: &mut ExpiringLru<V>, key: &str, now: Instant) -> Option<V> {
    let live = lru.get(key).map(|(v, until)| (*until > now).then(|| v.clone()));
    match live {
        Some(Some(v)) => Some(v),
        Some(None) => {
            lru.remove(key);
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut l = Lru::new(2);
        l.insert("a", 1);
        l.insert("b", 2);
        assert_eq!(l.get("a").copied(), Some(1)); // a is now newer than b
        l.insert("c", 3); // evicts b
        assert!(l.contains("a") && l.contains("c") && !l.contains("b"));
        *l.get_or_insert_with("a", || 0) += 10;
        assert_eq!(l.get("a").copied(), Some(11));
        assert_eq!(*l.get_or_insert_with("d", || 4), 4); // evicts c
        assert!(!l.contains("c"));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn expiring_entries() {
        let now = Instant::now();
        let mut l: ExpiringLru<&str> = Lru::new(4);
        l.insert("k", ("v", now + Duration::from_secs(1)));
        assert_eq!(get_live(&mut l, "k", now), Some("v"));
        assert_eq!(get_live(&mut l, "k", now + Duration::from_secs(2)), None);
        assert!(l.is_empty());
    }
}
