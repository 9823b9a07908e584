//! Point-in-time views of a cache, for paged lists. The objects live in a persistent ordered
//! map, so a view is an O(1) clone that later writes leave untouched, and a page is read from
//! it in place in O(log n + page). A view handed out in a continue token is retained for a
//! while, so the next page resumes in the same view instead of copying or re-reading the
//! collection; a token whose view is gone is served from storage as before.

use super::CachedObject;
use imbl::{HashMap as SharedMap, OrdMap, OrdSet};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a view handed out in a continue token stays resumable (upstream's watch cache
/// keeps its snapshots for its 75 s event window); later pages come from storage.
const KEEP_FOR: Duration = Duration::from_secs(75);
/// Views retained per cache at most (the oldest goes first).
const MAX_VIEWS: usize = 16;
/// Page ends remembered per view (for remainingItemCount in O(1)); past that, counted.
const MAX_CURSORS: usize = 4096;

/// The field a cache indexes (one per cache: what real clients select on, e.g. every kubelet's
/// pods by `spec.nodeName`); its value is among those each object keeps ([`super::Attrs`]).
#[derive(Clone)]
pub struct Index {
    pub field: &'static str,
}

impl Index {
    /// Unset fields match as "" (upstream's `fields.Set.Get`), so they index as "".
    pub fn value_of<'a>(&self, obj: &'a CachedObject) -> Option<&'a str> {
        Some(obj.attrs.field(self.field).unwrap_or_default())
    }
}

/// A cache's objects by key, plus live counts per namespace and the keys by the indexed
/// field's value; cloning is O(1).
#[derive(Clone, Default)]
pub struct Contents {
    objects: OrdMap<String, Arc<CachedObject>>,
    /// Live objects per namespace (keys `<root><namespace>/<name>`): a namespace list's
    /// remainingItemCount without counting.
    namespaces: SharedMap<String, usize>,
    /// The indexed field and its keys by value.
    index: Option<(&'static str, SharedMap<String, OrdSet<String>>)>,
}

/// The namespace of `key` under `root`, for namespaced keys (`<root><ns>/<name>`).
fn namespace_of<'a>(root: &str, key: &'a str) -> Option<&'a str> {
    let (ns, name) = key.strip_prefix(root)?.split_once('/')?;
    (!name.is_empty() && !name.contains('/')).then_some(ns)
}

/// The keys under `key_prefix`, strictly after `start_after` when given.
fn key_range(key_prefix: &str, start_after: Option<&str>) -> (Bound<String>, Bound<String>) {
    let lower = match start_after {
        Some(k) if k >= key_prefix => Bound::Excluded(k.to_string()),
        _ => Bound::Included(key_prefix.to_string()),
    };
    let upper = crate::util::keys::prefix_end_str(key_prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (lower, upper)
}

impl Contents {
    pub fn new(
        root: &str,
        index: Option<&Index>,
        objects: impl IntoIterator<Item = (String, Arc<CachedObject>)>,
    ) -> Contents {
        let mut c = Contents {
            index: index.map(|ix| (ix.field, SharedMap::new())),
            ..Contents::default()
        };
        for (k, o) in objects {
            c.insert(root, index, k, o);
        }
        c
    }

    /// The same objects, indexed by `index` (O(n), once per cache).
    pub fn reindexed(&self, root: &str, index: &Index) -> Contents {
        let objects = self.objects.iter().map(|(k, o)| (k.clone(), o.clone()));
        Contents::new(root, Some(index), objects)
    }

    pub fn insert(
        &mut self,
        root: &str,
        index: Option<&Index>,
        key: String,
        obj: Arc<CachedObject>,
    ) -> Option<Arc<CachedObject>> {
        let ns = namespace_of(root, &key).map(str::to_string);
        let value = index.and_then(|ix| ix.value_of(&obj)).map(str::to_string);
        let prev = self.objects.insert(key.clone(), obj);
        if let (None, Some(ns)) = (&prev, ns) {
            *self.namespaces.entry(ns).or_insert(0) += 1;
        }
        let old = index.zip(prev.as_ref()).and_then(|(ix, p)| ix.value_of(p));
        if old != value.as_deref() {
            self.unindex(old, &key);
            if let (Some(v), Some((_, by))) = (value, self.index.as_mut()) {
                by.entry(v).or_default().insert(key);
            }
        }
        prev
    }

    pub fn remove(&mut self, root: &str, index: Option<&Index>, key: &str) -> Option<Arc<CachedObject>> {
        let prev = self.objects.remove(key);
        if let (Some(_), Some(ns)) = (&prev, namespace_of(root, key)) {
            match self.namespaces.get_mut(ns) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    self.namespaces.remove(ns);
                }
            }
        }
        let old = index.zip(prev.as_ref()).and_then(|(ix, p)| ix.value_of(p));
        self.unindex(old, key);
        prev
    }

    fn unindex(&mut self, value: Option<&str>, key: &str) {
        let (Some(v), Some((_, by))) = (value, self.index.as_mut()) else {
            return;
        };
        if let Some(keys) = by.get_mut(v) {
            keys.remove(key);
            if keys.is_empty() {
                by.remove(v);
            }
        }
    }

    /// Objects under `key_prefix` whose indexed `field` is `value`, strictly after
    /// `start_after`, in key order: O(log n + matches). None when `field` is not indexed.
    pub fn indexed<'a>(
        &'a self,
        field: &str,
        value: &str,
        key_prefix: &'a str,
        start_after: Option<&str>,
    ) -> Option<impl Iterator<Item = &'a Arc<CachedObject>> + 'a> {
        let (f, by) = self.index.as_ref()?;
        if *f != field {
            return None;
        }
        let keys = by.get(value);
        let (lower, upper) = key_range(key_prefix, start_after);
        let objects = &self.objects;
        Some(
            keys.into_iter()
                .flat_map(move |ks| ks.range((lower.clone(), upper.clone())))
                .take_while(move |k| k.starts_with(key_prefix))
                .filter_map(move |k| objects.get(k)),
        )
    }

    pub fn get(&self, key: &str) -> Option<&Arc<CachedObject>> {
        self.objects.get(key)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Objects under `key_prefix`, strictly after `start_after` when given, in key order.
    pub fn range<'a>(
        &'a self,
        key_prefix: &'a str,
        start_after: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<CachedObject>> + 'a {
        self.objects
            .range(key_range(key_prefix, start_after))
            .take_while(move |(k, _)| k.starts_with(key_prefix))
            .map(|(_, v)| v)
    }

    /// How many objects are under `key_prefix`: O(1) for the whole cache or one namespace.
    pub fn count(&self, root: &str, key_prefix: &str) -> usize {
        if key_prefix == root {
            return self.objects.len();
        }
        match key_prefix.strip_prefix(root).and_then(|r| r.strip_suffix('/')) {
            Some(ns) if !ns.is_empty() && !ns.contains('/') => self.namespaces.get(ns).copied().unwrap_or(0),
            _ => self.range(key_prefix, None).count(),
        }
    }
}

/// A cache's objects at one revision (read them through [`Contents`]).
#[derive(Clone)]
pub struct View {
    pub revision: i64,
    root: Arc<str>,
    contents: Contents,
}

impl View {
    pub(super) fn new(revision: i64, root: Arc<str>, contents: Contents) -> View {
        View {
            revision,
            root,
            contents,
        }
    }

    /// How many objects are under `key_prefix` (O(1) for the resource or one namespace).
    pub fn count(&self, key_prefix: &str) -> usize {
        self.contents.count(&self.root, key_prefix)
    }
}

impl std::ops::Deref for View {
    type Target = Contents;
    fn deref(&self) -> &Contents {
        &self.contents
    }
}

struct Held {
    view: View,
    since: Instant,
    /// `<prefix>\0<last key of a page>` -> keys under the prefix up to and including it.
    cursors: HashMap<String, usize>,
}

fn cursor(key_prefix: &str, last_key: &str) -> String {
    format!("{key_prefix}\0{last_key}")
}

/// The views handed out in continue tokens, by revision (bounded in number and age).
#[derive(Default)]
pub struct Retained {
    views: Mutex<BTreeMap<i64, Held>>,
}

impl Retained {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Held>> {
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        views.retain(|_, h| now.duration_since(h.since) < KEEP_FOR);
        views
    }

    /// Keep `view` resumable; a page of `key_prefix` ended at `last_key`, after `consumed`
    /// keys under the prefix (None: not known).
    pub fn keep(&self, view: &View, key_prefix: &str, last_key: &str, consumed: Option<usize>) {
        let mut views = self.lock();
        if !views.contains_key(&view.revision) && views.len() >= MAX_VIEWS {
            if let Some(&oldest) = views.keys().next() {
                views.remove(&oldest);
            }
        }
        let held = views.entry(view.revision).or_insert_with(|| Held {
            view: view.clone(),
            since: Instant::now(),
            cursors: HashMap::new(),
        });
        if let Some(n) = consumed {
            if held.cursors.len() >= MAX_CURSORS {
                held.cursors.clear();
            }
            held.cursors.insert(cursor(key_prefix, last_key), n);
        }
    }

    /// The view at `revision`, if still retained.
    pub fn get(&self, revision: i64) -> Option<View> {
        self.lock().get(&revision).map(|h| h.view.clone())
    }

    /// Keys under `key_prefix` up to and including `last_key`, if a page handed out ended there.
    pub fn consumed(&self, revision: i64, key_prefix: &str, last_key: &str) -> Option<usize> {
        self.lock()
            .get(&revision)
            .and_then(|h| h.cursors.get(&cursor(key_prefix, last_key)).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/registry/pods/";

    const BY_NODE: super::super::Selectable = super::super::Selectable {
        fields: &["spec.nodeName"],
        read: |v, _| v["spec"]["nodeName"].as_str().map(str::to_string),
        indexed: Some("spec.nodeName"),
    };

    fn pod(ns: &str, name: &str, node: &str) -> (String, Arc<CachedObject>) {
        let key = format!("{ROOT}{ns}/{name}");
        let v = serde_json::json!({"metadata": {"name": name, "namespace": ns}, "spec": {"nodeName": node}});
        let o = CachedObject::decode_with(&key, v.to_string().as_bytes(), 1, Some(&BY_NODE)).expect("decodes");
        (key, o)
    }

    fn by_node() -> Index {
        Index { field: "spec.nodeName" }
    }

    fn keys<'a>(it: impl Iterator<Item = &'a Arc<CachedObject>>) -> Vec<String> {
        it.map(|o| o.key.trim_start_matches(ROOT).to_string()).collect()
    }

    /// Counts per namespace and the node index follow creates, moves and deletes, and a view
    /// taken before a change keeps seeing the objects as they were.
    #[test]
    fn counts_and_index_follow_changes_and_views_stay_put() {
        let ix = by_node();
        let mut c = Contents::new(
            ROOT,
            Some(&ix),
            [pod("a", "p1", "n1"), pod("a", "p2", "n2"), pod("b", "p3", "n1")],
        );
        assert_eq!((c.count(ROOT, ROOT), c.count(ROOT, "/registry/pods/a/")), (3, 2));
        assert_eq!(c.count(ROOT, "/registry/pods/zz/"), 0);
        let before = View::new(1, Arc::from(ROOT), c.clone());

        let (k, o) = pod("a", "p2", "n1");
        c.insert(ROOT, Some(&ix), k, o);
        c.remove(ROOT, Some(&ix), "/registry/pods/b/p3");
        let (k, o) = pod("c", "p4", "n2");
        c.insert(ROOT, Some(&ix), k, o);
        assert_eq!(c.count(ROOT, ROOT), 3);
        assert_eq!(c.count(ROOT, "/registry/pods/b/"), 0);
        let n1 = keys(c.indexed("spec.nodeName", "n1", ROOT, None).expect("indexed"));
        assert_eq!(n1, ["a/p1", "a/p2"]);
        let n2 = keys(c.indexed("spec.nodeName", "n2", ROOT, None).expect("indexed"));
        assert_eq!(n2, ["c/p4"]);
        // Resuming after a key, and within one namespace.
        let after = keys(
            c.indexed("spec.nodeName", "n1", ROOT, Some("/registry/pods/a/p1"))
                .unwrap(),
        );
        assert_eq!(after, ["a/p2"]);
        assert!(keys(c.indexed("spec.nodeName", "n2", "/registry/pods/a/", None).unwrap()).is_empty());
        assert!(c.indexed("status.phase", "x", ROOT, None).is_none(), "not indexed");

        // The view still has the old state, by key and by index.
        assert_eq!(keys(before.range(ROOT, None)), ["a/p1", "a/p2", "b/p3"]);
        assert_eq!(before.count("/registry/pods/b/"), 1);
        let old_n1 = keys(before.indexed("spec.nodeName", "n1", ROOT, None).unwrap());
        assert_eq!(old_n1, ["a/p1", "b/p3"]);
    }

    #[test]
    fn retained_views_remember_where_pages_ended() {
        let r = Retained::default();
        let v = View::new(7, Arc::from(ROOT), Contents::new(ROOT, None, [pod("a", "p1", "")]));
        r.keep(&v, ROOT, "/registry/pods/a/p1", Some(1));
        assert_eq!(r.get(7).map(|v| v.revision), Some(7));
        assert_eq!(r.consumed(7, ROOT, "/registry/pods/a/p1"), Some(1));
        assert_eq!(r.consumed(7, "/registry/pods/a/", "/registry/pods/a/p1"), None);
        assert!(r.get(8).is_none());
        for rev in 100..100 + MAX_VIEWS as i64 {
            r.keep(&View::new(rev, Arc::from(ROOT), Contents::default()), ROOT, "k", None);
        }
        assert!(r.get(7).is_none(), "the oldest view goes first");
        assert!(r.get(100).is_some());
    }
}
