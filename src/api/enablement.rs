//! Which built-in rows a server serves: a row is served when `--runtime-config` (merged over
//! upstream's defaults, [`ApiEnablement`]) enables its group/version — or the resource itself —
//! and its feature gate, if it has one, is on. Computed once at startup; the registry,
//! discovery, OpenAPI, the caches and the local APIServices are built from the result, so a
//! request never checks enablement.
//!
//! Enabling an off-by-default group/version that upstream 1.33 serves but capstan has no rows
//! for fails startup, naming it ("nothing silently ignored"); resource.k8s.io (all three
//! versions) is served.

use super::ResourceDef;
use crate::config::features::FeatureGates;
use crate::config::runtime_config::ApiEnablement;
use std::sync::OnceLock;

/// What kube-apiserver 1.33.13 serves in its off-by-default group/versions once they are
/// enabled (listed from a real server started with `--runtime-config=api/all=true`). Gated
/// resources are listed only where their gate can be on in capstan: the ClusterTrustBundle
/// and StorageVersionMigrator gates are off by default and capstan refuses to set them, so
/// upstream would serve no `clustertrustbundles` or `storageversionmigrations` either. Other
/// off-by-default versions (flowcontrol v1beta1–3, authentication v1beta1/v1alpha1,
/// networking and storage v1alpha1, the registered apps/batch/… betas) serve nothing in 1.33.
pub const UPSTREAM_OFF_BY_DEFAULT: &[(&str, &str, &[&str])] = &[
    (
        "admissionregistration.k8s.io",
        "v1alpha1",
        &["mutatingadmissionpolicies", "mutatingadmissionpolicybindings"],
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        &["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
    ),
    ("coordination.k8s.io", "v1alpha2", &["leasecandidates"]),
    ("coordination.k8s.io", "v1beta1", &["leasecandidates"]),
    ("internal.apiserver.k8s.io", "v1alpha1", &["storageversions"]),
    ("networking.k8s.io", "v1beta1", &["ipaddresses", "servicecidrs"]),
    (
        "resource.k8s.io",
        "v1alpha3",
        &[
            "deviceclasses",
            "devicetaintrules",
            "resourceclaims",
            "resourceclaimtemplates",
            "resourceslices",
        ],
    ),
    (
        "resource.k8s.io",
        "v1beta1",
        &[
            "deviceclasses",
            "resourceclaims",
            "resourceclaimtemplates",
            "resourceslices",
        ],
    ),
    (
        "resource.k8s.io",
        "v1beta2",
        &[
            "deviceclasses",
            "resourceclaims",
            "resourceclaimtemplates",
            "resourceslices",
        ],
    ),
    ("storage.k8s.io", "v1alpha1", &["volumeattributesclasses"]),
    ("storage.k8s.io", "v1beta1", &["volumeattributesclasses"]),
];

/// Is `r` served under this enablement and these gates?
pub fn is_served(r: &ResourceDef, en: &ApiEnablement, gates: &FeatureGates) -> bool {
    en.resource_enabled(r.group, r.version, r.plural) && r.availability.gate.is_none_or(|g| gates.enabled(g))
}

/// The built-in rows to serve, in table order. Errors when the configuration enables
/// resources upstream serves that capstan has no row for, naming each group/version.
pub fn served_rows(
    rows: &'static [ResourceDef],
    en: &ApiEnablement,
    gates: &FeatureGates,
) -> Result<Vec<&'static ResourceDef>, String> {
    let mut missing: Vec<String> = Vec::new();
    for (group, version, resources) in UPSTREAM_OFF_BY_DEFAULT {
        let lacking: Vec<&str> = resources
            .iter()
            .filter(|res| en.resource_enabled(group, version, res))
            .filter(|res| {
                !rows
                    .iter()
                    .any(|r| (r.group, r.version, r.plural) == (*group, *version, **res))
            })
            .copied()
            .collect();
        if !lacking.is_empty() {
            missing.push(format!("{group}/{version} ({})", lacking.join(", ")));
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "--runtime-config enables {}: upstream 1.33 serves these when enabled, but capstan does not \
             implement them; disable them (e.g. <group>/<version>=false after api/all=true or api/beta=true)",
            missing.join(", ")
        ));
    }
    // kube-apiserver 1.33 panics at startup without core v1 (its legacy REST storage needs it).
    if !en.version_enabled("", "v1") {
        return Err("--runtime-config disables v1 (the core API): kube-apiserver 1.33 cannot start without it".into());
    }
    let served: Vec<&'static ResourceDef> = rows.iter().filter(|r| is_served(r, en, gates)).collect();
    // The aggregator's own check (kube-aggregator `NewWithDelegate`), in upstream's words.
    if !served
        .iter()
        .any(|r| (r.group, r.version, r.plural) == ("apiregistration.k8s.io", "v1", "apiservices"))
    {
        return Err("API group/version apiregistration.k8s.io/v1 must be enabled".into());
    }
    Ok(served)
}

/// The built-in rows a server with no `--runtime-config` and default gates serves.
pub fn default_rows() -> &'static [&'static ResourceDef] {
    static ROWS: OnceLock<Vec<&'static ResourceDef>> = OnceLock::new();
    ROWS.get_or_init(|| {
        super::builtin()
            .iter()
            .filter(|r| is_served(r, &ApiEnablement::default(), &FeatureGates::default()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Availability, ResourceDef};
    use std::collections::BTreeMap;

    fn parse(pairs: &[(&str, &str)]) -> ApiEnablement {
        let rc: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ApiEnablement::parse(&rc, true).unwrap()
    }

    fn plurals(rows: &[&ResourceDef]) -> Vec<String> {
        rows.iter()
            .map(|r| format!("{}/{}/{}", r.group, r.version, r.plural))
            .collect()
    }

    /// A synthetic off-by-default, gated row (as MutatingAdmissionPolicy's) next to a GA one.
    fn synthetic() -> &'static [ResourceDef] {
        static ROWS: OnceLock<Vec<ResourceDef>> = OnceLock::new();
        ROWS.get_or_init(|| {
            let ga = *crate::api::builtin_row("admissionregistration.k8s.io", "validatingadmissionpolicies").unwrap();
            let alpha = |plural: &'static str| ResourceDef {
                version: "v1alpha1",
                plural,
                availability: Availability::off_by_default(Some("PodTopologyLabelsAdmission")),
                ..ga
            };
            vec![
                *crate::api::builtin_row("apiregistration.k8s.io", "apiservices").unwrap(),
                ga,
                alpha("mutatingadmissionpolicies"),
                alpha("mutatingadmissionpolicybindings"),
            ]
        })
    }

    #[test]
    fn gated_off_by_default_row_needs_version_and_gate() {
        let on = FeatureGates::with(&[("PodTopologyLabelsAdmission", true)]);
        let off = FeatureGates::default();
        let ga_only = vec![
            "apiregistration.k8s.io/v1/apiservices".to_string(),
            "admissionregistration.k8s.io/v1/validatingadmissionpolicies".to_string(),
        ];
        let all = |gates: &FeatureGates, pairs: &[(&str, &str)]| {
            plurals(&served_rows(synthetic(), &parse(pairs), gates).unwrap())
        };
        assert_eq!(all(&on, &[]), ga_only, "off by default even with the gate");
        assert_eq!(all(&off, &[("admissionregistration.k8s.io/v1alpha1", "true")]), ga_only);
        assert_eq!(all(&on, &[("admissionregistration.k8s.io/v1alpha1", "true")]).len(), 4);
        assert_eq!(
            all(
                &on,
                &[
                    ("api/alpha", "true"),
                    ("coordination.k8s.io/v1alpha2", "false"),
                    ("internal.apiserver.k8s.io/v1alpha1", "false"),
                    ("resource.k8s.io/v1alpha3", "false"),
                    ("storage.k8s.io/v1alpha1", "false")
                ]
            )
            .len(),
            4,
            "api/alpha enables it too"
        );
        let e = served_rows(synthetic(), &parse(&[("api/alpha", "true")]), &on).unwrap_err();
        assert!(
            e.contains("resource.k8s.io/v1alpha3") && !e.contains("admissionregistration"),
            "{e}"
        );
        assert_eq!(
            all(
                &on,
                &[(
                    "admissionregistration.k8s.io/v1alpha1/mutatingadmissionpolicies",
                    "true"
                )]
            )
            .len(),
            3,
            "one resource"
        );
        // Without rows for the version, enabling it is refused, naming it.
        let e = served_rows(
            &synthetic()[..2],
            &parse(&[("admissionregistration.k8s.io/v1alpha1", "true")]),
            &on,
        )
        .unwrap_err();
        assert!(
            e.contains(
                "admissionregistration.k8s.io/v1alpha1 (mutatingadmissionpolicies, mutatingadmissionpolicybindings)"
            ),
            "{e}"
        );
    }

    #[test]
    fn disabling_removes_rows_and_unimplemented_versions_are_named() {
        let gates = FeatureGates::default();
        let rows = served_rows(crate::api::builtin(), &parse(&[("batch/v1", "false")]), &gates).unwrap();
        assert!(rows.iter().all(|r| r.group != "batch"));
        assert!(rows.iter().any(|r| r.group == "apps"));
        let rows = served_rows(crate::api::builtin(), &parse(&[("batch/v1/jobs", "false")]), &gates).unwrap();
        assert!(rows.iter().any(|r| r.plural == "cronjobs") && !rows.iter().any(|r| r.plural == "jobs"));
        // Every version upstream serves off by default has rows: api/all serves them all.
        let rows = served_rows(crate::api::builtin(), &parse(&[("api/all", "true")]), &gates).unwrap();
        for (g, v, res) in UPSTREAM_OFF_BY_DEFAULT {
            for p in *res {
                assert!(
                    rows.iter().any(|r| (r.group, r.version, r.plural) == (*g, *v, *p)),
                    "{g}/{v} {p}"
                );
            }
        }
        let e = served_rows(
            crate::api::builtin(),
            &parse(&[("apiregistration.k8s.io/v1/apiservices", "false")]),
            &gates,
        )
        .unwrap_err();
        assert_eq!(e, "API group/version apiregistration.k8s.io/v1 must be enabled");
        let e = served_rows(crate::api::builtin(), &parse(&[("api/v1/pods", "false")]), &gates).unwrap_err();
        assert!(e.contains("disables v1 (the core API)"), "{e}");
        // Versions upstream registers but serves nothing in are accepted.
        assert!(served_rows(
            crate::api::builtin(),
            &parse(&[("flowcontrol.apiserver.k8s.io/v1beta3", "true")]),
            &gates
        )
        .is_ok());
        assert_eq!(
            default_rows().len(),
            crate::api::builtin()
                .iter()
                .filter(|r| r.availability.on_by_default)
                .count()
        );
    }

    #[test]
    fn every_row_gate_is_honoured_and_defaults_match_upstream() {
        let en = ApiEnablement::default();
        for r in crate::api::builtin() {
            if let Some(g) = r.availability.gate {
                assert!(
                    crate::config::features::HONOURED.iter().any(|(n, _)| *n == g),
                    "{r:?}: gate {g}"
                );
            }
            assert_eq!(
                r.availability.on_by_default,
                en.resource_enabled(r.group, r.version, r.plural),
                "{r:?}: on_by_default disagrees with DefaultAPIResourceConfigSource"
            );
        }
    }
    #[test]
    fn resource_api_versions_serve_upstreams_resources() {
        let gates = FeatureGates::default();
        let served = |pairs: &[(&str, &str)]| {
            let rows = served_rows(crate::api::builtin(), &parse(pairs), &gates).unwrap();
            rows.iter()
                .filter(|r| r.group == "resource.k8s.io")
                .map(|r| format!("{}/{}", r.version, r.plural))
                .collect::<Vec<_>>()
        };
        assert!(served(&[]).is_empty(), "off by default");
        assert_eq!(
            served(&[("resource.k8s.io/v1beta1", "true")]),
            [
                "v1beta1/deviceclasses",
                "v1beta1/resourceclaims",
                "v1beta1/resourceclaimtemplates",
                "v1beta1/resourceslices"
            ]
        );
        // No gate is needed: upstream's REST storage checks none (DRADeviceTaints included).
        let all = served(&[
            ("resource.k8s.io/v1beta2", "true"),
            ("resource.k8s.io/v1alpha3", "true"),
        ]);
        assert_eq!(all.len(), 9, "{all:?}");
        assert!(all.contains(&"v1alpha3/devicetaintrules".to_string()));
        for (group, version, resources) in UPSTREAM_OFF_BY_DEFAULT
            .iter()
            .filter(|(g, _, _)| *g == "resource.k8s.io")
        {
            for res in *resources {
                assert!(
                    crate::api::builtin()
                        .iter()
                        .any(|r| (r.group, r.version, r.plural) == (*group, *version, *res)),
                    "{version}/{res}"
                );
            }
        }
    }
}
