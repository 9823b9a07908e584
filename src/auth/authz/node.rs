//! The Node authorizer (upstream plugin/pkg/auth/authorizer/node): kubelets (`system:node:<name>`
//! in `system:nodes`) may read only what the pods bound to them reference. The graph follows
//! upstream's (`graph.go`), fed by registry watches of pods, PersistentVolumes and
//! VolumeAttachments:
//!
//! ```text
//! secret, configmap, serviceaccount, pvc, resourceclaim ─► pod ─► node
//! secret (kubelet-visible PV secret refs) ─► pv ─► pvc (pv.spec.claimRef)
//! volumeattachment ─► node (spec.nodeName)
//! ```
//!
//! A path to the node grants `get` (and, for secrets and configmaps, list/watch of the object).
//! Mirror pods only link themselves: a node must not gain access by creating one.

use super::rules::Rule;
use super::Attributes;
use crate::api::podrefs::name_at;
use crate::registry::informer::{key_of, Change};
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
    ResourceClaim,
}

/// A PersistentVolume's edges: the claim it is bound to and the secrets its kubelet reads.
#[derive(Default)]
struct Pv {
    claim: Option<String>,
    secrets: Vec<String>,
}

#[derive(Default)]
struct Graph {
    /// pod key → (node, referenced objects as (kind, "ns/name")).
    pods: HashMap<String, (String, Vec<(Kind, String)>)>,
    /// (kind, "ns/name") → node → number of pods on that node referencing it.
    edges: HashMap<(Kind, String), HashMap<String, usize>>,
    /// PV name → its edges; secret key → PVs naming it.
    pvs: HashMap<String, Pv>,
    secret_pvs: HashMap<String, BTreeSet<String>>,
    /// VolumeAttachment name → node.
    attachments: HashMap<String, String>,
    /// ResourceSlice name → its `spec.nodeName` (fed only while DynamicResourceAllocation is
    /// on, as upstream's graph populator).
    slices: HashMap<String, String>,
}

pub struct NodeAuthorizer {
    graph: RwLock<Graph>,
    rules: Vec<Rule>,
}

/// Which watch feeds the graph.
#[derive(Clone, Copy)]
pub enum Feed {
    Pods,
    PersistentVolumes,
    VolumeAttachments,
    ResourceSlices,
}

/// The non-empty string at `p`: a reference the pod makes, or none.
fn ref_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.opt_str_at(p).filter(|s| !s.is_empty())
}

fn arr(v: &Value, p: &str) -> Vec<Value> {
    v.arr_at(p).to_vec()
}

/// Everything a pod references that its kubelet needs to read (upstream's graph populator:
/// the service account, `VisitPodSecretNames`, `VisitPodConfigmapNames`, claims).
fn pod_refs(pod: &Value) -> Vec<(Kind, String)> {
    use crate::api::podrefs;
    if pod
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return Vec::new();
    }
    let ns = ref_at(pod, "/metadata/namespace").unwrap_or("");
    let key = |n: &str| format!("{ns}/{n}");
    let mut out = Vec::new();
    if let Some(sa) = ref_at(pod, "/spec/serviceAccountName") {
        out.push((Kind::ServiceAccount, key(sa)));
    }
    out.extend(podrefs::secret_names(pod).into_iter().map(|n| (Kind::Secret, key(n))));
    out.extend(
        podrefs::configmap_names(pod)
            .into_iter()
            .map(|n| (Kind::ConfigMap, key(n))),
    );
    out.extend(podrefs::pvc_names(pod).iter().map(|n| (Kind::Pvc, key(n))));
    // Upstream's resourceclaim.Name: a named claim, or the one generated from a template as
    // the pod's status records it (none yet: no edge).
    let statuses = arr(pod, "/status/resourceClaimStatuses");
    for c in arr(pod, "/spec/resourceClaims") {
        let name = if let Some(name) = ref_at(&c, "/resourceClaimName") {
            Some(name)
        } else if ref_at(&c, "/resourceClaimTemplateName").is_some() {
            statuses
                .iter()
                .find(|s| ref_at(s, "/name") == ref_at(&c, "/name"))
                .and_then(|s| ref_at(s, "/resourceClaimName"))
        } else {
            None
        };
        if let Some(n) = name {
            out.push((Kind::ResourceClaim, key(n)));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup();
    out
}

/// The namespace a PV's secret lives in when its reference names none: the bound claim's.
fn claim_namespace(pv: &Value) -> &str {
    ref_at(pv, "/spec/claimRef/namespace").unwrap_or("")
}

/// The secrets of a PV a kubelet may read (upstream's `VisitPVSecretNames`, kubelet-visible
/// only), as "ns/name"; a PV has one volume source.
fn pv_secrets(pv: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |ns: &str, name: Option<&str>| {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            out.push(format!("{ns}/{n}"));
        }
    };
    let spec = pv.get("spec").unwrap_or(&Value::Null);
    // Secret refs whose namespace defaults to the bound claim's.
    for src in ["cephfs", "flexVolume", "rbd", "scaleIO", "iscsi"] {
        if let Some(r) = spec.get(src).and_then(|s| s.get("secretRef")) {
            add(
                ref_at(r, "/namespace").unwrap_or(claim_namespace(pv)),
                ref_at(r, "/name"),
            );
        }
    }
    if let Some(af) = spec.get("azureFile") {
        let ns = ref_at(af, "/secretNamespace").unwrap_or(claim_namespace(pv));
        add(ns, ref_at(af, "/secretName"));
    }
    // Secret refs that carry their namespace.
    for p in [
        "/cinder/secretRef",
        "/storageos/secretRef",
        "/csi/nodePublishSecretRef",
        "/csi/nodeStageSecretRef",
        "/csi/nodeExpandSecretRef",
    ] {
        if let Some(r) = spec.pointer(p) {
            add(ref_at(r, "/namespace").unwrap_or(""), ref_at(r, "/name"));
        }
    }
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

    fn remove_pv(&mut self, name: &str) {
        let Some(pv) = self.pvs.remove(name) else { return };
        for s in pv.secrets {
            if let Some(set) = self.secret_pvs.get_mut(&s) {
                set.remove(name);
                if set.is_empty() {
                    self.secret_pvs.remove(&s);
                }
            }
        }
    }

    /// Upstream's AddPV: edges only while the PV names a claim.
    fn add_pv(&mut self, pv: &Value) {
        let name = key_of(pv);
        self.remove_pv(&name);
        let Some(claim_name) = ref_at(pv, "/spec/claimRef/name") else {
            return;
        };
        let claim = format!("{}/{claim_name}", claim_namespace(pv));
        let secrets = pv_secrets(pv);
        for s in &secrets {
            self.secret_pvs.entry(s.clone()).or_default().insert(name.clone());
        }
        self.pvs.insert(
            name,
            Pv {
                claim: Some(claim),
                secrets,
            },
        );
    }

    /// The node a VolumeAttachment or ResourceSlice names in `spec.nodeName`.
    fn set_node_of(map: &mut HashMap<String, String>, obj: &Value, present: bool) {
        let name = key_of(obj);
        match ref_at(obj, "/spec/nodeName").filter(|_| present) {
            Some(node) => map.insert(name, node.to_string()),
            None => map.remove(&name),
        };
    }

    fn linked(&self, kind: Kind, key: &str, node: &str) -> bool {
        self.edges
            .get(&(kind, key.to_string()))
            .is_some_and(|nodes| nodes.contains_key(node))
    }

    /// PV → claim → pod → node.
    fn pv_linked(&self, pv: &str, node: &str) -> bool {
        self.pvs
            .get(pv)
            .and_then(|p| p.claim.as_deref())
            .is_some_and(|c| self.linked(Kind::Pvc, c, node))
    }

    /// A secret a pod on the node references, or one a PV bound to such a pod's claim needs.
    fn secret_linked(&self, key: &str, node: &str) -> bool {
        self.linked(Kind::Secret, key, node)
            || self
                .secret_pvs
                .get(key)
                .is_some_and(|pvs| pvs.iter().any(|pv| self.pv_linked(pv, node)))
    }
}

/// `system:node:<name>` in `system:nodes` → Some(name) (possibly empty); otherwise None.
pub fn node_identity(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix("system:node:")?;
    user.in_group("system:nodes").then_some(name)
}

type Verdict = (bool, String);

/// What a request names, for the path search.
#[derive(Clone, Copy)]
enum Target {
    /// An object pods link to the node directly.
    Indexed(Kind),
    /// A secret: linked by a pod, or by a PV bound to a pod's claim.
    Secret,
    Pv,
    VolumeAttachment,
    /// A ResourceSlice: linked by its `spec.nodeName`.
    ResourceSlice,
}

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
            (Feed::PersistentVolumes, Change::Reset(items)) => {
                g.pvs.clear();
                g.secret_pvs.clear();
                for p in items {
                    g.add_pv(&p);
                }
            }
            (Feed::PersistentVolumes, Change::Upsert(p)) => g.add_pv(&p),
            (Feed::PersistentVolumes, Change::Delete(p)) => g.remove_pv(&key_of(&p)),
            (Feed::VolumeAttachments | Feed::ResourceSlices, change) => {
                let map = match feed {
                    Feed::VolumeAttachments => &mut g.attachments,
                    _ => &mut g.slices,
                };
                match change {
                    Change::Reset(items) => {
                        map.clear();
                        for o in items {
                            Graph::set_node_of(map, &o, true);
                        }
                    }
                    Change::Upsert(o) => Graph::set_node_of(map, &o, true),
                    Change::Delete(o) => Graph::set_node_of(map, &o, false),
                }
            }
        }
    }

    /// Is there a path from the object `a` names (of `target`) to the node?
    fn related(&self, node: &str, target: Target, a: &Attributes<'_>) -> Verdict {
        if a.name.is_empty() {
            return no("No Object name found");
        }
        let Ok(g) = self.graph.read() else { return no("") };
        let key = format!("{}/{}", a.namespace, a.name);
        let ok = match target {
            Target::Secret => g.secret_linked(&key, node),
            Target::Indexed(k) => g.linked(k, &key, node),
            Target::Pv => g.pv_linked(a.name, node),
            Target::VolumeAttachment => g.attachments.get(a.name).is_some_and(|n| n == node),
            Target::ResourceSlice => g.slices.get(a.name).is_some_and(|n| n == node),
        };
        if ok {
            YES()
        } else {
            no(format!("no relationship found between node '{node}' and this object"))
        }
    }

    fn get_only(&self, node: &str, target: Target, a: &Attributes<'_>) -> Verdict {
        if a.verb != "get" {
            return no("can only get individual resources of this type");
        }
        if !a.subresource.is_empty() {
            return no("cannot get subresource");
        }
        self.related(node, target, a)
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
                    let target = if a.resource == "secrets" {
                        Target::Secret
                    } else {
                        Target::Indexed(Kind::ConfigMap)
                    };
                    return self.related(node, target, a);
                }
                ("", "persistentvolumeclaims") => {
                    if a.subresource == "status" {
                        if !matches!(a.verb, "update" | "patch") {
                            return no("can only get/update/patch this type");
                        }
                        return self.related(node, Target::Indexed(Kind::Pvc), a);
                    }
                    return self.get_only(node, Target::Indexed(Kind::Pvc), a);
                }
                ("", "persistentvolumes") => return self.get_only(node, Target::Pv, a),
                ("", "serviceaccounts") => {
                    // KubeletServiceAccountTokenForCredentialProviders is alpha (off) in 1.33.
                    if a.verb == "get" && a.subresource.is_empty() {
                        return no("not allowed to get service accounts");
                    }
                    if a.verb != "create" || a.name.is_empty() {
                        return no("can only create tokens for individual service accounts");
                    }
                    if a.subresource != "token" {
                        return no("can only create token subresource of serviceaccount");
                    }
                    return self.related(node, Target::Indexed(Kind::ServiceAccount), a);
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
                ("storage.k8s.io", "volumeattachments") => return self.get_only(node, Target::VolumeAttachment, a),
                ("resource.k8s.io", "resourceclaims") => {
                    return self.get_only(node, Target::Indexed(Kind::ResourceClaim), a)
                }
                ("resource.k8s.io", "resourceslices") => {
                    if !a.subresource.is_empty() {
                        return no("cannot authorize ResourceSlice subresources");
                    }
                    return match a.verb {
                        "create" => YES(),
                        // Create is NodeRestriction's to check (the body names the node).
                        "get" | "update" | "patch" | "delete" => self.related(node, Target::ResourceSlice, a),
                        "watch" | "list" | "deletecollection" if selects(a.field_selector, "spec.nodeName", node) => {
                            YES()
                        }
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
            ("", "get") => self.get_only(node, Target::Indexed(Kind::Pod), a),
            ("", "list" | "watch") => {
                if selects(a.field_selector, "spec.nodeName", node) {
                    return YES();
                }
                if !a.name.is_empty() {
                    return self.related(node, Target::Indexed(Kind::Pod), a);
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
            Feed::PersistentVolumes,
            Change::Upsert(
                json!({"metadata": {"name": "pv1"}, "spec": {"claimRef": {"namespace": "app", "name": "data"},
                "csi": {"driver": "d", "volumeHandle": "h",
                    "nodeStageSecretRef": {"namespace": "storage", "name": "stage"},
                    "controllerPublishSecretRef": {"namespace": "storage", "name": "controller"}}}}),
            ),
        );
        let k1 = UserInfo::new("system:node:n1", vec!["system:nodes".into()]);
        let k2 = UserInfo::new("system:node:n2", vec!["system:nodes".into()]);
        assert!(n.authorize(&attrs(&k1, "get", "app", "secrets", "tls")).0);
        assert!(n.authorize(&attrs(&k1, "get", "app", "configmaps", "cfg")).0);
        assert!(n.authorize(&attrs(&k1, "get", "app", "pods", "web")).0);
        assert!(n.authorize(&attrs(&k1, "get", "", "persistentvolumes", "pv1")).0);
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
        // PV secrets the kubelet uses (not the controller's), through the bound claim's pod.
        let mut stage = attrs(&k1, "get", "storage", "secrets", "stage");
        assert!(n.authorize(&stage).0);
        stage.user = &k2;
        assert!(!n.authorize(&stage).0);
        assert!(!n.authorize(&attrs(&k1, "get", "storage", "secrets", "controller")).0);
        // VolumeAttachments of the node's own.
        n.apply(
            Feed::VolumeAttachments,
            Change::Reset(vec![json!({"metadata": {"name": "va1"}, "spec": {"nodeName": "n1"}})]),
        );
        let mut va = attrs(&k1, "get", "", "volumeattachments", "va1");
        va.api_group = "storage.k8s.io";
        assert_eq!(n.authorize(&va), (true, String::new()));
        va.user = &k2;
        assert_eq!(
            n.authorize(&va),
            (false, "no relationship found between node 'n2' and this object".into())
        );
        // The service account object itself is not readable (only tokens of it).
        assert_eq!(
            n.authorize(&attrs(&k1, "get", "app", "serviceaccounts", "default")),
            (false, "not allowed to get service accounts".into())
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

    #[test]
    fn mirror_pods_link_nothing_and_resource_claims_follow_the_pod() {
        let n = NodeAuthorizer::new(Vec::new());
        n.apply(
            Feed::Pods,
            Change::Reset(vec![
                json!({"metadata": {"name": "static", "namespace": "kube-system",
                        "annotations": {"kubernetes.io/config.mirror": "x"}},
                    "spec": {"nodeName": "n1", "volumes": [{"name": "v", "secret": {"secretName": "stolen"}}]}}),
                json!({"metadata": {"name": "dra", "namespace": "app"},
                    "spec": {"nodeName": "n1", "resourceClaims": [
                        {"name": "gpu", "resourceClaimName": "shared-gpu"},
                        {"name": "tmp", "resourceClaimTemplateName": "t"},
                        {"name": "later", "resourceClaimTemplateName": "t"}]},
                    "status": {"resourceClaimStatuses": [{"name": "tmp", "resourceClaimName": "dra-tmp-x7"}]}}),
            ]),
        );
        let k1 = UserInfo::new("system:node:n1", vec!["system:nodes".into()]);
        assert!(!n.authorize(&attrs(&k1, "get", "kube-system", "secrets", "stolen")).0);
        assert!(n.authorize(&attrs(&k1, "get", "kube-system", "pods", "static")).0);
        let claim = |name| {
            let mut a = attrs(&k1, "get", "app", "resourceclaims", name);
            a.api_group = "resource.k8s.io";
            n.authorize(&a).0
        };
        assert!(claim("shared-gpu") && claim("dra-tmp-x7"));
        assert!(!claim("dra-later"));
    }
    #[test]
    fn nodes_reach_only_their_own_resource_slices() {
        let n = NodeAuthorizer::new(Vec::new());
        n.apply(
            Feed::ResourceSlices,
            Change::Reset(vec![
                json!({"metadata": {"name": "n1-gpu"}, "spec": {"nodeName": "n1", "driver": "gpu.example.com"}}),
                json!({"metadata": {"name": "n2-gpu"}, "spec": {"nodeName": "n2", "driver": "gpu.example.com"}}),
            ]),
        );
        let k1 = UserInfo::new("system:node:n1", vec!["system:nodes".into()]);
        let slice = |verb, name, selector| {
            let mut a = attrs(&k1, verb, "", "resourceslices", name);
            a.api_group = "resource.k8s.io";
            a.field_selector = selector;
            n.authorize(&a)
        };
        assert!(slice("get", "n1-gpu", "").0 && slice("delete", "n1-gpu", "").0);
        assert!(!slice("update", "n2-gpu", "").0);
        assert!(slice("create", "", "").0, "create is NodeRestriction's to check");
        assert!(slice("list", "", "spec.nodeName=n1").0);
        assert_eq!(
            slice("watch", "", "spec.nodeName=n2"),
            (
                false,
                "can only list/watch/deletecollection resourceslices with nodeName field selector".into()
            )
        );
        n.apply(
            Feed::ResourceSlices,
            Change::Delete(json!({"metadata": {"name": "n1-gpu"}, "spec": {"nodeName": "n1"}})),
        );
        assert!(!slice("get", "n1-gpu", "").0);
    }
}
