//! The resource index: every row served now — the built-ins plus the custom rows the CRD
//! controller installs — looked up by group, version and plural. Listeners (discovery and
//! OpenAPI, wired by the server) are told synchronously when the served rows change, so a CRD
//! is in discovery by the time it reports `Established`.

use crate::api::ResourceDef;
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

type Key = (String, String, String);
/// (group, version, kind) → the rows serving that kind (upstream's RESTMapper direction).
type KindIndex = HashMap<(String, String, String), Vec<&'static ResourceDef>>;
/// Told the served rows, and whether the set of rows changed (schemas may change under the
/// same rows).
type Listener = Box<dyn Fn(&[ResourceDef], bool) + Send + Sync>;

pub struct Resources {
    /// The built-in rows this server serves (`--runtime-config`, feature gates), fixed at start.
    builtin: Vec<&'static ResourceDef>,
    index: RwLock<HashMap<Key, &'static ResourceDef>>,
    kinds: RwLock<KindIndex>,
    /// The custom rows, in the order the CRD controller gave them.
    custom: RwLock<Vec<&'static ResourceDef>>,
    listeners: Mutex<Vec<Listener>>,
}

fn key(r: &ResourceDef) -> Key {
    (r.group.to_string(), r.version.to_string(), r.plural.to_string())
}

fn builtin_index(builtin: &[&'static ResourceDef]) -> HashMap<Key, &'static ResourceDef> {
    builtin.iter().map(|r| (key(r), *r)).collect()
}

fn kind_index<'a>(rows: impl Iterator<Item = &'a &'static ResourceDef>) -> KindIndex {
    let mut out = KindIndex::new();
    for r in rows {
        out.entry((r.group.to_string(), r.version.to_string(), r.kind.to_string()))
            .or_default()
            .push(*r);
    }
    for v in out.values_mut() {
        v.sort_by_key(|r| r.plural);
    }
    out
}

impl Resources {
    /// The built-in rows a default server serves.
    pub fn builtin() -> Resources {
        Resources::serving(crate::api::enablement::default_rows().to_vec())
    }

    /// These built-in rows (`api::enablement::served_rows`).
    pub fn serving(builtin: Vec<&'static ResourceDef>) -> Resources {
        let index = builtin_index(&builtin);
        Resources {
            builtin,
            kinds: RwLock::new(kind_index(index.values())),
            index: RwLock::new(index),
            custom: RwLock::new(Vec::new()),
            listeners: Mutex::new(Vec::new()),
        }
    }

    /// The row serving `group/version` `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .copied()
    }

    /// The rows serving `kind` of `group/version` (one per resource serving the kind).
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Vec<&'static ResourceDef> {
        self.kinds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The built-in rows served, in table order.
    pub fn builtin_rows(&self) -> &[&'static ResourceDef] {
        &self.builtin
    }

    /// Every served row: built-ins first, then custom rows.
    pub fn all(&self) -> Vec<ResourceDef> {
        let mut all: Vec<ResourceDef> = self.builtin.iter().map(|r| **r).collect();
        all.extend(
            self.custom
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|r| **r),
        );
        all
    }

    /// Call `f` with every served row whenever they may have changed.
    pub fn on_change(&self, f: impl Fn(&[ResourceDef], bool) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// Serve these custom rows (CRD versions, in discovery order) next to the built-ins, and
    /// tell the listeners.
    pub fn set_custom_rows(&self, custom: &[&'static ResourceDef]) {
        let mut index = builtin_index(&self.builtin);
        for r in custom {
            index.insert(key(r), *r);
        }
        let mut idx = self.index.write().unwrap_or_else(|e| e.into_inner());
        let changed = idx.len() != index.len()
            || index
                .iter()
                .any(|(k, v)| idx.get(k).is_none_or(|o| !std::ptr::eq(*o, *v)));
        if changed {
            *self.kinds.write().unwrap_or_else(|e| e.into_inner()) = kind_index(index.values());
            *idx = index;
            *self.custom.write().unwrap_or_else(|e| e.into_inner()) = custom.to_vec();
        }
        drop(idx);
        let all = self.all();
        for l in self.listeners.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            l(&all, changed);
        }
    }
}
