//! Built-in admission plugins, one module each, and the name → constructor table.

pub mod always;
pub mod always_pull_images;
pub mod certificates;
pub mod default_storage_class;
pub mod default_toleration_seconds;
pub mod lifecycle;
pub mod limit_ranger;
pub mod node_restriction;
pub mod pod_security;
pub mod priority;
pub mod pvc_resize;
pub mod quota_scope;
pub mod resource_quota;
pub mod runtime_class;
pub mod service_account;
pub mod storage_protection;
pub mod taint_nodes;

use super::Plugin;
use serde_json::Value;

/// The plugin behind an upstream name; None for names capstan accepts but has nothing to do
/// for (policy engines and plugins that need components capstan does not run).
pub fn build(name: &str) -> Option<Box<dyn Plugin>> {
    let p: Box<dyn Plugin> = match name {
        "AlwaysAdmit" => Box::new(always::AlwaysAdmit),
        "AlwaysDeny" => Box::new(always::AlwaysDeny),
        "NamespaceLifecycle" => Box::new(lifecycle::NamespaceLifecycle),
        "LimitRanger" => Box::new(limit_ranger::LimitRanger),
        "ServiceAccount" => Box::new(service_account::ServiceAccount),
        "NodeRestriction" => Box::new(node_restriction::NodeRestriction),
        "TaintNodesByCondition" => Box::new(taint_nodes::TaintNodesByCondition),
        "AlwaysPullImages" => Box::new(always_pull_images::AlwaysPullImages),
        "PodSecurity" => Box::new(pod_security::PodSecurity),
        "Priority" => Box::new(priority::Priority),
        "DefaultTolerationSeconds" => Box::new(default_toleration_seconds::DefaultTolerationSeconds),
        "DefaultStorageClass" => Box::new(default_storage_class::DefaultStorageClass),
        "StorageObjectInUseProtection" => Box::new(storage_protection::StorageObjectInUseProtection),
        "PersistentVolumeClaimResize" => Box::new(pvc_resize::PersistentVolumeClaimResize),
        "RuntimeClass" => Box::new(runtime_class::RuntimeClass),
        "CertificateApproval" => Box::new(certificates::CertificateApproval),
        "CertificateSigning" => Box::new(certificates::CertificateSigning),
        "CertificateSubjectRestriction" => Box::new(certificates::CertificateSubjectRestriction),
        "ResourceQuota" => Box::new(resource_quota::ResourceQuota),
        _ => return None,
    };
    Some(p)
}

/// The container lists of a pod spec, with their field names.
pub const CONTAINER_LISTS: &[&str] = &["initContainers", "containers", "ephemeralContainers"];

/// Every container of a pod spec: (list name, index, container).
pub fn containers(spec: &Value) -> Vec<(&'static str, usize, &Value)> {
    let mut out = Vec::new();
    for list in CONTAINER_LISTS {
        for (i, c) in spec
            .get(*list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            out.push((*list, i, c));
        }
    }
    out
}

/// Apply `f` to every container of a pod spec.
pub fn containers_mut(spec: &mut Value, mut f: impl FnMut(&'static str, &mut Value)) {
    for list in CONTAINER_LISTS {
        if let Some(a) = spec.get_mut(*list).and_then(Value::as_array_mut) {
            for c in a {
                f(list, c);
            }
        }
    }
}
