//! Built-in rows, one file per API group: every resource a default kube-apiserver 1.33 serves
//! (core v1, every GA group/version enabled by default, plus `apiextensions.k8s.io/v1` and
//! `apiregistration.k8s.io/v1`). Order: core first, then named groups in upstream's discovery
//! priority order (`/apis` of a real server); within a group the preferred version comes first.
//!
//! Sources: `api/discovery/api__v1.json` and `api/discovery/aggregated_v2.json` (names, verbs,
//! short names, categories, subresources), `test/integration/etcd/data.go` (etcd paths, i.e. the
//! `storage` column), and each kind's `strategy.go` / validation (generation, name rule).

mod admissionregistration;
mod apiextensions;
mod apiregistration;
mod apiserverinternal;
mod apps;
mod authentication;
mod authorization;
mod autoscaling;
mod batch;
mod certificates;
mod coordination;
mod core;
mod discovery;
mod events;
mod flowcontrol;
mod networking;
mod node;
mod policy;
mod rbac;
mod resource;
mod scheduling;
mod storage;

use super::{Availability, Builtin, Gvk, NameRule, ResourceDef, Scope, Served, ALL_VERBS};
use std::sync::OnceLock;

/// Verbs of connect-style and other non-standard subresources, as upstream's discovery lists them.
const CREATE: &[&str] = &["create"];
const CREATE_GET: &[&str] = &["create", "get"];
const GET: &[&str] = &["get"];
const GET_LIST: &[&str] = &["get", "list"];
const UPDATE: &[&str] = &["update"];
/// `pods/proxy`, `nodes/proxy`, `services/proxy`.
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

/// A core/v1 response kind other than the parent's (connect option kinds, `Binding`).
const fn core_kind(kind: &'static str) -> Option<Gvk> {
    Some(Gvk {
        group: "",
        version: "v1",
        kind,
    })
}

/// A row with the common defaults: all verbs, no short names/categories/subresources, storage
/// key = plural, stored, DNS-subdomain names, no generation. Rows override fields with
/// struct-update syntax.
const fn def(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    scope: Scope,
) -> ResourceDef {
    ResourceDef {
        group,
        version,
        kind,
        plural,
        singular,
        short_names: &[],
        categories: &[],
        scope,
        verbs: ALL_VERBS,
        subresources: &[],
        storage: plural,
        served: Served::Store,
        name_rule: NameRule::Subdomain,
        generation: false,
        strategy: &Builtin::DEFAULT,
        availability: Availability::ON,
    }
}

/// Every group's rows, core first, then `/apis` priority order.
const GROUPS: &[&[ResourceDef]] = &[
    core::ROWS,
    apiregistration::ROWS,
    apps::ROWS,
    events::ROWS,
    authentication::ROWS,
    authorization::ROWS,
    autoscaling::ROWS,
    batch::ROWS,
    certificates::ROWS,
    networking::ROWS,
    policy::ROWS,
    rbac::ROWS,
    storage::ROWS,
    admissionregistration::ROWS,
    apiextensions::ROWS,
    scheduling::ROWS,
    coordination::ROWS,
    node::ROWS,
    discovery::ROWS,
    resource::ROWS,
    flowcontrol::ROWS,
    apiserverinternal::ROWS,
];

/// Every built-in row.
pub fn all() -> &'static [ResourceDef] {
    static ALL: OnceLock<Vec<ResourceDef>> = OnceLock::new();
    ALL.get_or_init(|| GROUPS.iter().flat_map(|rows| rows.iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn find(group: &str, version: &str, plural: &str) -> &'static ResourceDef {
        all()
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .unwrap_or_else(|| panic!("missing {group}/{version} {plural}"))
    }

    fn sub_names(r: &ResourceDef) -> Vec<&'static str> {
        r.subresources.iter().map(|s| s.name).collect()
    }

    #[test]
    fn no_duplicate_group_version_plural() {
        let mut seen = BTreeSet::new();
        for r in all() {
            assert!(
                seen.insert((r.group, r.version, r.plural)),
                "duplicate row {}/{} {}",
                r.group,
                r.version,
                r.plural
            );
        }
    }

    #[test]
    fn no_duplicate_kind_within_group_version() {
        let mut seen = BTreeSet::new();
        for r in all() {
            assert!(
                seen.insert((r.group, r.version, r.kind)),
                "duplicate kind {}/{} {}",
                r.group,
                r.version,
                r.kind
            );
        }
    }

    /// apiserver-facts §2.2: every core resource, its kind, scope and short names.
    #[test]
    fn core_resources_match_upstream() {
        let expected: &[(&str, &str, Scope, &[&str])] = &[
            ("bindings", "Binding", Scope::Namespaced, &[]),
            ("componentstatuses", "ComponentStatus", Scope::Cluster, &["cs"]),
            ("configmaps", "ConfigMap", Scope::Namespaced, &["cm"]),
            ("endpoints", "Endpoints", Scope::Namespaced, &["ep"]),
            ("events", "Event", Scope::Namespaced, &["ev"]),
            ("limitranges", "LimitRange", Scope::Namespaced, &["limits"]),
            ("namespaces", "Namespace", Scope::Cluster, &["ns"]),
            ("nodes", "Node", Scope::Cluster, &["no"]),
            (
                "persistentvolumeclaims",
                "PersistentVolumeClaim",
                Scope::Namespaced,
                &["pvc"],
            ),
            ("persistentvolumes", "PersistentVolume", Scope::Cluster, &["pv"]),
            ("pods", "Pod", Scope::Namespaced, &["po"]),
            ("podtemplates", "PodTemplate", Scope::Namespaced, &[]),
            (
                "replicationcontrollers",
                "ReplicationController",
                Scope::Namespaced,
                &["rc"],
            ),
            ("resourcequotas", "ResourceQuota", Scope::Namespaced, &["quota"]),
            ("secrets", "Secret", Scope::Namespaced, &[]),
            ("serviceaccounts", "ServiceAccount", Scope::Namespaced, &["sa"]),
            ("services", "Service", Scope::Namespaced, &["svc"]),
        ];
        let core: Vec<&ResourceDef> = all().iter().filter(|r| r.group.is_empty()).collect();
        assert_eq!(
            core.len(),
            expected.len(),
            "core rows: {:?}",
            core.iter().map(|r| r.plural).collect::<Vec<_>>()
        );
        for (plural, kind, scope, short) in expected {
            let r = find("", "v1", plural);
            assert_eq!(r.kind, *kind, "{plural}");
            assert_eq!(r.scope, *scope, "{plural}");
            assert_eq!(r.short_names, *short, "{plural}");
        }
        // Same order as /api/v1 (alphabetical by plural).
        let plurals: Vec<&str> = core.iter().map(|r| r.plural).collect();
        let mut sorted = plurals.clone();
        sorted.sort_unstable();
        assert_eq!(plurals, sorted);
    }

    #[test]
    fn core_subresources_and_verbs_match_upstream() {
        let pods = find("", "v1", "pods");
        assert_eq!(
            sub_names(pods),
            [
                "attach",
                "binding",
                "ephemeralcontainers",
                "eviction",
                "exec",
                "log",
                "portforward",
                "proxy",
                "resize",
                "status"
            ]
        );
        assert_eq!(pods.categories, ["all"]);
        let sub = |r: &'static ResourceDef, n: &str| r.subresource(n).unwrap_or_else(|| panic!("{}/{n}", r.plural));
        assert_eq!(sub(pods, "attach").verbs, ["create", "get"]);
        assert_eq!(sub(pods, "exec").verbs, ["create", "get"]);
        assert_eq!(sub(pods, "portforward").verbs, ["create", "get"]);
        assert_eq!(sub(pods, "log").verbs, ["get"]);
        assert_eq!(sub(pods, "binding").verbs, ["create"]);
        assert_eq!(sub(pods, "eviction").verbs, ["create"]);
        assert_eq!(sub(pods, "resize").verbs, ["get", "patch", "update"]);
        assert_eq!(sub(pods, "ephemeralcontainers").verbs, ["get", "patch", "update"]);
        assert_eq!(sub(pods, "proxy").verbs, ["create", "delete", "get", "patch", "update"]);
        assert_eq!(
            sub(pods, "eviction").response,
            Some(Gvk {
                group: "policy",
                version: "v1",
                kind: "Eviction"
            })
        );
        assert_eq!(
            sub(pods, "binding").response,
            Some(Gvk {
                group: "",
                version: "v1",
                kind: "Binding"
            })
        );
        assert_eq!(
            sub(pods, "exec").response,
            Some(Gvk {
                group: "",
                version: "v1",
                kind: "PodExecOptions"
            })
        );
        assert_eq!(sub(pods, "log").response, None);
        assert_eq!(sub(pods, "status").served, Served::Store);
        assert_eq!(sub(pods, "exec").served, Served::Connect);
        assert_eq!(sub(pods, "resize").served, Served::Store);

        let ns = find("", "v1", "namespaces");
        assert_eq!(
            ns.verbs,
            ["create", "delete", "get", "list", "patch", "update", "watch"]
        );
        assert!(!ns.has_verb("deletecollection"));
        assert_eq!(sub_names(ns), ["finalize", "status"]);
        assert_eq!(sub(ns, "finalize").verbs, ["update"]);
        assert_eq!(sub(ns, "finalize").served, Served::Store);

        let nodes = find("", "v1", "nodes");
        assert_eq!(sub_names(nodes), ["proxy", "status"]);
        assert_eq!(
            sub(nodes, "proxy").response,
            Some(Gvk {
                group: "",
                version: "v1",
                kind: "NodeProxyOptions"
            })
        );
        let svc = find("", "v1", "services");
        assert_eq!(sub_names(svc), ["proxy", "status"]);
        assert_eq!(svc.categories, ["all"]);

        let sa = find("", "v1", "serviceaccounts");
        assert_eq!(sub_names(sa), ["token"]);
        assert_eq!(
            sub(sa, "token").response,
            Some(Gvk {
                group: "authentication.k8s.io",
                version: "v1",
                kind: "TokenRequest"
            })
        );
        assert_eq!(sub(sa, "token").verbs, ["create"]);
        assert_eq!(sub(sa, "token").served, Served::Review);

        let rc = find("", "v1", "replicationcontrollers");
        assert_eq!(sub_names(rc), ["scale", "status"]);
        assert_eq!(
            sub(rc, "scale").response,
            Some(Gvk {
                group: "autoscaling",
                version: "v1",
                kind: "Scale"
            })
        );

        let cs = find("", "v1", "componentstatuses");
        assert_eq!(cs.verbs, ["get", "list"]);
        assert_eq!(cs.served, Served::Probed);
        let bindings = find("", "v1", "bindings");
        assert_eq!(bindings.verbs, ["create"]);
        assert_eq!(bindings.served, Served::Pod(crate::api::PodWrite::Binding));
    }

    /// `ExpectedEtcdPath` in test/integration/etcd/data.go.
    #[test]
    fn storage_keys_match_upstream_etcd_paths() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("", "v1", "services", "services/specs"),
            ("", "v1", "nodes", "minions"),
            ("", "v1", "endpoints", "services/endpoints"),
            ("", "v1", "replicationcontrollers", "controllers"),
            ("", "v1", "pods", "pods"),
            ("", "v1", "events", "events"),
            ("events.k8s.io", "v1", "events", "events"),
            (
                "autoscaling",
                "v1",
                "horizontalpodautoscalers",
                "horizontalpodautoscalers",
            ),
            (
                "autoscaling",
                "v2",
                "horizontalpodautoscalers",
                "horizontalpodautoscalers",
            ),
            ("networking.k8s.io", "v1", "ingresses", "ingress"),
            ("networking.k8s.io", "v1", "ipaddresses", "ipaddresses"),
            ("networking.k8s.io", "v1", "servicecidrs", "servicecidrs"),
            (
                "apiregistration.k8s.io",
                "v1",
                "apiservices",
                "apiregistration.k8s.io/apiservices",
            ),
            (
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "apiextensions.k8s.io/customresourcedefinitions",
            ),
            (
                "certificates.k8s.io",
                "v1",
                "certificatesigningrequests",
                "certificatesigningrequests",
            ),
            (
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "prioritylevelconfigurations",
                "prioritylevelconfigurations",
            ),
        ];
        for (g, v, plural, storage) in cases {
            assert_eq!(find(g, v, plural).storage, *storage, "{g}/{v} {plural}");
        }
    }

    #[test]
    fn storage_keys_are_consistent() {
        let mut by_storage: BTreeMap<&str, (&str, Scope)> = BTreeMap::new();
        for r in all() {
            if r.served == Served::Store {
                assert!(!r.storage.is_empty(), "{} has no storage key", r.plural);
            }
            if r.storage.is_empty() {
                assert!(r.subresources.is_empty() && r.served != Served::Store, "{}", r.plural);
                continue;
            }
            assert!(
                !r.storage.starts_with('/') && !r.storage.ends_with('/'),
                "{}",
                r.storage
            );
            // Rows sharing a key are versions/aliases of one kind and scope.
            let prev = by_storage.entry(r.storage).or_insert((r.kind, r.scope));
            assert_eq!(
                *prev,
                (r.kind, r.scope),
                "storage {} shared by different kinds",
                r.storage
            );
        }
    }

    /// A short name resolves to one resource: rows sharing it must share storage (HPA v1/v2,
    /// core and events.k8s.io events).
    #[test]
    fn short_names_unique_across_table() {
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for r in all() {
            for s in r.short_names {
                assert!(!s.is_empty());
                let prev = owner.entry(s).or_insert(r.storage);
                assert_eq!(*prev, r.storage, "short name {s} used by different resources");
                assert!(
                    all().iter().all(|o| o.plural != *s),
                    "short name {s} collides with a plural"
                );
            }
        }
        assert_eq!(owner.get("ev"), Some(&"events"));
        assert_eq!(owner.get("hpa"), Some(&"horizontalpodautoscalers"));
        assert_eq!(owner.get("ip"), Some(&"ipaddresses"));
    }

    /// The order of `/apis` groups in a real 1.33 server (aggregated_v2.json).
    #[test]
    fn groups_in_upstream_priority_order() {
        let mut order: Vec<&str> = Vec::new();
        for r in all() {
            if order.last() != Some(&r.group) {
                assert!(!order.contains(&r.group), "group {} is not contiguous", r.group);
                order.push(r.group);
            }
        }
        assert_eq!(
            order,
            [
                "",
                "apiregistration.k8s.io",
                "apps",
                "events.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io",
                "autoscaling",
                "batch",
                "certificates.k8s.io",
                "networking.k8s.io",
                "policy",
                "rbac.authorization.k8s.io",
                "storage.k8s.io",
                "admissionregistration.k8s.io",
                "apiextensions.k8s.io",
                "scheduling.k8s.io",
                "coordination.k8s.io",
                "node.k8s.io",
                "discovery.k8s.io",
                // Off by default; with --runtime-config after discovery.k8s.io (same priority,
                // then by name, as the aggregator sorts).
                "resource.k8s.io",
                "flowcontrol.apiserver.k8s.io",
                "internal.apiserver.k8s.io",
            ]
        );
    }

    #[test]
    fn versions_served_by_default_in_1_33() {
        let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in all().iter().filter(|r| r.availability.on_by_default) {
            let v = versions.entry(r.group).or_default();
            if !v.contains(&r.version) {
                v.push(r.version);
            }
        }
        for (group, v) in &versions {
            let expected: &[&str] = if *group == "autoscaling" {
                &["v2", "v1"]
            } else {
                &["v1"]
            };
            assert_eq!(v, expected, "versions of {group:?}");
        }
        // Off by default: beta versions with the GA schema, served over the GA objects.
        for (g, v, p) in [
            ("admissionregistration.k8s.io", "v1beta1", "validatingadmissionpolicies"),
            (
                "admissionregistration.k8s.io",
                "v1beta1",
                "validatingadmissionpolicybindings",
            ),
            ("networking.k8s.io", "v1beta1", "ipaddresses"),
            ("networking.k8s.io", "v1beta1", "servicecidrs"),
        ] {
            let beta = find(g, v, p);
            let ga = find(g, "v1", p);
            assert!(
                !beta.availability.on_by_default && beta.availability.gate.is_none(),
                "{beta:?}"
            );
            assert_eq!(
                (beta.kind, beta.storage, beta.subresources),
                (ga.kind, ga.storage, ga.subresources)
            );
        }
        // Off by default, stored in their beta version (upstream's storage-version overrides):
        // the alpha row converts to it.
        for (g, beta, alpha, p) in [
            ("coordination.k8s.io", "v1beta1", "v1alpha2", "leasecandidates"),
            ("storage.k8s.io", "v1beta1", "v1alpha1", "volumeattributesclasses"),
        ] {
            let (b, a) = (find(g, beta, p), find(g, alpha, p));
            for r in [b, a] {
                assert!(!r.availability.on_by_default && r.availability.gate.is_none(), "{r:?}");
            }
            assert_eq!((b.kind, b.storage, b.scope), (a.kind, a.storage, a.scope));
            assert!(all().iter().position(|r| std::ptr::eq(r, b)) < all().iter().position(|r| std::ptr::eq(r, a)));
            let mut obj = serde_json::json!({"apiVersion": format!("{g}/{alpha}")});
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(a.strategy.to_storage(a, &mut obj)).unwrap();
            assert_eq!(obj["apiVersion"], format!("{g}/{beta}"));
        }
        let sv = find("internal.apiserver.k8s.io", "v1alpha1", "storageversions");
        assert_eq!((sv.scope, sub_names(sv)), (Scope::Cluster, vec!["status"]));
        assert_eq!(sv.name_rule, NameRule::GroupResource);
        assert_eq!(
            find("coordination.k8s.io", "v1beta1", "leasecandidates").name_rule,
            NameRule::ConfigMapKey
        );
        // GA in 1.33.
        let cidr = find("networking.k8s.io", "v1", "servicecidrs");
        assert_eq!((cidr.kind, cidr.scope), ("ServiceCIDR", Scope::Cluster));
        assert_eq!(sub_names(cidr), ["status"]);
        let ip = find("networking.k8s.io", "v1", "ipaddresses");
        assert_eq!(
            (ip.kind, ip.scope, ip.short_names),
            ("IPAddress", Scope::Cluster, &["ip"][..])
        );
    }

    #[test]
    fn review_apis_are_create_only() {
        for (g, plural, scope) in [
            ("authentication.k8s.io", "tokenreviews", Scope::Cluster),
            ("authentication.k8s.io", "selfsubjectreviews", Scope::Cluster),
            ("authorization.k8s.io", "subjectaccessreviews", Scope::Cluster),
            ("authorization.k8s.io", "selfsubjectaccessreviews", Scope::Cluster),
            ("authorization.k8s.io", "selfsubjectrulesreviews", Scope::Cluster),
            ("authorization.k8s.io", "localsubjectaccessreviews", Scope::Namespaced),
        ] {
            let r = find(g, "v1", plural);
            assert_eq!(r.verbs, ["create"], "{plural}");
            assert_eq!(r.scope, scope, "{plural}");
            assert_eq!(r.served, Served::Review, "{plural}");
        }
    }

    #[test]
    fn categories_match_upstream() {
        let mut all_cat: Vec<&str> = all()
            .iter()
            .filter(|r| r.availability.on_by_default)
            .filter(|r| r.categories.contains(&"all"))
            .map(|r| r.plural)
            .collect();
        all_cat.dedup();
        assert_eq!(
            all_cat,
            [
                "pods",
                "replicationcontrollers",
                "services",
                "daemonsets",
                "deployments",
                "replicasets",
                "statefulsets",
                "horizontalpodautoscalers",
                "cronjobs",
                "jobs"
            ]
        );
        let ext: Vec<&str> = all()
            .iter()
            .filter(|r| r.availability.on_by_default)
            .filter(|r| r.categories.contains(&"api-extensions"))
            .map(|r| r.plural)
            .collect();
        assert_eq!(
            ext,
            [
                "apiservices",
                "mutatingwebhookconfigurations",
                "validatingadmissionpolicies",
                "validatingadmissionpolicybindings",
                "validatingwebhookconfigurations",
                "customresourcedefinitions"
            ]
        );
        // Off by default, and in api-extensions once enabled (as upstream's discovery).
        for plural in ["mutatingadmissionpolicies", "mutatingadmissionpolicybindings"] {
            let r = find("admissionregistration.k8s.io", "v1alpha1", plural);
            assert!(!r.availability.on_by_default && r.categories.contains(&"api-extensions"));
        }
        assert_eq!(
            find("apiextensions.k8s.io", "v1", "customresourcedefinitions").short_names,
            ["crd", "crds"]
        );
    }

    #[test]
    fn name_rules_match_upstream_validation() {
        assert_eq!(find("", "v1", "namespaces").name_rule, NameRule::Label);
        assert_eq!(find("", "v1", "services").name_rule, NameRule::Rfc1035Label);
        assert_eq!(find("apps", "v1", "statefulsets").name_rule, NameRule::Label);
        assert_eq!(find("apps", "v1", "deployments").name_rule, NameRule::Subdomain);
        for plural in ["roles", "clusterroles", "rolebindings", "clusterrolebindings"] {
            assert_eq!(
                find("rbac.authorization.k8s.io", "v1", plural).name_rule,
                NameRule::PathSegment
            );
        }
        assert_eq!(
            find("apiregistration.k8s.io", "v1", "apiservices").name_rule,
            NameRule::PathSegment
        );
        assert_eq!(
            find("networking.k8s.io", "v1", "ipaddresses").name_rule,
            NameRule::PathSegment
        );
        assert_eq!(find("events.k8s.io", "v1", "events").name_rule, NameRule::Subdomain);
    }

    #[test]
    fn generation_follows_upstream_strategies() {
        let with: &[(&str, &str, &str)] = &[
            ("", "v1", "pods"),
            ("", "v1", "podtemplates"),
            ("", "v1", "replicationcontrollers"),
            ("apps", "v1", "deployments"),
            ("apps", "v1", "statefulsets"),
            ("batch", "v1", "jobs"),
            ("batch", "v1", "cronjobs"),
            ("policy", "v1", "poddisruptionbudgets"),
            ("networking.k8s.io", "v1", "ingresses"),
            ("networking.k8s.io", "v1", "ingressclasses"),
            ("networking.k8s.io", "v1", "networkpolicies"),
            ("discovery.k8s.io", "v1", "endpointslices"),
            ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            (
                "admissionregistration.k8s.io",
                "v1",
                "validatingadmissionpolicybindings",
            ),
            ("flowcontrol.apiserver.k8s.io", "v1", "flowschemas"),
        ];
        for (g, v, p) in with {
            assert!(find(g, v, p).generation, "{g}/{v} {p}");
        }
        let without: &[(&str, &str, &str)] = &[
            ("", "v1", "configmaps"),
            ("", "v1", "services"),
            ("", "v1", "namespaces"),
            ("autoscaling", "v2", "horizontalpodautoscalers"),
            ("networking.k8s.io", "v1", "servicecidrs"),
            ("apiregistration.k8s.io", "v1", "apiservices"),
        ];
        for (g, v, p) in without {
            assert!(!find(g, v, p).generation, "{g}/{v} {p}");
        }
    }

    #[test]
    fn rows_are_well_formed() {
        for r in all() {
            assert!(!r.verbs.is_empty(), "{}", r.plural);
            assert!(
                r.verbs.windows(2).all(|w| w[0] < w[1]),
                "verbs of {} not sorted",
                r.plural
            );
            assert!(r.plural.bytes().all(|b| b.is_ascii_lowercase()), "{}", r.plural);
            assert!(r.singular.bytes().all(|b| b.is_ascii_lowercase()), "{}", r.singular);
            let mut names = BTreeSet::new();
            for s in r.subresources {
                assert!(names.insert(s.name), "duplicate subresource {}/{}", r.plural, s.name);
                assert!(!s.verbs.is_empty());
            }
            // Subresources listed alphabetically, as discovery does.
            let listed: Vec<&str> = r.subresources.iter().map(|s| s.name).collect();
            let mut sorted = listed.clone();
            sorted.sort_unstable();
            assert_eq!(listed, sorted, "{}", r.plural);
        }
    }
}
