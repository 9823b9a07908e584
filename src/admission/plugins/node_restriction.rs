//! NodeRestriction: what a kubelet (`system:node:<name>` in `system:nodes`) may write, as
//! upstream 1.33 (`plugin/pkg/admission/noderestriction`):
//!
//! - pods: only mirror pods bound to itself, owned by its Node, referencing no secrets,
//!   configmaps, service accounts, PVCs, ClusterTrustBundles or ResourceClaims; deletes and
//!   evictions of its own pods; status updates of its own pods that keep labels and
//!   resource-claim statuses;
//! - its own Node: no `configSource`, no taint or ownerReference changes, only kubelet labels
//!   (no `node-restriction.kubernetes.io/`, no other `kubernetes.io`/`k8s.io` labels);
//! - PVC status: capacity and conditions only; its own Lease (in `kube-node-lease`), CSINode
//!   and ResourceSlices; kubelet CSRs only for `CN=system:node:<name>`;
//! - ServiceAccount tokens only bound to a pod on itself, and (ServiceAccountNodeAudienceRestriction)
//!   only for audiences its pods' volumes use, unless authorized for the audience.
//!
//! It runs in the mutating phase, as upstream (before a TokenRequest's audiences are defaulted).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::auth::authz::node::node_identity;
use crate::config::features::FeatureGates;
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use serde_json::Value;
use std::collections::BTreeSet;

pub struct NodeRestriction {
    audience_restriction: bool,
    insecure_kubelet_csrs: bool,
    expansion_recovery: bool,
}

impl NodeRestriction {
    pub fn new(features: &FeatureGates) -> NodeRestriction {
        NodeRestriction {
            audience_restriction: features.enabled("ServiceAccountNodeAudienceRestriction"),
            insecure_kubelet_csrs: features.enabled("AllowInsecureKubeletCertificateSigningRequests"),
            expansion_recovery: features.enabled("RecoverVolumeExpansionFailure"),
        }
    }
}

const MIRROR: &str = "kubernetes.io/config.mirror";
const NODE_LEASE_NS: &str = "kube-node-lease";

/// Labels a kubelet may set on its own Node (`kubeletapis.IsKubeletLabel`).
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];
const KUBELET_LABEL_NAMESPACES: &[&str] = &["kubelet.kubernetes.io", "node.kubernetes.io"];

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map(|(ns, _)| ns).unwrap_or("")
}

fn in_domain(ns: &str, domain: &str) -> bool {
    ns == domain || ns.strip_suffix(domain).is_some_and(|p| p.ends_with('.'))
}

fn is_kubelet_label(key: &str) -> bool {
    KUBELET_LABELS.contains(&key)
        || KUBELET_LABEL_NAMESPACES
            .iter()
            .any(|d| in_domain(label_namespace(key), d))
}

/// Label keys added, removed or changed between two label maps.
fn modified_labels(a: Option<&Value>, b: Option<&Value>) -> BTreeSet<String> {
    let labels = |o: Option<&Value>| {
        o.and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (a, b) = (labels(a), labels(b));
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .chain(b.iter().filter(|(k, v)| a.get(*k) != Some(v)))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The modified labels a node may not set: `node-restriction.kubernetes.io/`, and
/// `kubernetes.io`/`k8s.io` labels that are not kubelet labels. Sorted.
pub fn forbidden_labels(modified: &BTreeSet<String>) -> Vec<String> {
    modified
        .iter()
        .filter(|l| {
            let ns = label_namespace(l);
            let restricted = in_domain(ns, "node-restriction.kubernetes.io");
            let kubernetes = in_domain(ns, "kubernetes.io") || in_domain(ns, "k8s.io");
            restricted || (kubernetes && !is_kubelet_label(l))
        })
        .cloned()
        .collect()
}

/// Semantic equality of optional JSON: absent, null, `[]` and `{}` are all "empty".
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(x)) => x.is_empty(),
        Some(Value::Object(x)) => x.is_empty(),
        _ => false,
    };
    (empty(a) && empty(b)) || a == b
}

fn at<'a>(v: Option<&'a Value>, ptr: &str) -> Option<&'a Value> {
    v.and_then(|v| v.pointer(ptr))
}

type Check = Result<(), ApiError>;

impl NodeRestriction {
    async fn pod(&self, node: &str, a: &Attributes, env: &Env<'_>) -> Check {
        match a.operation {
            Operation::Create => pod_create(node, a, env).await,
            Operation::Delete => {
                let existing = match a.old.clone() {
                    Some(p) => p,
                    None => get_pod(a, env, &a.name).await?,
                };
                if existing.str_at("/spec/nodeName") != node {
                    return Err(a.forbidden(&format!(
                        "node {node:?} can only delete pods with spec.nodeName set to itself"
                    )));
                }
                Ok(())
            }
            op => Err(a.forbidden(&format!(
                "unexpected operation {:?}, node {node:?} can only create and delete mirror pods",
                op.as_str()
            ))),
        }
    }

    fn pvc_status(&self, node: &str, a: &Attributes) -> Check {
        if a.operation != Operation::Update {
            return Err(a.forbidden(&format!("unexpected operation {:?}", a.operation.as_str())));
        }
        let strip = |o: Option<&Value>| -> Value {
            let mut v = o.cloned().unwrap_or(Value::Null);
            let mut drop = vec![
                "/metadata/resourceVersion",
                "/metadata/managedFields",
                "/status/capacity",
                "/status/conditions",
            ];
            if self.expansion_recovery {
                drop.extend(["/status/allocatedResourceStatuses", "/status/allocatedResources"]);
            }
            for p in drop {
                let (parent, key) = p.rsplit_once('/').unwrap_or(("", p));
                if let Some(m) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
                    m.remove(key);
                }
            }
            v
        };
        let (old, new) = (strip(a.old.as_ref()), strip(a.object.as_ref()));
        if old != new {
            return Err(a.forbidden(&format!(
                "node {node:?} is not allowed to update fields other than status.quantity and status.conditions: {}",
                json_diff(&old, &new)
            )));
        }
        Ok(())
    }

    fn node(&self, node: &str, a: &Attributes) -> Check {
        let requested = a.object_name();
        if requested != node {
            return Err(a.forbidden(&format!("node {node:?} is not allowed to modify node {requested:?}")));
        }
        let (new, old) = (a.object.as_ref(), a.old.as_ref());
        match a.operation {
            Operation::Create => {
                if at(new, "/spec/configSource").is_some_and(|c| !c.is_null()) {
                    return Err(a.forbidden(&format!(
                        "node {node:?} is not allowed to create pods with a non-nil configSource"
                    )));
                }
                let bad = forbidden_labels(&modified_labels(new, None));
                if !bad.is_empty() {
                    return Err(a.forbidden(&format!(
                        "node {node:?} is not allowed to set the following labels: {}",
                        bad.join(", ")
                    )));
                }
            }
            Operation::Update => {
                let cs = at(new, "/spec/configSource");
                if cs.is_some_and(|c| !c.is_null()) && !same(cs, at(old, "/spec/configSource")) {
                    return Err(a.forbidden(&format!(
                        "node {node:?} is not allowed to update configSource to a new non-nil configSource"
                    )));
                }
                if !same(at(new, "/spec/taints"), at(old, "/spec/taints")) {
                    return Err(a.forbidden(&format!("node {node:?} is not allowed to modify taints")));
                }
                if !same(
                    at(new, "/metadata/ownerReferences"),
                    at(old, "/metadata/ownerReferences"),
                ) {
                    return Err(a.forbidden(&format!("node {node:?} is not allowed to modify ownerReferences")));
                }
                let bad = forbidden_labels(&modified_labels(new, old));
                if !bad.is_empty() {
                    return Err(a.forbidden(&format!("is not allowed to modify labels: {}", bad.join(", "))));
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn service_account(&self, node: &str, a: &Attributes, env: &Env<'_>) -> Check {
        if a.operation != Operation::Create || a.subresource != "token" {
            return Ok(());
        }
        let tr = a.object.as_ref();
        let r = at(tr, "/spec/boundObjectRef").filter(|r| r.is_object());
        let field = |k: &str| r.and_then(|r| r.get(k)).and_then(Value::as_str).unwrap_or("");
        if r.is_none() || field("apiVersion") != "v1" || field("kind") != "Pod" || field("name").is_empty() {
            return Err(a.forbidden("node requested token not bound to a pod"));
        }
        if field("uid").is_empty() {
            return Err(a.forbidden("node requested token with a pod binding without a uid"));
        }
        let pod = get_pod(a, env, field("name")).await?;
        if field("uid") != pod.str_at("/metadata/uid") {
            return Err(a.forbidden(&format!(
                "the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                field("uid")
            )));
        }
        if pod.str_at("/spec/nodeName") != node {
            return Err(a.forbidden("node requested token bound to a pod scheduled on a different node"));
        }
        if self.audience_restriction {
            let audiences: Vec<&str> = at(tr, "/spec/audiences")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|x| x.as_str().unwrap_or("")).collect())
                .unwrap_or_default();
            let requested = match audiences.as_slice() {
                [] => "",
                [one] => one,
                _ => return Err(a.forbidden("node may only request 0 or 1 audiences")),
            };
            audience_allowed(a, env, &pod, requested)
                .await
                .map_err(|e| a.forbidden(&e))?;
        }
        Ok(())
    }
}

/// A pod of the request's namespace (404 as upstream when missing).
async fn get_pod(a: &Attributes, env: &Env<'_>, name: &str) -> ApiResult<Value> {
    env.get("", "pods", Some(&a.namespace), name)
        .await?
        .ok_or_else(|| ApiError::not_found("pods", "", name))
}

async fn pod_create(node: &str, a: &Attributes, env: &Env<'_>) -> Check {
    let Some(pod) = a.object.as_ref() else { return Ok(()) };
    let mirror = at(Some(pod), "/metadata/annotations")
        .and_then(|m| m.get(MIRROR))
        .is_some();
    if !mirror {
        return Err(a.forbidden(&format!(
            "pod does not have {MIRROR:?} annotation, node {node:?} can only create mirror pods"
        )));
    }
    if pod.str_at("/spec/nodeName") != node {
        return Err(a.forbidden(&format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        )));
    }
    let owners = at(Some(pod), "/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match owners.as_slice() {
        [] => {
            return Err(a.forbidden(&format!(
                "node {node:?} can only create pods with an owner reference set to itself"
            )))
        }
        [owner] => {
            let s = |k: &str| owner.str_of(k);
            if s("apiVersion") != "v1" || s("kind") != "Node" || s("name") != node {
                return Err(a.forbidden(&format!(
                    "node {node:?} can only create pods with an owner reference set to itself"
                )));
            }
            if owner.get("controller").and_then(Value::as_bool) != Some(true) {
                return Err(a.forbidden(&format!(
                    "node {node:?} can only create pods with a controller owner reference set to itself"
                )));
            }
            if owner.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
                return Err(a.forbidden(&format!(
                    "node {node:?} must not set blockOwnerDeletion on an owner reference"
                )));
            }
            let n = env
                .get("", "nodes", None, node)
                .await?
                .ok_or_else(|| ApiError::not_found("nodes", "", node))?;
            let uid = n.str_at("/metadata/uid");
            if s("uid") != uid {
                return Err(a.forbidden(&format!("node {node} UID mismatch: expected {} got {uid}", s("uid"))));
            }
        }
        _ => {
            return Err(a.forbidden(&format!(
                "node {node:?} can only create pods with a single owner reference set to itself"
            )))
        }
    }
    let refuse = |what: &str| Err(a.forbidden(&format!("node {node:?} can not create pods that reference {what}")));
    if !pod.str_at("/spec/serviceAccountName").is_empty() {
        return Err(a.forbidden(&format!(
            "node {node:?} can not create pods that reference a service account"
        )));
    }
    if !crate::api::podrefs::secret_names(pod).is_empty() {
        return refuse("secrets");
    }
    if !crate::api::podrefs::configmap_names(pod).is_empty() {
        return refuse("configmaps");
    }
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let ctb = volumes.iter().any(|v| {
        v.pointer("/projected/sources")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter()
                    .any(|s| s.get("clusterTrustBundle").is_some_and(|c| !c.is_null()))
            })
    });
    if ctb {
        return refuse("clustertrustbundles");
    }
    if volumes
        .iter()
        .any(|v| v.get("persistentVolumeClaim").is_some_and(|c| !c.is_null()))
    {
        return refuse("persistentvolumeclaims");
    }
    if pod
        .pointer("/spec/resourceClaims")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        return refuse("resourceclaims");
    }
    Ok(())
}

fn pod_status(node: &str, a: &Attributes) -> Check {
    if a.operation != Operation::Update {
        return Err(a.forbidden(&format!("unexpected operation {:?}", a.operation.as_str())));
    }
    let (old, new) = (a.old.as_ref(), a.object.as_ref());
    if old.map(|o| o.str_at("/spec/nodeName")) != Some(node) {
        return Err(a.forbidden(&format!(
            "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
        )));
    }
    if !same(at(old, "/metadata/labels"), at(new, "/metadata/labels")) {
        return Err(a.forbidden(&format!("node {node:?} cannot update labels through pod status")));
    }
    // Entries compared by name and resourceClaimName only, as upstream.
    let claims = |o: Option<&Value>| -> Vec<(String, Option<String>)> {
        at(o, "/status/resourceClaimStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c.str_at("/name").to_string(),
                    c.get("resourceClaimName").and_then(Value::as_str).map(str::to_string),
                )
            })
            .collect()
    };
    if claims(old) != claims(new) {
        return Err(a.forbidden(&format!("node {node:?} cannot update resource claim statues")));
    }
    Ok(())
}

async fn pod_eviction(node: &str, a: &Attributes, env: &Env<'_>) -> Check {
    if a.operation != Operation::Create {
        return Err(a.forbidden(&format!("unexpected operation {}", a.operation.as_str())));
    }
    let mut pod_name = a.name.clone();
    if pod_name.is_empty() {
        pod_name = a
            .object
            .as_ref()
            .map(|e| e.str_at("/metadata/name").to_string())
            .unwrap_or_default();
        if pod_name.is_empty() {
            return Err(a.forbidden("could not determine pod from request data"));
        }
    }
    let pod = get_pod(a, env, &pod_name).await?;
    if pod.str_at("/spec/nodeName") != node {
        return Err(a.forbidden(&format!(
            "node {node} can only evict pods with spec.nodeName set to itself"
        )));
    }
    Ok(())
}

fn lease(node: &str, a: &Attributes) -> Check {
    if a.namespace != NODE_LEASE_NS {
        return Err(a.forbidden(&format!(
            "can only access leases in the {NODE_LEASE_NS:?} system namespace"
        )));
    }
    if a.object_name() != node {
        return Err(a.forbidden("can only access node lease with the same name as the requesting node"));
    }
    Ok(())
}

fn csinode(node: &str, a: &Attributes) -> Check {
    if a.object_name() != node {
        return Err(a.forbidden("can only access CSINode with the same name as the requesting node"));
    }
    Ok(())
}

fn resource_slice(node: &str, a: &Attributes) -> Check {
    let (obj, verb) = match a.operation {
        Operation::Create => (a.object.as_ref(), "create"),
        Operation::Delete => (a.old.as_ref(), "delete"),
        _ => return Ok(()),
    };
    if at(obj, "/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Err(a.forbidden(&format!(
            "can only {verb} ResourceSlice with the same NodeName as the requesting node"
        )));
    }
    Ok(())
}

fn csr(node: &str, a: &Attributes) -> Check {
    if a.operation != Operation::Create {
        return Ok(());
    }
    let Some(csr) = a.object.as_ref() else { return Ok(()) };
    let signer = csr.str_at("/spec/signerName");
    if signer != "kubernetes.io/kubelet-serving" && signer != "kubernetes.io/kube-apiserver-client-kubelet" {
        return Ok(());
    }
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(csr.str_at("/spec/request"))
        .unwrap_or_default();
    let (cn, _) =
        super::certificates::csr_subject(&pem).map_err(|e| a.forbidden(&format!("unable to parse csr: {e}")))?;
    if cn != format!("system:node:{node}") {
        return Err(a.forbidden(&format!("can only create a node CSR with CN=system:node:{node}")));
    }
    Ok(())
}

/// In-tree volume sources migrated to CSI, and their drivers (csi-translation-lib).
const IN_TREE_CSI: &[(&str, &str)] = &[
    ("gcePersistentDisk", "pd.csi.storage.gke.io"),
    ("awsElasticBlockStore", "ebs.csi.aws.com"),
    ("cinder", "cinder.csi.openstack.org"),
    ("azureDisk", "disk.csi.azure.com"),
    ("azureFile", "file.csi.azure.com"),
    ("vsphereVolume", "csi.vsphere.vmware.com"),
    ("portworxVolume", "pxd.portworx.com"),
];

fn in_tree_driver(source: &Value) -> Option<&'static str> {
    IN_TREE_CSI
        .iter()
        .find(|(k, _)| source.get(*k).is_some_and(|v| !v.is_null()))
        .map(|(_, d)| *d)
}

/// The CSI driver behind a claim: PVC → PV → `csi.driver` (or its in-tree plugin's driver).
async fn driver_of_claim(env: &Env<'_>, ns: &str, claim: &str) -> Result<String, String> {
    let pvc = env
        .get("", "persistentvolumeclaims", Some(ns), claim)
        .await
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("persistentvolumeclaim {claim:?} not found"))?;
    let pv_name = pvc.str_at("/spec/volumeName");
    let pv = env
        .get("", "persistentvolumes", None, pv_name)
        .await
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("persistentvolume {pv_name:?} not found"))?;
    let spec = &pv["spec"];
    let driver = spec.str_at("/csi/driver");
    if !driver.is_empty() {
        return Ok(driver.to_string());
    }
    Ok(in_tree_driver(spec).unwrap_or("").to_string())
}

/// Is `audience` one the pod uses: a projected token with it, or a volume whose CSI driver
/// requests tokens for it? Errors met along the way are returned when nothing matched.
async fn pod_uses_audience(env: &Env<'_>, pod: &Value, audience: &str) -> Result<bool, String> {
    let ns = pod.str_at("/metadata/namespace");
    let pod_name = pod.str_at("/metadata/name");
    let mut errs = Vec::new();
    for v in pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let sources = v.pointer("/projected/sources").and_then(Value::as_array);
        if sources.into_iter().flatten().any(|s| {
            s.get("serviceAccountToken")
                .is_some_and(|t| t.is_object() && t.str_at("/audience") == audience)
        }) {
            return Ok(true);
        }
        let driver = if v
            .pointer("/ephemeral/volumeClaimTemplate")
            .is_some_and(|t| !t.is_null())
        {
            driver_of_claim(env, ns, &format!("{pod_name}-{}", v.str_at("/name"))).await
        } else if let Some(claim) = v.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str) {
            driver_of_claim(env, ns, claim).await
        } else if let Some(d) = v.pointer("/csi/driver").and_then(Value::as_str) {
            Ok(d.to_string())
        } else {
            Ok(in_tree_driver(v).unwrap_or("").to_string())
        };
        let driver = match driver {
            Ok(d) if !d.is_empty() => d,
            Ok(_) => continue,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        match env.get("storage.k8s.io", "csidrivers", None, &driver).await {
            Ok(Some(d)) => {
                let requests = d.pointer("/spec/tokenRequests").and_then(Value::as_array);
                if requests
                    .into_iter()
                    .flatten()
                    .any(|r| r.str_at("/audience") == audience)
                {
                    return Ok(true);
                }
            }
            Ok(None) => errs.push(format!("csidriver.storage.k8s.io {driver:?} not found")),
            Err(e) => errs.push(e.message),
        }
    }
    match errs.len() {
        0 => Ok(false),
        1 => Err(errs.remove(0)),
        _ => Err(format!("[{}]", errs.join(", "))),
    }
}

/// ServiceAccountNodeAudienceRestriction: the audience is used by the pod, or the node may
/// `request-serviceaccounts-token-audience` on it.
async fn audience_allowed(a: &Attributes, env: &Env<'_>, pod: &Value, audience: &str) -> Result<(), String> {
    match pod_uses_audience(env, pod, audience).await {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(e) => return Err(format!("error validating audience {audience:?}: {e}")),
    }
    let v = env
        .ctx
        .decide(&crate::auth::authz::Attributes {
            user: &a.user,
            verb: "request-serviceaccounts-token-audience",
            is_resource: true,
            api_group: "",
            api_version: "v1",
            namespace: &a.namespace,
            resource: audience,
            subresource: "",
            name: &a.name,
            path: "",
            field_selector: "",
        })
        .await;
    if v.allowed {
        return Ok(());
    }
    Err(format!(
        "audience {audience:?} not found in pod spec volume, {} is not authorized to request tokens for this audience",
        a.user.name
    ))
}

/// A compact description of what differs (upstream prints a go-cmp diff).
fn json_diff(old: &Value, new: &Value) -> String {
    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = format!("{path}.{k}");
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => walk(&p, u, v, out),
                        (u, v) => out.push(format!("{p}: {} -> {}", show(u), show(v))),
                    }
                }
            }
            _ if a != b => out.push(format!("{path}: {a} -> {b}")),
            _ => {}
        }
    }
    fn show(v: Option<&Value>) -> String {
        v.map(Value::to_string).unwrap_or_else(|| "<none>".into())
    }
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out.join("; ")
}

#[async_trait::async_trait]
impl Plugin for NodeRestriction {
    fn name(&self) -> &'static str {
        "NodeRestriction"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if a.operation == Operation::Connect {
            return Ok(());
        }
        let Some(node) = node_identity(&a.user).map(str::to_string) else {
            return Ok(());
        };
        if node.is_empty() {
            return Err(a.forbidden(&format!("could not determine node from user {:?}", a.user.name)));
        }
        let node = node.as_str();
        let a = &*a;
        match (a.def.group, a.def.plural) {
            ("", "pods") => match a.subresource.as_str() {
                "" => self.pod(node, a, env).await,
                "status" => pod_status(node, a),
                "eviction" => pod_eviction(node, a, env).await,
                other => Err(a.forbidden(&format!(
                    "unexpected pod subresource {other:?}, only 'status' and 'eviction' are allowed"
                ))),
            },
            ("", "nodes") => self.node(node, a),
            ("", "persistentvolumeclaims") => match a.subresource.as_str() {
                "status" => self.pvc_status(node, a),
                _ => Err(a.forbidden("may only update PVC status")),
            },
            ("", "serviceaccounts") => self.service_account(node, a, env).await,
            ("coordination.k8s.io", "leases") => lease(node, a),
            ("storage.k8s.io", "csinodes") => csinode(node, a),
            ("resource.k8s.io", "resourceslices") => resource_slice(node, a),
            ("certificates.k8s.io", "certificatesigningrequests") if !self.insecure_kubelet_csrs => csr(node, a),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
