//! The Node authorizer (upstream plugin/pkg/auth/authorizer/node): kubelets (`system:node:<name>`
//! in `system:nodes`) may read only what the pods bound to them reference. The graph is an index
//! of pods by `spec.nodeName` with the secrets, configmaps, PVCs and service accounts each pod
//! references, plus PVC → PV bindings, fed by registry watches.

use super::informer::{key_of, Change};
use super::rules::Rule;
use super::Attributes;
use crate::api::podrefs::name_at;
use crate::request::UserInfo;
use crate::util::json::JsonExt;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Pod,
    Secret,
    ConfigMap,
    Pvc,
    ServiceAccount,
    /// Kinds the graph does not track (VolumeAttachments, ResourceClaims, ResourceSlices).
    Unindexed,
}

#[derive(Default)]
struct Graph {
    /// pod key → (node, referenced objects as (kind, "ns/name")).
    pods: HashMap<String, (String, Vec<(Kind, String)>)>,
    /// (kind, "ns/name") → node → number of pods on that node referencing it.
    edges: HashMap<(Kind, String), HashMap<String, usize>>,
    /// PVC key → bound PV name; PV name → PVC keys.
    pvc_volume: HashMap<String, String>,
    pv_claims: HashMap<String, BTreeSet<String>>,
}

pub struct NodeAuthorizer {
    graph: RwLock<Graph>,
    rules: Vec<Rule>,
}

/// Which watch feeds the graph.
#[derive(Clone, Copy)]
pub enum Feed {
    Pods,
    Pvcs,
}

/// Everything a pod references that its kubelet needs to read.
fn pod_refs(pod: &Value) -> Vec<(Kind, String)> {
    use crate::api::podrefs;
    let ns = pod.str_at("/metadata/namespace");
    let key = |n: &str| format!("{ns}/{n}");
    let mut out = vec![(
        Kind::ServiceAccount,
        key(name_at(pod, "/spec/serviceAccountName").unwrap_or("default")),
    )];
    out.extend(podrefs::secret_names(pod).into_iter().map(|n| (Kind::Secret, key(n))));
    out.extend(
        podrefs::configmap_names(pod)
            .into_iter()
            .map(|n| (Kind::ConfigMap, key(n))),
    );
    out.extend(podrefs::pvc_names(pod).iter().map(|n| (Kind::Pvc, key(n))));
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup();
    out
}

impl Graph {
    fn remove_pod(&mut self, key: &str) {
        let Some((node, refs)) = self.pods.remove(key) else {
            return;
        };
        for r in refs.into_iter().chain(std::iter::once((Kind::Pod, key.to_string()))) {
            if let Some(nodes) = self.edges.get_mut(&r) {
                if let Some(n) = nodes.get_mut(&node) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        nodes.remove(&node);
                    }
                }
                if nodes.is_empty() {
                    self.edges.remove(&r);
                }
            }
        }
    }

    fn add_pod(&mut self, pod: &Value) {
        let key = key_of(pod);
        self.remove_pod(&key);
        let Some(node) = name_at(pod, "/spec/nodeName") else {
            return;
        };
        let refs = pod_refs(pod);
        for r in refs.iter().cloned().chain(std::iter::once((Kind::Pod, key.clone()))) {
            *self.edges.entry(r).or_default().entry(node.to_string()).or_default() += 1;
        }
        self.pods.insert(key, (node.to_string(), refs));
    }

    fn set_pvc(&mut self, key: String, volume: Option<String>) {
        if let Some(old) = self.pvc_volume.remove(&key) {
            if let Some(s) = self.pv_claims.get_mut(&old) {
                s.remove(&key);
                if s.is_empty() {
                    self.pv_claims.remove(&old);
                }
            }
        }
        if let Some(v) = volume {
            self.pv_claims.entry(v.clone()).or_default().insert(key.clone());
            self.pvc_volume.insert(key, v);
        }
    }

    fn linked(&self, kind: Kind, key: &str, node: &str) -> bool {
        self.edges
            .get(&(kind, key.to_string()))
            .is_some_and(|nodes| nodes.contains_key(node))
    }
}

/// `system:node:<name>` in `system:nodes` → Some(name) (possibly empty); otherwise None.
pub fn node_identity(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix("system:node:")?;
    user.in_group("system:nodes").then_some(name)
}

type Verdict = (bool, String);

fn no(reason: impl Into<String>) -> Verdict {
    (false, reason.into())
}

const YES: fn() -> Verdict = || (true, String::new());

impl NodeAuthorizer {
    pub fn new(rules: Vec<Rule>) -> NodeAuthorizer {
        NodeAuthorizer {
            graph: RwLock::new(Graph::default()),
            rules,
        }
    }

    pub fn apply(&self, feed: Feed, change: Change) {
        let Ok(mut g) = self.graph.write() else { return };
        match (feed, change) {
            (Feed::Pods, Change::Reset(items)) => {
                let keys: Vec<String> = g.pods.keys().cloned().collect();
                for k in keys {
                    g.remove_pod(&k);
                }
                for p in items {
                    g.add_pod(&p);
                }
            }
            (Feed::Pods, Change::Upsert(p)) => g.add_pod(&p),
            (Feed::Pods, Change::Delete(p)) => g.remove_pod(&key_of(&p)),
            (Feed::Pvcs, Change::Reset(items)) => {
                g.pvc_volume.clear();
                g.pv_claims.clear();
                for p in items {
                    g.set_pvc(key_of(&p), name_at(&p, "/spec/volumeName").map(str::to_string));
                }
            }
            (Feed::Pvcs, Change::Upsert(p)) => {
                g.set_pvc(key_of(&p), name_at(&p, "/spec/volumeName").map(str::to_string))
            }
            (Feed::Pvcs, Change::Delete(p)) => g.set_pvc(key_of(&p), None),
        }
    }

    fn related(&self, node: &str, kind: Option<Kind>, a: &Attributes<'_>) -> Verdict {
        if a.name.is_empty() {
            return no("No Object name found");
        }
        let Ok(g) = self.graph.read() else { return no("") };
        let ok = match kind {
            Some(k) => g.linked(k, &format!("{}/{}", a.namespace, a.name), node),
            // A PV: bound to a claim some pod on this node uses.
            None => g
                .pv_claims
                .get(a.name)
                .is_some_and(|claims| claims.iter().any(|c| g.linked(Kind::Pvc, c, node))),
        };
        if ok {
            YES()
        } else {
            no(format!("no relationship found between node '{node}' and this object"))
        }
    }

    fn get_only(&self, node: &str, kind: Option<Kind>, a: &Attributes<'_>) -> Verdict {
        if a.verb != "get" {
            return no("can only get individual resources of this type");
        }
        if !a.subresource.is_empty() {
            return no("cannot get subresource");
        }
        self.related(node, kind, a)
    }

    /// Upstream NodeAuthorizer.Authorize: (allowed, reason).
    pub fn authorize(&self, a: &Attributes<'_>) -> Verdict {
        let Some(node) = node_identity(a.user) else {
            return no("");
        };
        if node.is_empty() {
            return no(format!("unknown node for user {:?}", a.user.name));
        }
        if a.is_resource {
            match (a.api_group, a.resource) {
                ("", "secrets") | ("", "configmaps") => {
                    if !matches!(a.verb, "get" | "list" | "watch") {
                        return no("can only read resources of this type");
                    }
                    if !a.subresource.is_empty() {
                        return no("cannot read subresource");
                    }
                    if a.namespace.is_empty() {
                        return no("can only read namespaced object of this type");
                    }
                    let kind = if a.resource == "secrets" {
                        Kind::Secret
                    } else {
                        Kind::ConfigMap
                    };
                    return self.related(node, Some(kind), a);
                }
                ("", "persistentvolumeclaims") => {
                    if a.subresource == "status" {
                        if !matches!(a.verb, "update" | "patch") {
                            return no("can only get/update/patch this type");
                        }
                        return self.related(node, Some(Kind::Pvc), a);
                    }
                    return self.get_only(node, Some(Kind::Pvc), a);
                }
                ("", "persistentvolumes") => return self.get_only(node, None, a),
                ("", "serviceaccounts") => {
                    if a.verb != "create" || a.name.is_empty() {
                        return no("can only create tokens for individual service accounts");
                    }
                    if a.subresource != "token" {
                        return no("can only create token subresource of serviceaccount");
                    }
                    return self.related(node, Some(Kind::ServiceAccount), a);
                }
                ("coordination.k8s.io", "leases") => {
                    if !matches!(a.verb, "get" | "create" | "update" | "patch" | "delete") {
                        return no("can only get, create, update, patch, or delete a node lease");
                    }
                    if a.namespace != "kube-node-lease" {
                        return no("can only access leases in the \"kube-node-lease\" system namespace");
                    }
                    if a.verb != "create" && a.name != node {
                        return no("can only access node lease with the same name as the requesting node");
                    }
                    return YES();
                }
                ("storage.k8s.io", "csinodes") => {
                    if !matches!(a.verb, "get" | "create" | "update" | "patch" | "delete") {
                        return no("can only get, create, update, patch, or delete a CSINode");
                    }
                    if !a.subresource.is_empty() {
                        return no("cannot authorize CSINode subresources");
                    }
                    if a.verb != "create" && a.name != node {
                        return no("can only access CSINode with the same name as the requesting node");
                    }
                    return YES();
                }
                // Not indexed here: no object of these kinds is ever related to a node, so
                // the checks deny as upstream's do for an unrelated object.
                ("storage.k8s.io", "volumeattachments") | ("resource.k8s.io", "resourceclaims") => {
                    return self.get_only(node, Some(Kind::Unindexed), a)
                }
                ("resource.k8s.io", "resourceslices") => {
                    if !a.subresource.is_empty() {
                        return no("cannot authorize ResourceSlice subresources");
                    }
                    return match a.verb {
                        "create" => YES(),
                        "get" | "update" | "patch" | "delete" => self.related(node, Some(Kind::Unindexed), a),
                        "watch" | "list" | "deletecollection" if selects(a.field_selector, "nodeName", node) => YES(),
                        "watch" | "list" | "deletecollection" => {
                            no("can only list/watch/deletecollection resourceslices with nodeName field selector")
                        }
                        _ => no("only the following verbs are allowed for a ResourceSlice: get, watch, list, create, update, patch, delete, deletecollection"),
                    };
                }
                ("", "nodes") => return authorize_node(node, a),
                ("", "pods") => return self.authorize_pod(node, a),
                _ => {}
            }
        }
        if self.rules.iter().any(|r| r.allows(a)) {
            YES()
        } else {
            no("")
        }
    }

    fn authorize_pod(&self, node: &str, a: &Attributes<'_>) -> Verdict {
        match (a.subresource, a.verb) {
            ("", "get") => self.get_only(node, Some(Kind::Pod), a),
            ("", "list" | "watch") => {
                if selects(a.field_selector, "spec.nodeName", node) {
                    return YES();
                }
                if !a.name.is_empty() {
                    return self.related(node, Some(Kind::Pod), a);
                }
                no("can only list/watch pods with spec.nodeName field selector")
            }
            ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => YES(),
            _ => no(""),
        }
    }
}

fn authorize_node(node: &str, a: &Attributes<'_>) -> Verdict {
    match (a.subresource, a.verb) {
        ("", "create" | "update" | "patch") | ("status", "update" | "patch") => YES(),
        ("", "get" | "list" | "watch") => {
            if a.name == node {
                YES()
            } else if a.name.is_empty() {
                no(format!("node '{node}' cannot read all nodes, only its own Node object"))
            } else {
                no(format!(
                    "node '{node}' cannot read '{}', only its own Node object",
                    a.name
                ))
            }
        }
        _ => no(""),
    }
}

/// Does the field selector require `field=value`?
fn selects(selector: &str, field: &str, value: &str) -> bool {
    super::exact_match(selector, field) == Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs<'a>(user: &'a UserInfo, verb: &'a str, ns: &'a str, res: &'a str, name: &'a str) -> Attributes<'a> {
        Attributes {
            user,
            verb,
            is_resource: true,
            api_group: "",
            api_version: "v1",
            namespace: ns,
            resource: res,
            subresource: "",
            name,
            path: "",
            field_selector: "",
        }
    }

    #[test]
    fn kubelet_reads_only_what_its_pods_reference() {
        let n = NodeAuthorizer::new(crate::auth::authz::policy::node_rules());
        n.apply(
            Feed::Pods,
            Change::Reset(vec![json!({
                "metadata": {"name": "web", "namespace": "app"},
                "spec": {"nodeName": "n1", "volumes": [{"name": "v", "secret": {"secretName": "tls"}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
                    "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}]}]}
            })]),
        );
        n.apply(
            Feed::Pvcs,
            Change::Upsert(json!({"metadata": {"name": "data", "namespace": "app"}, "spec": {"volumeName": "pv1"}})),
        );
        let k1 = UserInfo::new("system:node:n1", vec!["system:nodes".into()]);
        let k2 = UserInfo::new("system:node:n2", vec!["system:nodes".into()]);
        assert!(n.authorize(&attrs(&k1, "get", "app", "secrets", "tls")).0);
        assert!(n.authorize(&attrs(&k1, "get", "app", "configmaps", "cfg")).0);
        assert!(n.authorize(&attrs(&k1, "get", "app", "pods", "web")).0);
        assert!(n.authorize(&attrs(&k1, "get", "", "persistentvolumes", "pv1")).0);
        assert!(!n.authorize(&attrs(&k1, "get", "app", "serviceaccounts", "default")).0);
        assert_eq!(
            n.authorize(&attrs(&k2, "get", "app", "secrets", "tls")),
            (false, "no relationship found between node 'n2' and this object".into())
        );
        assert!(n.authorize(&attrs(&k1, "get", "", "nodes", "n1")).0);
        assert_eq!(
            n.authorize(&attrs(&k1, "get", "", "nodes", "n2")),
            (false, "node 'n1' cannot read 'n2', only its own Node object".into())
        );
        let mut list = attrs(&k1, "list", "", "pods", "");
        assert!(!n.authorize(&list).0);
        list.field_selector = "spec.nodeName=n1";
        assert!(n.authorize(&list).0);
        // A list/watch scoped to one object by metadata.name is about that object.
        let one = UserInfo::default();
        let info = crate::request::RequestInfo::parse("GET", "/api/v1/namespaces/app/configmaps", false);
        let scoped = Attributes::of(&one, &info).with_field_selector(Some("metadata.name=cfg"));
        assert_eq!((scoped.verb, scoped.name), ("list", "cfg"));
        let mut scoped = scoped;
        scoped.user = &k1;
        assert!(n.authorize(&scoped).0);
        // VolumeAttachments are not readable through the static rules.
        let mut va = attrs(&k1, "get", "", "volumeattachments", "va1");
        va.api_group = "storage.k8s.io";
        assert_eq!(
            n.authorize(&va),
            (false, "no relationship found between node 'n1' and this object".into())
        );
        // Static rules: services are readable by every node.
        assert!(n.authorize(&attrs(&k1, "list", "", "services", "")).0);
        n.apply(
            Feed::Pods,
            Change::Delete(json!({"metadata": {"name": "web", "namespace": "app"}})),
        );
        assert!(!n.authorize(&attrs(&k1, "get", "app", "secrets", "tls")).0);
        let other = UserInfo::new("alice", vec![]);
        assert_eq!(
            n.authorize(&attrs(&other, "get", "", "nodes", "n1")),
            (false, String::new())
        );
    }
}
