//! Feature gates (`--feature-gates`): every gate kube-apiserver 1.33 knows ([`KNOWN`], generated
//! from upstream), upstream's checks of a setting ([`check`]), and the gates capstan acts on
//! ([`HONOURED`]). A known gate set to its default is accepted as upstream accepts it; set to the
//! other value, only the honoured gates work and any other is refused at startup, naming it.
pub use super::feature_gates_v133::KNOWN;
use super::ServeOptions;

/// A gate's pre-release stage at 1.33 (upstream's `featuregate.prerelease`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Known to the binary but not available at the emulated version: setting it fails.
    PreAlpha,
    Alpha,
    Beta,
    Ga,
    Deprecated,
}

/// One gate kube-apiserver 1.33 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    pub name: &'static str,
    pub default: bool,
    pub stage: Stage,
    /// `LockToDefault`: setting it to the other value fails.
    pub locked: bool,
}

/// The gate upstream knows by `name` (case-sensitive, as upstream).
pub fn known(name: &str) -> Option<&'static Gate> {
    KNOWN.binary_search_by(|g| g.name.cmp(name)).ok().map(|i| &KNOWN[i])
}

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
    /// The gates set (`kube:` prefixes dropped). An accepted `AllAlpha`/`AllBeta` changes no
    /// gate (see [`check`]), so only the gates named count.
    pub fn from_options(opts: &ServeOptions) -> FeatureGates {
        FeatureGates {
            set: opts
                .feature_gates
                .iter()
                .filter_map(|(k, v)| Some((gate_name(k).ok()?.to_string(), *v)))
                .collect(),
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

/// `name` without upstream's optional component prefix (`kube:SidecarContainers`), or the
/// prefix when it names another component (upstream: `component not registered: wardle`).
pub fn gate_name(key: &str) -> Result<&str, &str> {
    match key.split_once(':') {
        Some((component, name)) if component.trim() == "kube" => Ok(name.trim()),
        Some((component, _)) => Err(component.trim()),
        None => Ok(key.trim()),
    }
}

/// What upstream and capstan make of a `--feature-gates` setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateCheck {
    /// Upstream's own errors (unknown gate, locked gate, gate not available at 1.33), with its
    /// texts; capstan adds a suggestion to an unknown name.
    pub errors: Vec<String>,
    /// Gates set to a value upstream accepts but capstan does not implement (`name=value`).
    pub unimplemented: Vec<String>,
    /// Upstream's warnings for the GA and deprecated gates set (logged at startup).
    pub warnings: Vec<String>,
}

impl GateCheck {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty() && self.unimplemented.is_empty()
    }

    /// The refusal: upstream's errors, then the gates capstan does not implement.
    pub fn refusal(&self) -> Option<String> {
        if self.is_ok() {
            return None;
        }
        let mut parts = self.errors.clone();
        if !self.unimplemented.is_empty() {
            parts.push(format!(
                "capstan does not implement the feature {} {} (it acts on {}; every other gate keeps its 1.33 default)",
                if self.unimplemented.len() == 1 { "gate" } else { "gates" },
                self.unimplemented.join(", "),
                HONOURED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        }
        Some(parts.join("; "))
    }
}

/// Check `--feature-gates` (a JSON map of name to bool) as upstream's `featureGate.SetFromMap`
/// does at kube-apiserver startup, and against what capstan implements.
pub fn check(gates: &serde_json::Value) -> GateCheck {
    let mut out = GateCheck::default();
    let Some(map) = gates.as_object() else {
        return out;
    };
    let set: Vec<(&str, bool)> = map
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_bool()?)))
        .collect();
    let explicitly = |name: &str| set.iter().any(|(k, _)| gate_name(k) == Ok(name));
    for &(key, value) in &set {
        let name = match gate_name(key) {
            Ok(n) => n,
            Err(component) => {
                out.errors.push(format!("component not registered: {component}"));
                continue;
            }
        };
        let Some(gate) = known(name) else {
            let mut e = format!("unrecognized feature gate: {name}");
            if let Some(near) = super::flags::closest(name, KNOWN.iter().map(|g| g.name)) {
                e.push_str(&format!(" (did you mean {near}?)"));
            }
            out.errors.push(e);
            continue;
        };
        if gate.locked && gate.default != value {
            out.errors.push(format!(
                "cannot set feature gate {name} to {value}, feature is locked to {}",
                gate.default
            ));
            continue;
        }
        if let Some(stage) = match name {
            "AllAlpha" => Some(Stage::Alpha),
            "AllBeta" => Some(Stage::Beta),
            _ => None,
        } {
            // Upstream sets every gate of the stage not set explicitly to `value`: harmless
            // only when that changes none of them.
            let changes = KNOWN.iter().any(|g| {
                g.stage == stage
                    && !matches!(g.name, "AllAlpha" | "AllBeta")
                    && g.default != value
                    && !explicitly(g.name)
            });
            if changes {
                out.unimplemented.push(format!("{name}={value}"));
            }
            continue;
        }
        if gate.stage == Stage::PreAlpha {
            out.errors.push(format!(
                "cannot set feature gate {name} to {value}, feature is PreAlpha at emulated version 1.33"
            ));
            continue;
        }
        if value != gate.default && !HONOURED.iter().any(|(n, _)| *n == name) {
            out.unimplemented.push(format!("{name}={value}"));
        }
        match gate.stage {
            Stage::Deprecated => out.warnings.push(format!(
                "Setting deprecated feature gate {name}={value}. It will be removed in a future release."
            )),
            Stage::Ga => out.warnings.push(format!(
                "Setting GA feature gate {name}={value}. It will be removed in a future release."
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_overrides() {
        let g = FeatureGates::default();
        assert!(!g.enabled("PodTopologyLabelsAdmission"));
        assert!(g.enabled("ServiceAccountNodeAudienceRestriction"));
        let g = FeatureGates::with(&[("PodTopologyLabelsAdmission", true)]);
        assert!(g.enabled("PodTopologyLabelsAdmission"));
    }

    /// The generated table: sorted (for `known`), and upstream's gates as kube-apiserver 1.33.13
    /// lists them.
    #[test]
    fn known_gates_are_upstreams() {
        assert!(KNOWN.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(KNOWN.len(), 191);
        let gate = |name, default, stage, locked| Gate {
            name,
            default,
            stage,
            locked,
        };
        for want in [
            gate("SidecarContainers", true, Stage::Ga, true),
            gate("APIResponseCompression", true, Stage::Beta, false),
            gate("MutatingAdmissionPolicy", false, Stage::Alpha, false),
            gate(
                "AllowInsecureKubeletCertificateSigningRequests",
                false,
                Stage::Deprecated,
                false,
            ),
            gate("AllAlpha", false, Stage::Alpha, false),
            gate("AllBeta", false, Stage::Beta, false),
            // Registered by component-base's logging, which kube-apiserver links.
            gate("LoggingBetaOptions", true, Stage::Beta, false),
        ] {
            assert_eq!(known(want.name), Some(&want));
        }
        assert_eq!(known("sidecarcontainers"), None);
        // Every gate capstan acts on is upstream's, with upstream's default.
        for (name, default) in HONOURED {
            assert_eq!(known(name).map(|g| g.default), Some(*default), "{name}");
        }
    }

    #[test]
    fn unknown_gate_is_upstreams_error_with_a_suggestion() {
        let c = check(&json!({"Foo": true}));
        assert_eq!(c.errors, vec!["unrecognized feature gate: Foo"]);
        assert_eq!(c.refusal().as_deref(), Some("unrecognized feature gate: Foo"));
        let c = check(&json!({"SidecarContainer": true}));
        assert_eq!(
            c.errors,
            vec!["unrecognized feature gate: SidecarContainer (did you mean SidecarContainers?)"]
        );
        // Upstream's component prefix: `kube:` is the apiserver's own, any other is unknown.
        assert_eq!(
            check(&json!({"kube:Foo": true})).errors,
            vec!["unrecognized feature gate: Foo"]
        );
        assert_eq!(
            check(&json!({"wardle:Foo": true})).errors,
            vec!["component not registered: wardle"]
        );
    }

    #[test]
    fn gates_at_their_defaults_are_accepted_ga_and_deprecated_with_upstreams_warning() {
        let c = check(&json!({
            "SidecarContainers": true,
            "APIResponseCompression": true,
            "WatchList": false,
            "kube:JobSuccessPolicy": true,
            "AllowInsecureKubeletCertificateSigningRequests": false,
            "AllAlpha": false,
        }));
        assert!(c.is_ok(), "{c:?}");
        assert_eq!(c.refusal(), None);
        let mut warnings = c.warnings.clone();
        warnings.sort();
        assert_eq!(
            warnings,
            vec![
                "Setting GA feature gate JobSuccessPolicy=true. It will be removed in a future release.",
                "Setting GA feature gate SidecarContainers=true. It will be removed in a future release.",
                "Setting deprecated feature gate AllowInsecureKubeletCertificateSigningRequests=false. It will be removed in a future release.",
            ]
        );
    }

    #[test]
    fn locked_gate_set_to_the_other_value_is_upstreams_error() {
        let c = check(&json!({"SidecarContainers": false}));
        assert_eq!(
            c.errors,
            vec!["cannot set feature gate SidecarContainers to false, feature is locked to true"]
        );
        assert!(c.unimplemented.is_empty() && c.warnings.is_empty(), "{c:?}");
    }

    #[test]
    fn unimplemented_gate_set_to_the_other_value_is_refused_naming_it() {
        let c = check(&json!({"APIResponseCompression": false, "ImageVolume": true, "SidecarContainers": true}));
        assert!(c.errors.is_empty(), "{c:?}");
        assert_eq!(
            c.unimplemented,
            vec!["APIResponseCompression=false", "ImageVolume=true"]
        );
        let why = c.refusal().unwrap();
        assert!(
            why.starts_with(
                "capstan does not implement the feature gates APIResponseCompression=false, ImageVolume=true ("
            ) && why.contains("PodTopologyLabelsAdmission, MutatingAdmissionPolicy,")
                && why.contains("VolumeAttributesClass, DRAAdminAccess,"),
            "{why}"
        );
        // AllBeta=false would turn off the beta gates on by default; AllAlpha=true every alpha one.
        assert_eq!(check(&json!({"AllBeta": false})).unimplemented, vec!["AllBeta=false"]);
        assert_eq!(check(&json!({"AllAlpha": true})).unimplemented, vec!["AllAlpha=true"]);
    }

    #[test]
    fn honoured_gates_work_at_either_value() {
        for (name, default) in HONOURED {
            for value in [*default, !*default] {
                let c = check(&json!({ *name: value }));
                assert!(c.is_ok(), "{name}={value}: {c:?}");
            }
        }
        let mut opts = ServeOptions::default();
        opts.feature_gates
            .insert("kube:PodTopologyLabelsAdmission".into(), true);
        opts.feature_gates
            .insert("ServiceAccountNodeAudienceRestriction".into(), false);
        let g = FeatureGates::from_options(&opts);
        assert!(g.enabled("PodTopologyLabelsAdmission"));
        assert!(!g.enabled("ServiceAccountNodeAudienceRestriction"));
    }
}
