//! Built-in admission plugins, one module each, and the name → constructor table
//! ([`build`]); every name in [`super::ORDERED_PLUGINS`] has an arm there.

pub mod always;
pub mod always_pull_images;
pub mod anti_affinity;
pub mod certificates;
pub mod ctb_attest;
pub mod default_ingress_class;
pub mod default_storage_class;
pub mod default_toleration_seconds;
pub mod deny_external_ips;
pub mod event_rate_limit;
pub mod extended_resource_toleration;
pub mod image_policy;
pub mod lifecycle;
pub mod limit_ranger;
pub mod namespace_autoprovision;
pub mod namespace_exists;
pub mod node_restriction;
pub mod owner_references;
pub mod pod_node_selector;
pub mod pod_security;
pub mod pod_toleration_restriction;
pub mod pod_topology_labels;
pub mod priority;
pub mod pvc_resize;
pub mod quota_scope;
pub mod resource_quota;
pub mod runtime_class;
pub mod service_account;
pub mod storage_protection;
pub mod taint_nodes;
pub mod tolerations;

use super::Plugin;
use crate::config::features::FeatureGates;
use crate::util::json::JsonExt;
use serde_json::Value;

/// What a plugin is built from: its entry of the AdmissionConfiguration file (None when the
/// file has none) and the feature gates.
pub struct Init<'a> {
    pub config: Option<&'a Value>,
    pub features: &'a FeatureGates,
}

/// How an upstream plugin name runs in capstan.
pub enum Built {
    Plugin(Box<dyn Plugin>),
    MutatingWebhooks,
    ValidatingWebhooks,
    /// `ValidatingAdmissionPolicy` and `MutatingAdmissionPolicy` (both default-on upstream):
    /// steps of the chain run by the policy engines (`crate::admission::policy`). Never
    /// refused; MutatingAdmissionPolicy does nothing unless its feature gate is on.
    Policy(&'static str),
}

/// Upstream plugin names capstan refuses to start with, and why (a name here never becomes a
/// silent no-op). Every name of [`super::ORDERED_PLUGINS`] is either here or built by [`build`]
/// (a unit test checks both, `tests/admission_reference.rs` checks the code and the docs).
pub const REFUSED: &[(&str, &str)] = &[];

/// Why capstan refuses `name`, if it does.
pub fn refusal(name: &str) -> Option<&'static str> {
    REFUSED.iter().find(|(n, _)| *n == name).map(|(_, why)| *why)
}

/// The plugin behind an upstream name, built from its configuration. Err: the name cannot
/// start: its configuration is invalid (upstream's message), or it is no upstream name. The
/// chain turns Err into a startup error naming the layer, key and plugin.
pub fn build(name: &str, init: &Init<'_>) -> Result<Built, String> {
    let p: Box<dyn Plugin> = match name {
        "MutatingAdmissionWebhook" => return Ok(Built::MutatingWebhooks),
        "ValidatingAdmissionWebhook" => return Ok(Built::ValidatingWebhooks),
        "ValidatingAdmissionPolicy" => return Ok(Built::Policy("ValidatingAdmissionPolicy")),
        "MutatingAdmissionPolicy" => return Ok(Built::Policy("MutatingAdmissionPolicy")),
        "AlwaysAdmit" => Box::new(always::AlwaysAdmit),
        "AlwaysDeny" => Box::new(always::AlwaysDeny),
        "NamespaceAutoProvision" => Box::new(namespace_autoprovision::NamespaceAutoProvision),
        "NamespaceLifecycle" => Box::new(lifecycle::NamespaceLifecycle),
        "NamespaceExists" => Box::new(namespace_exists::NamespaceExists),
        "LimitPodHardAntiAffinityTopology" => Box::new(anti_affinity::LimitPodHardAntiAffinityTopology),
        "LimitRanger" => Box::new(limit_ranger::LimitRanger),
        "ServiceAccount" => Box::new(service_account::ServiceAccount),
        "NodeRestriction" => Box::new(node_restriction::NodeRestriction::new(init.features)),
        "TaintNodesByCondition" => Box::new(taint_nodes::TaintNodesByCondition),
        "AlwaysPullImages" => Box::new(always_pull_images::AlwaysPullImages),
        "ImagePolicyWebhook" => Box::new(image_policy::ImagePolicyWebhook::new(init.config)?),
        "PodSecurity" => Box::new(pod_security::PodSecurity),
        "PodNodeSelector" => Box::new(pod_node_selector::PodNodeSelector::new(init.config)),
        "Priority" => Box::new(priority::Priority),
        "DefaultTolerationSeconds" => Box::new(default_toleration_seconds::DefaultTolerationSeconds),
        "PodTolerationRestriction" => Box::new(pod_toleration_restriction::PodTolerationRestriction::new(init.config)?),
        "EventRateLimit" => Box::new(event_rate_limit::EventRateLimit::new(init.config)?),
        "ExtendedResourceToleration" => Box::new(extended_resource_toleration::ExtendedResourceToleration),
        "DefaultStorageClass" => Box::new(default_storage_class::DefaultStorageClass),
        "StorageObjectInUseProtection" => Box::new(storage_protection::StorageObjectInUseProtection),
        "OwnerReferencesPermissionEnforcement" => Box::new(owner_references::OwnerReferencesPermissionEnforcement),
        "PersistentVolumeClaimResize" => Box::new(pvc_resize::PersistentVolumeClaimResize),
        "RuntimeClass" => Box::new(runtime_class::RuntimeClass),
        "CertificateApproval" => Box::new(certificates::CertificateApproval),
        "CertificateSigning" => Box::new(certificates::CertificateSigning),
        "ClusterTrustBundleAttest" => Box::new(ctb_attest::ClusterTrustBundleAttest),
        "CertificateSubjectRestriction" => Box::new(certificates::CertificateSubjectRestriction),
        "DefaultIngressClass" => Box::new(default_ingress_class::DefaultIngressClass),
        "DenyServiceExternalIPs" => Box::new(deny_external_ips::DenyServiceExternalIPs),
        "PodTopologyLabels" => Box::new(pod_topology_labels::PodTopologyLabels::new(init.features)),
        "ResourceQuota" => Box::new(resource_quota::ResourceQuota),
        other => return Err(format!("admission plugin {other:?} is unknown")),
    };
    Ok(Built::Plugin(p))
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

/// A plugin configuration of a versioned kind (`apiVersion: <group>/v1alpha1`, `kind: <kind>`)
/// as upstream's universal decoder accepts it; Err with its message otherwise.
pub fn typed_config<'a>(config: &'a Value, group: &str, kind: &str) -> Result<&'a Value, String> {
    let raw = config.to_string();
    let k = config.str_of("kind");
    if k.is_empty() {
        return Err(format!("Object 'Kind' is missing in '{raw}'"));
    }
    let v = config.str_of("apiVersion");
    if v.is_empty() {
        return Err(format!("Object 'apiVersion' is missing in '{raw}'"));
    }
    if k != kind || v != format!("{group}/v1alpha1") {
        return Err(format!("no kind {k:?} is registered for version {v:?}"));
    }
    Ok(config)
}
