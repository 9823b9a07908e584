//! RBAC policy rules: matching a request against a rule (upstream `rbac.RuleAllows`) and
//! whether one set of rules covers another (upstream `validation.Covers`, the escalation check).

use super::Attributes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An `rbac.authorization.k8s.io/v1` PolicyRule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(default, rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

/// The `rules` of a Role/ClusterRole object (malformed entries are skipped).
pub fn rules_of(obj: &Value) -> Vec<Rule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| serde_json::from_value(r.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn has(set: &[String], v: &str) -> bool {
    set.iter().any(|s| s == v)
}

fn has_or_star(set: &[String], v: &str) -> bool {
    set.iter().any(|s| s == "*" || s == v)
}

fn resource_matches(rule: &Rule, combined: &str, sub: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == "*"
            || r == combined
            || (!sub.is_empty() && r.len() == sub.len() + 2 && r.starts_with("*/") && r.ends_with(sub))
    })
}

fn url_matches(pattern: &str, path: &str) -> bool {
    pattern == "*" || pattern == path || (pattern.ends_with('*') && path.starts_with(pattern.trim_end_matches('*')))
}

impl Rule {
    /// Does this rule allow the request?
    pub fn allows(&self, a: &Attributes<'_>) -> bool {
        if !has_or_star(&self.verbs, a.verb) {
            return false;
        }
        if !a.is_resource {
            return self.non_resource_urls.iter().any(|u| url_matches(u, a.path));
        }
        let combined = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        has_or_star(&self.api_groups, a.api_group)
            && resource_matches(self, &combined, a.subresource)
            && (self.resource_names.is_empty() || has(&self.resource_names, a.name))
    }

    /// Does this rule grant everything `sub` grants (upstream `ruleCovers`)?
    pub fn covers(&self, sub: &Rule) -> bool {
        let all = |owner: &[String], wanted: &[String]| has(owner, "*") || wanted.iter().all(|w| has(owner, w));
        let resources = has(&self.resources, "*")
            || sub.resources.iter().all(|r| {
                has(&self.resources, r)
                    || r.split_once('/')
                        .is_some_and(|(_, s)| has(&self.resources, &format!("*/{s}")))
            });
        let urls = sub.non_resource_urls.iter().all(|p| {
            self.non_resource_urls
                .iter()
                .any(|o| o == p || (o.ends_with('*') && p.starts_with(o.trim_end_matches('*'))))
        });
        let names = if sub.resource_names.is_empty() {
            self.resource_names.is_empty()
        } else {
            self.resource_names.is_empty() || sub.resource_names.iter().all(|n| has(&self.resource_names, n))
        };
        all(&self.verbs, &sub.verbs) && all(&self.api_groups, &sub.api_groups) && resources && urls && names
    }

    /// One rule per (group, resource, name, verb) or (url, verb): upstream `BreakdownRule`.
    pub fn breakdown(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        let one = |v: &str| vec![v.to_string()];
        for g in &self.api_groups {
            for r in &self.resources {
                for v in &self.verbs {
                    if self.resource_names.is_empty() {
                        out.push(Rule {
                            verbs: one(v),
                            api_groups: one(g),
                            resources: one(r),
                            ..Default::default()
                        });
                    }
                    for n in &self.resource_names {
                        out.push(Rule {
                            verbs: one(v),
                            api_groups: one(g),
                            resources: one(r),
                            resource_names: one(n),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        for u in &self.non_resource_urls {
            for v in &self.verbs {
                out.push(Rule {
                    verbs: one(v),
                    non_resource_urls: one(u),
                    ..Default::default()
                });
            }
        }
        out
    }

    /// Upstream `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "list"]}`.
    pub fn compact_string(&self) -> String {
        let q = |v: &[String]| {
            let items: Vec<String> = v.iter().map(|s| crate::util::go_quote(s)).collect();
            format!("[{}]", items.join(" "))
        };
        let mut parts = Vec::new();
        for (label, v) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !v.is_empty() {
                parts.push(format!("{label}:{}", q(v)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// Rules in `wanted` not covered by any of `owner` (broken down to single permissions), with
/// simple resource rules merged per (group, resource) as upstream's `CompactRules` does.
pub fn missing(owner: &[Rule], wanted: &[Rule]) -> Vec<Rule> {
    let mut miss: Vec<Rule> = Vec::new();
    for w in wanted.iter().flat_map(Rule::breakdown) {
        if owner.iter().any(|o| o.covers(&w)) {
            continue;
        }
        let simple = w.resource_names.is_empty() && w.non_resource_urls.is_empty() && !w.resources.is_empty();
        if simple {
            if let Some(m) = miss.iter_mut().find(|m| {
                m.resource_names.is_empty()
                    && m.non_resource_urls.is_empty()
                    && m.api_groups == w.api_groups
                    && m.resources == w.resources
            }) {
                if !m.verbs.contains(&w.verbs[0]) {
                    m.verbs.push(w.verbs[0].clone());
                }
                continue;
            }
        }
        if !miss.contains(&w) {
            miss.push(w);
        }
    }
    miss
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::UserInfo;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Rule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Rule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..Default::default()
        }
    }

    fn attrs<'a>(user: &'a UserInfo, verb: &'a str, group: &'a str, res: &'a str, sub: &'a str) -> Attributes<'a> {
        Attributes {
            user,
            verb,
            is_resource: true,
            api_group: group,
            api_version: "v1",
            namespace: "ns",
            resource: res,
            subresource: sub,
            name: "obj",
            path: "",
            field_selector: "",
        }
    }

    #[test]
    fn matches_verbs_groups_resources_and_subresources() {
        let u = UserInfo::default();
        let r = rule(&["get", "list"], &[""], &["pods", "pods/log"]);
        assert!(r.allows(&attrs(&u, "get", "", "pods", "")));
        assert!(r.allows(&attrs(&u, "get", "", "pods", "log")));
        assert!(!r.allows(&attrs(&u, "get", "", "pods", "exec")));
        assert!(!r.allows(&attrs(&u, "delete", "", "pods", "")));
        assert!(!r.allows(&attrs(&u, "get", "apps", "pods", "")));
        let star = rule(&["*"], &["*"], &["*"]);
        assert!(star.allows(&attrs(&u, "escalate", "rbac.authorization.k8s.io", "roles", "")));
        let sub = rule(&["get"], &[""], &["*/status"]);
        assert!(sub.allows(&attrs(&u, "get", "", "pods", "status")));
        assert!(!sub.allows(&attrs(&u, "get", "", "pods", "")));
        assert!(!sub.allows(&attrs(&u, "get", "", "pods", "xstatus")));
    }

    #[test]
    fn resource_names_and_urls() {
        let u = UserInfo::default();
        let mut r = rule(&["get"], &[""], &["configmaps"]);
        r.resource_names = vec!["obj".into()];
        assert!(r.allows(&attrs(&u, "get", "", "configmaps", "")));
        r.resource_names = vec!["other".into()];
        assert!(!r.allows(&attrs(&u, "get", "", "configmaps", "")));
        let urls = Rule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/apis/*".into()],
            ..Default::default()
        };
        let mut a = attrs(&u, "get", "", "", "");
        a.is_resource = false;
        a.path = "/apis/apps/v1";
        assert!(urls.allows(&a));
        a.path = "/healthz";
        assert!(urls.allows(&a));
        a.path = "/healthz/etcd";
        assert!(!urls.allows(&a));
        // A resource rule never matches a non-resource request.
        assert!(!rule(&["*"], &["*"], &["*"]).allows(&a));
    }

    #[test]
    fn covers_and_missing() {
        let owner = vec![rule(&["get", "list"], &[""], &["configmaps", "*/status"])];
        assert!(owner[0].covers(&rule(&["get"], &[""], &["configmaps"])));
        assert!(owner[0].covers(&rule(&["get"], &[""], &["pods/status"])));
        assert!(!owner[0].covers(&rule(&["get"], &[""], &["secrets"])));
        let wanted = vec![rule(&["get", "list", "delete"], &[""], &["configmaps", "secrets"])];
        let m = missing(&owner, &wanted);
        let text: Vec<String> = m.iter().map(Rule::compact_string).collect();
        assert_eq!(
            text,
            vec![
                r#"{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}"#,
                r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "delete"]}"#
            ]
        );
        assert!(missing(&[rule(&["*"], &["*"], &["*"])], &wanted).is_empty());
    }
}
