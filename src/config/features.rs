//! The feature gates capstan acts on (`--feature-gates`), with upstream 1.33's defaults. Setting
//! any other gate is refused at startup, naming it (see `flags::refusal`).

use super::ServeOptions;

/// Gate name and its default in kube-apiserver 1.33 (`pkg/features/kube_features.go`).
pub const HONOURED: &[(&str, bool)] = &[
    // PodTopologyLabels admission and the binding storage copying the Binding's labels (alpha).
    ("PodTopologyLabelsAdmission", false),
    // MutatingAdmissionPolicy admission and its v1alpha1 API (alpha; the API also needs
    // --runtime-config=admissionregistration.k8s.io/v1alpha1=true).
    ("MutatingAdmissionPolicy", false),
    // NodeRestriction: a node's token audiences must come from its pods' volumes (beta).
    ("ServiceAccountNodeAudienceRestriction", true),
    // NodeRestriction: nodes may create kubelet CSRs for any CN (deprecated).
    ("AllowInsecureKubeletCertificateSigningRequests", false),
    // NodeRestriction: PVC status updates may also change allocatedResource(Statuse)s (beta).
    ("RecoverVolumeExpansionFailure", true),
    // --authentication-config (beta); off refuses the flag.
    ("StructuredAuthenticationConfiguration", true),
    // The `anonymous` section of --authentication-config (beta); off refuses the section.
    ("AnonymousAuthConfigurableEndpoints", true),
    // Pods keep spec.resourceClaims, containers' resources.claims and
    // status.resourceClaimStatuses (beta, off: dropped on write unless already in use).
    ("DynamicResourceAllocation", false),
    // resource.k8s.io: requests' firstAvailable (alpha; dropped unless in use).
    ("DRAPrioritizedList", false),
    // resource.k8s.io: ResourceSlice device taints (alpha; dropped unless in use).
    ("DRADeviceTaints", false),
    // resource.k8s.io: sharedCounters, consumesCounters, per-device node selection (alpha).
    ("DRAPartitionableDevices", false),
    // PV/PVC volumeAttributesClassName and PVC status.currentVolumeAttributesClassName /
    // modifyVolumeStatus kept and validated, the class changeable (beta; off: dropped unless in
    // use, changes forbidden).
    ("VolumeAttributesClass", false),
    // resource.k8s.io: requests' and allocation results' adminAccess (alpha; dropped unless in
    // use), allowed only in namespaces labelled `resource.k8s.io/admin-access: "true"`.
    ("DRAAdminAccess", false),
    // resource.k8s.io: ResourceClaim status.devices (beta).
    ("DRAResourceClaimDeviceStatus", true),
];

/// The gates in effect: the operator's `--feature-gates` over upstream's defaults.
#[derive(Debug, Clone, Default)]
pub struct FeatureGates {
    set: std::collections::BTreeMap<String, bool>,
}

impl FeatureGates {
    pub fn from_options(opts: &ServeOptions) -> FeatureGates {
        FeatureGates {
            set: opts.feature_gates.clone(),
        }
    }

    /// These gates set, the rest at their defaults.
    pub fn with(gates: &[(&str, bool)]) -> FeatureGates {
        FeatureGates {
            set: gates.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    /// Is the honoured gate `name` on? (A name outside [`HONOURED`] is a programming error
    /// caught by the unit tests: it reads as off.)
    pub fn enabled(&self, name: &str) -> bool {
        let default = HONOURED.iter().find(|(n, _)| *n == name).map(|(_, d)| *d);
        debug_assert!(default.is_some(), "feature gate {name} is not in HONOURED");
        self.set.get(name).copied().or(default).unwrap_or(false)
    }
}

/// The gates in `--feature-gates` (a JSON map) that capstan does not act on.
pub fn unhonoured(gates: &serde_json::Value) -> Vec<String> {
    gates
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|k| !HONOURED.iter().any(|(n, _)| n == k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let g = FeatureGates::default();
        assert!(!g.enabled("PodTopologyLabelsAdmission"));
        assert!(g.enabled("ServiceAccountNodeAudienceRestriction"));
        let g = FeatureGates::with(&[("PodTopologyLabelsAdmission", true)]);
        assert!(g.enabled("PodTopologyLabelsAdmission"));
        let set = serde_json::json!({"PodTopologyLabelsAdmission": true, "SomethingElse": true});
        assert_eq!(unhonoured(&set), vec!["SomethingElse"]);
    }
}
