//! The resource table: every built-in resource as one row of data, carrying everything per
//! kind — names, scope, verbs, subresources, storage key, how it is served, and its
//! [`Strategy`] (defaults, validation, storage conversion, Table columns, field selectors).
//! Routing, discovery, OpenAPI, RBAC, the generic registry and the encoders read the rows;
//! CRDs add rows at run time (`crate::apiext`). Adding a built-in kind is one row in
//! `groups/<group>.rs` (plus, when it has rules, their functions in `strategy/<group>.rs`).

pub mod convert;
pub mod enablement;
pub mod fields;
pub mod groups;
pub mod meta;
pub mod podrefs;
pub mod scale;
pub mod schema;
pub mod selector;
pub mod strategy;
pub mod table;
pub mod typed;
pub mod validation;

pub use strategy::{Builtin, Expiry, StatusWrite, Strategy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// Every verb a normal stored resource answers.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces: no deletecollection.
pub const NO_COLLECTION_DELETE: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
/// Review-style virtual resources.
pub const CREATE_ONLY: &[&str] = &["create"];
/// `status` subresources.
pub const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// How a row (or subresource) is served: the dispatcher switches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// By the REST handlers over the generic registry: CRUD, watch, `status`, `scale`,
    /// `finalize`, `approval`.
    Store,
    /// A pod write with its own semantics (`crate::registry::pods`, upstream's dedicated REST
    /// storages).
    Pod(PodWrite),
    /// A stream to the kubelet (`pods/log|exec|attach|portforward`): `crate::proxy`, after
    /// CONNECT admission.
    Connect,
    /// Proxied to a node, pod or service with the body streamed (`*/proxy`): `crate::proxy`.
    Proxy,
    /// Not stored: answered by access control (`crate::auth::review`) — the review APIs and
    /// `serviceaccounts/token`.
    Review,
    /// Not stored: computed from health probes of the control plane at each read
    /// (`componentstatuses`, deprecated; `crate::server` answers it).
    Probed,
    /// Listed in discovery but answered with 501 until the named issue builds it.
    NotYet(&'static str),
}

/// The pod writes beside the generic store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodWrite {
    /// `pods/binding` and the legacy `bindings` resource: the scheduler sets `spec.nodeName`.
    Binding,
    /// `pods/eviction`: a delete guarded by PodDisruptionBudgets.
    Eviction,
    /// `pods/ephemeralcontainers`: `kubectl debug`.
    EphemeralContainers,
}

/// The name rule upstream applies to `metadata.name` of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services).
    Rfc1035Label,
    /// Path segment: not `.`/`..`, no `/` or `%` (RBAC, some others).
    PathSegment,
    /// A ConfigMap key (LeaseCandidates: `ValidLeaseCandidateName`).
    ConfigMapKey,
    /// `<group>.<resource>` (StorageVersions: `ValidateStorageVersionName`).
    GroupResource,
}

/// Group/version/kind of a response (subresources answer with other kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gvk {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubresourceDef {
    pub name: &'static str,
    /// None: the parent's kind.
    pub response: Option<Gvk>,
    pub verbs: &'static [&'static str],
    pub served: Served,
}

#[derive(Clone, Copy)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub scope: Scope,
    pub verbs: &'static [&'static str],
    pub subresources: &'static [SubresourceDef],
    /// Key segment under the storage prefix, as upstream lays out etcd
    /// (`services/specs`, `minions`, `deployments`…). Rows sharing it share data.
    pub storage: &'static str,
    pub served: Served,
    pub name_rule: NameRule,
    /// Upstream bumps `metadata.generation` on spec changes for this kind.
    pub generation: bool,
    /// Everything else the kind does differently.
    pub strategy: &'static dyn Strategy,
    /// Whether a default server serves the row, and what turns it on otherwise.
    pub availability: Availability,
}

/// Upstream's API enablement for a row: its group/version on or off by default
/// (`DefaultAPIResourceConfigSource`; `--runtime-config` overrides), and the feature gate the
/// resource also needs (an alpha API is served only with both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub on_by_default: bool,
    pub gate: Option<&'static str>,
}

impl Availability {
    /// Served by default (every GA group/version, and the beta ones upstream enables).
    pub const ON: Availability = Availability {
        on_by_default: true,
        gate: None,
    };

    /// Served only when `--runtime-config` enables the group/version (or the resource) and
    /// `gate` (if any) is on (`api::enablement`). Give a gate only where upstream's REST
    /// storage checks one (ClusterTrustBundle does; MutatingAdmissionPolicy's storage is
    /// served in 1.33 whenever its version is enabled, gate or not); it must be in
    /// `config::features::HONOURED`.
    pub const fn off_by_default(gate: Option<&'static str>) -> Availability {
        Availability {
            on_by_default: false,
            gate,
        }
    }
}

impl std::fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResourceDef({}/{} {})", self.group, self.version, self.plural)
    }
}

/// Rows are equal when they describe the same resource with the same behaviour.
impl PartialEq for ResourceDef {
    fn eq(&self, o: &ResourceDef) -> bool {
        (self.group, self.version, self.kind, self.plural, self.singular)
            == (o.group, o.version, o.kind, o.plural, o.singular)
            && (self.short_names, self.categories, self.scope, self.verbs)
                == (o.short_names, o.categories, o.scope, o.verbs)
            && (
                self.subresources,
                self.storage,
                self.served,
                self.name_rule,
                self.generation,
            ) == (o.subresources, o.storage, o.served, o.name_rule, o.generation)
            && self.availability == o.availability
            && std::ptr::addr_eq(self.strategy, o.strategy)
    }
}

impl Eq for ResourceDef {}

impl ResourceDef {
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn subresource(&self, name: &str) -> Option<&'static SubresourceDef> {
        self.subresources.iter().find(|s| s.name == name)
    }
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s.name == "status")
    }
}

/// `status` subresource with the parent's kind.
pub const STATUS: SubresourceDef = SubresourceDef {
    name: "status",
    response: None,
    verbs: STATUS_VERBS,
    served: Served::Store,
};

/// `scale` subresource answering autoscaling/v1 Scale.
pub const SCALE: SubresourceDef = SubresourceDef {
    name: "scale",
    response: Some(Gvk {
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
    }),
    verbs: STATUS_VERBS,
    served: Served::Store,
};

/// All built-in rows, in discovery order (core first, then groups in upstream's priority order).
pub fn builtin() -> &'static [ResourceDef] {
    groups::all()
}

/// The built-in row of `group`'s resource `plural`, in the group's preferred version (the
/// first row in table order).
pub fn builtin_row(group: &str, plural: &str) -> Option<&'static ResourceDef> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static INDEX: OnceLock<HashMap<(&'static str, &'static str), &'static ResourceDef>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for r in builtin() {
            m.entry((r.group, r.plural)).or_insert(r);
        }
        m
    });
    index.get(&(group, plural)).copied()
}
