//! `--runtime-config`: which built-in group/versions and resources are enabled, merged over
//! upstream 1.33's defaults exactly as kube-apiserver does it — the key rewrite of
//! `pkg/controlplane/apiserver/options` (`v1`, `api/v1[/…]` → `/v1`, `api/legacy` dropped),
//! `APIEnablementOptions.Validate` and `validateAPIPriorityAndFairness`, then
//! `resourceconfig.MergeAPIResourceConfigs` over `DefaultAPIResourceConfigSource` (and the
//! apiextensions and aggregator servers' own defaults). Error texts are upstream's.
//!
//! This module only answers "is this group/version/resource enabled"; which rows are served
//! (rows, feature gates, off-by-default versions capstan lacks) is `crate::api::enablement`.

use std::collections::{BTreeMap, BTreeSet};

/// Every group/version upstream 1.33's schemes register (the kube-apiserver's `legacyscheme`,
/// apiextensions' and the aggregator's): what a `<group>/<version>` key may name. A group
/// outside this list is an unknown group; a version outside its group's list was "not
/// registered".
pub const REGISTERED: &[(&str, &[&str])] = &[
    ("", &["v1"]),
    ("admission.k8s.io", &["v1", "v1beta1"]),
    ("admissionregistration.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("internal.apiserver.k8s.io", &["v1alpha1"]),
    ("apps", &["v1", "v1beta1", "v1beta2"]),
    ("authentication.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("authorization.k8s.io", &["v1", "v1beta1"]),
    ("autoscaling", &["v1", "v2", "v2beta1", "v2beta2"]),
    ("batch", &["v1", "v1beta1"]),
    ("certificates.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("coordination.k8s.io", &["v1", "v1beta1", "v1alpha2"]),
    ("discovery.k8s.io", &["v1", "v1beta1"]),
    ("events.k8s.io", &["v1", "v1beta1"]),
    ("extensions", &["v1beta1"]),
    ("flowcontrol.apiserver.k8s.io", &["v1", "v1beta1", "v1beta2", "v1beta3"]),
    ("imagepolicy.k8s.io", &["v1alpha1"]),
    ("networking.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("node.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("policy", &["v1", "v1beta1"]),
    ("rbac.authorization.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("resource.k8s.io", &["v1alpha3", "v1beta1", "v1beta2"]),
    ("scheduling.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("storage.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("storagemigration.k8s.io", &["v1alpha1"]),
    ("apiextensions.k8s.io", &["v1", "v1beta1"]),
    ("apiregistration.k8s.io", &["v1", "v1beta1"]),
];

/// `DefaultAPIResourceConfigSource` of kube-apiserver 1.33 (`pkg/controlplane/instance.go`:
/// the stable list on, the beta and alpha lists off) plus the apiextensions and aggregator
/// servers' defaults. `api/all|ga|beta|alpha` act on exactly these.
pub const DEFAULTS: &[(&str, &str, bool)] = &[
    // stableAPIGroupVersionsEnabledByDefault
    ("admissionregistration.k8s.io", "v1", true),
    ("", "v1", true),
    ("apps", "v1", true),
    ("authentication.k8s.io", "v1", true),
    ("authorization.k8s.io", "v1", true),
    ("autoscaling", "v1", true),
    ("autoscaling", "v2", true),
    ("batch", "v1", true),
    ("certificates.k8s.io", "v1", true),
    ("coordination.k8s.io", "v1", true),
    ("discovery.k8s.io", "v1", true),
    ("events.k8s.io", "v1", true),
    ("networking.k8s.io", "v1", true),
    ("node.k8s.io", "v1", true),
    ("policy", "v1", true),
    ("rbac.authorization.k8s.io", "v1", true),
    ("storage.k8s.io", "v1", true),
    ("scheduling.k8s.io", "v1", true),
    ("flowcontrol.apiserver.k8s.io", "v1", true),
    // betaAPIGroupVersionsDisabledByDefault
    ("admissionregistration.k8s.io", "v1beta1", false),
    ("authentication.k8s.io", "v1beta1", false),
    ("certificates.k8s.io", "v1beta1", false),
    ("coordination.k8s.io", "v1beta1", false),
    ("storage.k8s.io", "v1beta1", false),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", false),
    ("flowcontrol.apiserver.k8s.io", "v1beta2", false),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", false),
    ("networking.k8s.io", "v1beta1", false),
    ("resource.k8s.io", "v1beta1", false),
    ("resource.k8s.io", "v1beta2", false),
    // alphaAPIGroupVersionsDisabledByDefault
    ("admissionregistration.k8s.io", "v1alpha1", false),
    ("internal.apiserver.k8s.io", "v1alpha1", false),
    ("authentication.k8s.io", "v1alpha1", false),
    ("coordination.k8s.io", "v1alpha2", false),
    ("resource.k8s.io", "v1alpha3", false),
    ("certificates.k8s.io", "v1alpha1", false),
    ("networking.k8s.io", "v1alpha1", false),
    ("storage.k8s.io", "v1alpha1", false),
    ("storagemigration.k8s.io", "v1alpha1", false),
    // apiextensions-apiserver and kube-aggregator (their v1beta1 serve nothing since 1.22)
    ("apiextensions.k8s.io", "v1beta1", true),
    ("apiextensions.k8s.io", "v1", true),
    ("apiregistration.k8s.io", "v1", true),
    ("apiregistration.k8s.io", "v1beta1", true),
];

type Gv = (String, String);
type Gvr = (String, String, String);

/// The merged enablement (upstream's `ResourceConfig`): group/version switches, and resource
/// switches that take priority over their version's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEnablement {
    versions: BTreeMap<Gv, bool>,
    resources: BTreeMap<Gvr, bool>,
}

impl Default for ApiEnablement {
    /// Upstream's defaults, no `--runtime-config`.
    fn default() -> ApiEnablement {
        ApiEnablement {
            versions: DEFAULTS
                .iter()
                .map(|(g, v, on)| ((g.to_string(), v.to_string()), *on))
                .collect(),
            resources: BTreeMap::new(),
        }
    }
}

fn is_ga(v: &str) -> bool {
    v.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `v<digits><level><digits>`.
fn is_level(v: &str, level: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let major = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest[major..].strip_prefix(level) {
        Some(minor) => major > 0 && !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// Which versions a level key addresses.
type Matcher = fn(&str) -> bool;

/// `api/all|ga|beta|alpha`, in the order upstream applies them.
const MATCHERS: &[(&str, Matcher)] = &[
    ("api/all", |_| true),
    ("api/ga", is_ga),
    ("api/beta", |v| is_level(v, "beta")),
    ("api/alpha", |v| is_level(v, "alpha")),
];

fn registered_group(group: &str) -> Option<&'static [&'static str]> {
    REGISTERED.iter().find(|(g, _)| *g == group).map(|(_, vs)| *vs)
}

/// `schema.ParseGroupVersion` of `<a>/<b>` (always two parts here): the group and version.
fn group_version(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

/// `--runtime-config` as kube-apiserver completes it: core keys become `/v1` (a core
/// resource key switches the whole of core v1, as upstream), `api/legacy` is dropped.
fn complete(raw: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        if k == "v1" || k.starts_with("v1/") || k == "api/v1" || k.starts_with("api/v1/") {
            out.insert("/v1".to_string(), v.clone());
        } else if k != "api/legacy" {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

impl ApiEnablement {
    /// Merge `--runtime-config` over the defaults. `apf`: `--enable-priority-and-fairness`
    /// (its API cannot be disabled while it is on). Errors are upstream's texts, in its order.
    pub fn parse(raw: &BTreeMap<String, String>, apf: bool) -> Result<ApiEnablement, Vec<String>> {
        let rc = complete(raw);
        validate(&rc, apf)?;
        let mut en = ApiEnablement::default();
        for (key, matches) in MATCHERS {
            let Some(value) = rc.get(*key) else { continue };
            let on = match value.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(vec![format!("invalid value {key}={value}")]),
            };
            for (gv, enabled) in en.versions.iter_mut() {
                if matches(&gv.1) {
                    *enabled = on;
                }
            }
            // (resource switches do not exist yet at this point)
        }
        let mut versions = Vec::new();
        let mut resources = Vec::new();
        for (key, value) in &rc {
            if MATCHERS.iter().any(|(m, _)| m == key) {
                continue;
            }
            let tokens: Vec<&str> = key.split('/').collect();
            if tokens.len() < 2 || tokens.len() > 3 {
                continue;
            }
            let gv = group_version(tokens[0], tokens[1]);
            let Some(known) = registered_group(&gv.0) else {
                continue;
            };
            if !known.contains(&gv.1.as_str()) {
                let shown = if gv.0.is_empty() {
                    gv.1.clone()
                } else {
                    format!("{}/{}", gv.0, gv.1)
                };
                return Err(vec![format!("group version {shown} that has not been registered")]);
            }
            let on = if value.is_empty() {
                true
            } else {
                crate::config::value::parse_go_bool(value).ok_or_else(|| {
                    vec![format!(
                        "invalid value of {key}: {value}, err: strconv.ParseBool: parsing {value:?}: invalid syntax"
                    )]
                })?
            };
            match tokens.get(2) {
                None => versions.push((gv, on)),
                Some(res) => {
                    if res.to_lowercase() != *res {
                        return Err(vec![format!(
                            "invalid key {key}: group/version/resource and resource is always lowercase plural, not {res:?}"
                        )]);
                    }
                    resources.push(((gv.0, gv.1, res.to_string()), on));
                }
            }
        }
        // Version switches first (each clears its resources' switches), resources last.
        for (gv, on) in versions {
            en.resources
                .retain(|r, _| (r.0.as_str(), r.1.as_str()) != (gv.0.as_str(), gv.1.as_str()));
            en.versions.insert(gv, on);
        }
        for (gvr, on) in resources {
            en.resources.insert(gvr, on);
        }
        Ok(en)
    }

    /// Upstream's `ResourceEnabled`: the resource's own switch, else its group/version's.
    pub fn resource_enabled(&self, group: &str, version: &str, resource: &str) -> bool {
        let gvr = (group.to_string(), version.to_string(), resource.to_string());
        match self.resources.get(&gvr) {
            Some(on) => *on,
            None => self.version_enabled(group, version),
        }
    }

    pub fn version_enabled(&self, group: &str, version: &str) -> bool {
        self.versions
            .get(&(group.to_string(), version.to_string()))
            .copied()
            .unwrap_or(false)
    }
}

/// `validateAPIPriorityAndFairness` and `APIEnablementOptions.Validate`.
fn validate(rc: &BTreeMap<String, String>, apf: bool) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    if apf {
        // Upstream searches the flag's text form (sorted `k=v` pairs) in this order.
        let text = rc.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        for key in ["flowcontrol.apiserver.k8s.io/v1", "api/ga", "api/all"] {
            if text.contains(&format!("{key}=false")) {
                errs.push(format!(
                    "--runtime-config={key}=false conflicts with --enable-priority-and-fairness=true"
                ));
                break;
            }
            if text.contains(&format!("{key}=true")) {
                break;
            }
        }
    }
    if rc.get("api/all").is_some_and(|v| v == "false") && rc.len() == 1 {
        errs.push("invalid key with only api/all=false".to_string());
        return Err(errs);
    }
    let mut unknown = BTreeSet::new();
    for key in rc.keys() {
        if MATCHERS.iter().any(|(m, _)| m == key) {
            continue;
        }
        let tokens: Vec<&str> = key.split('/').collect();
        if tokens.len() != 2 && tokens.len() != 3 {
            errs.push(format!("runtime-config invalid key {key}"));
            return Err(errs);
        }
        if registered_group(tokens[0]).is_none() {
            unknown.insert(tokens[0].to_string());
        }
    }
    if !unknown.is_empty() {
        errs.push(format!(
            "unknown api groups {}",
            unknown.into_iter().collect::<Vec<_>>().join(",")
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<ApiEnablement, Vec<String>> {
        ApiEnablement::parse(&rc(pairs), true)
    }

    #[test]
    fn defaults_follow_upstream_lists() {
        let en = ApiEnablement::default();
        assert!(en.resource_enabled("batch", "v1", "jobs"));
        assert!(en.resource_enabled("", "v1", "pods"));
        assert!(!en.resource_enabled("admissionregistration.k8s.io", "v1beta1", "validatingadmissionpolicies"));
        assert!(!en.version_enabled("resource.k8s.io", "v1beta2"));
        assert!(
            !en.version_enabled("apps", "v1beta1"),
            "registered but not in the defaults"
        );
    }

    #[test]
    fn levels_and_versions() {
        let en = parse(&[("api/beta", "true")]).unwrap();
        assert!(en.version_enabled("networking.k8s.io", "v1beta1"));
        assert!(en.version_enabled("batch", "v1"));
        assert!(!en.version_enabled("admissionregistration.k8s.io", "v1alpha1"));
        let en = parse(&[("api/all", "true"), ("resource.k8s.io/v1beta1", "false")]).unwrap();
        assert!(en.version_enabled("admissionregistration.k8s.io", "v1alpha1"));
        assert!(!en.version_enabled("resource.k8s.io", "v1beta1"));
        // api/all only touches the defaults' group/versions; explicit keys add others.
        assert!(!en.version_enabled("apps", "v1beta1"));
        let en = parse(&[("apps/v1beta1", "")]).unwrap();
        assert!(en.version_enabled("apps", "v1beta1"), "an empty value means true");
        let en = parse(&[
            ("api/ga", "false"),
            ("v1", "true"),
            ("flowcontrol.apiserver.k8s.io/v1", "true"),
        ])
        .unwrap();
        assert!(!en.version_enabled("batch", "v1"));
        assert!(en.resource_enabled("", "v1", "pods"));
    }

    #[test]
    fn resource_switches_win_over_their_version() {
        let en = parse(&[("batch/v1/jobs", "false")]).unwrap();
        assert!(!en.resource_enabled("batch", "v1", "jobs"));
        assert!(en.resource_enabled("batch", "v1", "cronjobs"));
        let en = parse(&[("batch/v1", "false"), ("batch/v1/jobs", "true")]).unwrap();
        assert!(en.resource_enabled("batch", "v1", "jobs"));
        assert!(!en.resource_enabled("batch", "v1", "cronjobs"));
        let en = parse(&[(
            "admissionregistration.k8s.io/v1beta1/validatingadmissionpolicies",
            "true",
        )])
        .unwrap();
        assert!(en.resource_enabled("admissionregistration.k8s.io", "v1beta1", "validatingadmissionpolicies"));
        assert!(!en.resource_enabled(
            "admissionregistration.k8s.io",
            "v1beta1",
            "validatingadmissionpolicybindings"
        ));
        // A core resource key switches all of core v1 (upstream's rewrite to `/v1`).
        let en = parse(&[("api/v1/pods", "false"), ("batch/v1", "true")]).unwrap();
        assert!(!en.resource_enabled("", "v1", "configmaps"));
    }

    #[test]
    fn upstream_error_texts() {
        let one = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().join("; ");
        assert_eq!(
            one(&[("api/all", "false")]),
            "--runtime-config=api/all=false conflicts with --enable-priority-and-fairness=true; invalid key with only api/all=false"
        );
        assert_eq!(one(&[("api/all", "maybe")]), "invalid value api/all=maybe");
        assert_eq!(one(&[("api/beta", "")]), "invalid value api/beta=");
        assert_eq!(
            one(&[("batch/v1", "maybe")]),
            "invalid value of batch/v1: maybe, err: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(
            one(&[("batch/v9", "true")]),
            "group version batch/v9 that has not been registered"
        );
        assert_eq!(
            one(&[("foo.io/v1", "true"), ("bar/v1", "")]),
            "unknown api groups bar,foo.io"
        );
        assert_eq!(
            one(&[("batch/v1/Jobs", "false")]),
            "invalid key batch/v1/Jobs: group/version/resource and resource is always lowercase plural, not \"Jobs\""
        );
        assert_eq!(one(&[("a/b/c/d", "true")]), "runtime-config invalid key a/b/c/d");
        assert_eq!(one(&[("batch", "true")]), "runtime-config invalid key batch");
        assert_eq!(
            one(&[("flowcontrol.apiserver.k8s.io/v1", "false")]),
            "--runtime-config=flowcontrol.apiserver.k8s.io/v1=false conflicts with --enable-priority-and-fairness=true"
        );
        assert!(ApiEnablement::parse(&rc(&[("flowcontrol.apiserver.k8s.io/v1", "false")]), false).is_ok());
        assert!(parse(&[("api/legacy", "false")]).is_ok(), "api/legacy is dropped");
    }
}
