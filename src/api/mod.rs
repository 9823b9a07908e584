//! The resource table: every built-in resource as one row of data. Routing, discovery, the
//! generic registry and (later) RBAC and OpenAPI all read these rows; CRDs will add rows at run
//! time. Per-kind behaviour (defaults, validation, table columns, field selectors) lives in
//! `strategy`, `table` and `fields`, keyed by group and kind.

pub mod convert;
pub mod field;
pub mod fields;
pub mod groups;
pub mod meta;
pub mod schema;
pub mod strategy;
pub mod table;
pub mod validation;

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

/// How a row (or subresource) is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// By the generic registry over storage.
    Stored,
    /// Listed in discovery but answered with 501 until the named issue builds it.
    NotYet(&'static str),
    /// By `src/proxy`: kubelet/pod/service proxying, logs, exec/attach/portforward, binding, eviction.
    Connect,
    /// Not stored: answered by access control (`crate::auth::review`) — the review APIs and
    /// `serviceaccounts/token`.
    Review,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

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
    served: Served::Stored,
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
    served: Served::Stored,
};

/// All built-in rows, in discovery order (core first, then groups in upstream's priority order).
pub fn builtin() -> &'static [ResourceDef] {
    groups::all()
}
