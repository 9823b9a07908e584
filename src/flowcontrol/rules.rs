//! FlowSchemas and PriorityLevelConfigurations as the dispatcher uses them, read once from the
//! stored objects, and request classification (upstream `rule.go`): the first FlowSchema, in
//! precedence order, with a rule whose subjects match the user and whose resource or
//! non-resource rule matches the request.

use crate::request::{RequestInfo, UserInfo};
use crate::util::json::JsonExt;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distinguisher {
    ByUser,
    ByNamespace,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    User(String),
    Group(String),
    ServiceAccount {
        namespace: String,
        name: String,
    },
    /// A kind this server does not know matches nobody.
    Other,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub cluster_scope: bool,
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyRules {
    pub subjects: Vec<Subject>,
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
}

/// The `Dangling` condition as stored (status, reason, message).
pub type Condition = (String, String, String);

#[derive(Debug, Clone, PartialEq)]
pub struct FlowSchema {
    pub name: String,
    pub uid: String,
    pub precedence: i64,
    pub level: String,
    pub distinguisher: Option<Distinguisher>,
    pub rules: Vec<PolicyRules>,
    pub dangling: Option<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queuing {
    pub queues: usize,
    pub hand_size: usize,
    pub queue_length_limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PriorityLevel {
    pub name: String,
    pub uid: String,
    pub exempt: bool,
    pub shares: i64,
    pub lendable_percent: Option<i64>,
    pub borrowing_limit_percent: Option<i64>,
    /// None: rejects when full (`Reject`, and the exempt level).
    pub queuing: Option<Queuing>,
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

impl FlowSchema {
    /// The stored object, read leniently (validation already ran on write).
    pub fn from_value(v: &Value) -> FlowSchema {
        let spec = v.get("spec").cloned().unwrap_or(Value::Null);
        let distinguisher = match spec.str_at("/distinguisherMethod/type") {
            "ByUser" => Some(Distinguisher::ByUser),
            "ByNamespace" => Some(Distinguisher::ByNamespace),
            _ => None,
        };
        let rules = spec
            .get("rules")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(rules_of).collect())
            .unwrap_or_default();
        let dangling = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.str_at("/type") == "Dangling"))
            .map(|c| {
                (
                    c.str_at("/status").to_string(),
                    c.str_at("/reason").to_string(),
                    c.str_at("/message").to_string(),
                )
            });
        FlowSchema {
            name: v.str_at("/metadata/name").to_string(),
            uid: v.str_at("/metadata/uid").to_string(),
            precedence: spec.get("matchingPrecedence").and_then(Value::as_i64).unwrap_or(1000),
            level: spec.str_at("/priorityLevelConfiguration/name").to_string(),
            distinguisher,
            rules,
            dangling,
        }
    }

    /// Whether the request matches one of the schema's rules.
    pub fn matches(&self, user: &UserInfo, info: &RequestInfo) -> bool {
        self.rules.iter().any(|r| r.matches(user, info))
    }

    /// The flow distinguisher of a request classified here.
    pub fn distinguish(&self, user: &UserInfo, info: &RequestInfo) -> String {
        match self.distinguisher {
            None => String::new(),
            Some(Distinguisher::ByUser) => user.name.clone(),
            Some(Distinguisher::ByNamespace) => info.namespace.clone().unwrap_or_default(),
        }
    }
}

fn rules_of(r: &Value) -> PolicyRules {
    let subjects = r
        .get("subjects")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|sub| match sub.str_at("/kind") {
                    "User" => Subject::User(sub.str_at("/user/name").to_string()),
                    "Group" => Subject::Group(sub.str_at("/group/name").to_string()),
                    "ServiceAccount" => Subject::ServiceAccount {
                        namespace: sub.str_at("/serviceAccount/namespace").to_string(),
                        name: sub.str_at("/serviceAccount/name").to_string(),
                    },
                    _ => Subject::Other,
                })
                .collect()
        })
        .unwrap_or_default();
    let resource_rules = r
        .get("resourceRules")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|rr| ResourceRule {
                    verbs: strs(rr.get("verbs")),
                    api_groups: strs(rr.get("apiGroups")),
                    resources: strs(rr.get("resources")),
                    cluster_scope: rr.get("clusterScope").and_then(Value::as_bool).unwrap_or(false),
                    namespaces: strs(rr.get("namespaces")),
                })
                .collect()
        })
        .unwrap_or_default();
    let non_resource_rules = r
        .get("nonResourceRules")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|nr| NonResourceRule {
                    verbs: strs(nr.get("verbs")),
                    urls: strs(nr.get("nonResourceURLs")),
                })
                .collect()
        })
        .unwrap_or_default();
    PolicyRules {
        subjects,
        resource_rules,
        non_resource_rules,
    }
}

/// `containsString`: a lone wildcard matches everything, otherwise an exact member.
fn contains(list: &[String], x: &str, wildcard: &str) -> bool {
    (list.len() == 1 && list[0] == wildcard) || list.iter().any(|y| y == x)
}

impl PolicyRules {
    fn matches(&self, user: &UserInfo, info: &RequestInfo) -> bool {
        if !self.subjects.iter().any(|s| s.matches(user)) {
            return false;
        }
        if info.is_resource {
            self.resource_rules.iter().any(|r| r.matches(info))
        } else {
            self.non_resource_rules.iter().any(|r| r.matches(info))
        }
    }
}

impl Subject {
    fn matches(&self, user: &UserInfo) -> bool {
        match self {
            Subject::User(n) => n == "*" || *n == user.name,
            Subject::Group(g) => g == "*" || user.groups.iter().any(|ug| ug == g),
            Subject::ServiceAccount { namespace, name } => {
                let Some(rest) = user.name.strip_prefix("system:serviceaccount:") else {
                    return false;
                };
                match rest.split_once(':') {
                    Some((ns, n)) => ns == namespace && (name == "*" || n == name),
                    None => false,
                }
            }
            Subject::Other => false,
        }
    }
}

impl ResourceRule {
    fn matches(&self, info: &RequestInfo) -> bool {
        let resource = match info.subresource.as_deref() {
            Some(sub) => format!("{}/{sub}", info.resource),
            None => info.resource.clone(),
        };
        if !contains(&self.verbs, &info.verb, "*")
            || !contains(&self.resources, &resource, "*")
            || !contains(&self.api_groups, &info.group, "*")
        {
            return false;
        }
        match info.namespace.as_deref().filter(|n| !n.is_empty()) {
            None => self.cluster_scope,
            Some(ns) => contains(&self.namespaces, ns, "*"),
        }
    }
}

impl NonResourceRule {
    fn matches(&self, info: &RequestInfo) -> bool {
        contains(&self.verbs, &info.verb, "*")
            && self.urls.iter().any(|u| {
                if u == "*" || *u == info.path {
                    return true;
                }
                let mut prefix = u.trim_end_matches('*').to_string();
                if !prefix.ends_with('/') {
                    prefix.push('/');
                }
                info.path.starts_with(&prefix)
            })
    }
}

impl PriorityLevel {
    /// The stored object; a spec the dispatcher cannot use is refused with the reason (upstream
    /// ignores such a level, and FlowSchemas pointing at it become dangling).
    pub fn from_value(v: &Value) -> Result<PriorityLevel, String> {
        let name = v.str_at("/metadata/name").to_string();
        let uid = v.str_at("/metadata/uid").to_string();
        let spec = v.get("spec").cloned().unwrap_or(Value::Null);
        let int = |ptr: &str| spec.pointer(ptr).and_then(Value::as_i64);
        let ty = spec.str_at("/type");
        let limited = spec.get("limited").filter(|l| l.is_object());
        let exempt = spec.get("exempt").filter(|e| e.is_object());
        if (ty == "Limited") != limited.is_some() {
            return Err("broken union structure at the top, for Limited".into());
        }
        if (ty == "Exempt") != (name == "exempt") {
            return Err("non-alignment between name and type".into());
        }
        if ty == "Exempt" {
            return Ok(PriorityLevel {
                name,
                uid,
                exempt: true,
                shares: int("/exempt/nominalConcurrencyShares").unwrap_or(0).max(0),
                lendable_percent: exempt.and_then(|e| e.get("lendablePercent")).and_then(Value::as_i64),
                borrowing_limit_percent: None,
                queuing: None,
            });
        }
        let queuing = match spec.str_at("/limited/limitResponse/type") {
            "Reject" => None,
            "Queue" => {
                let q = |k: &str| int(&format!("/limited/limitResponse/queuing/{k}")).unwrap_or(0).max(0) as usize;
                let queuing = Queuing {
                    queues: q("queues"),
                    hand_size: q("handSize"),
                    queue_length_limit: q("queueLengthLimit"),
                };
                super::shuffle::Dealer::new(queuing.queues, queuing.hand_size)?;
                Some(queuing)
            }
            other => return Err(format!("unknown limitResponse type {other:?}")),
        };
        Ok(PriorityLevel {
            name,
            uid,
            exempt: false,
            shares: int("/limited/nominalConcurrencyShares").unwrap_or(30).max(0),
            lendable_percent: int("/limited/lendablePercent"),
            borrowing_limit_percent: int("/limited/borrowingLimitPercent"),
            queuing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::strategy::flowcontrol::bootstrap;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo::new(name, groups.iter().map(|g| g.to_string()).collect())
    }

    fn req(method: &str, path: &str) -> RequestInfo {
        RequestInfo::parse(method, path, false)
    }

    /// The name of the first bootstrap FlowSchema (in precedence order) matching.
    fn classify(u: &UserInfo, info: &RequestInfo) -> String {
        let b = bootstrap();
        let mut all: Vec<FlowSchema> = b
            .mandatory_flow_schemas
            .iter()
            .chain(&b.suggested_flow_schemas)
            .map(FlowSchema::from_value)
            .collect();
        all.sort_by(|a, b| (a.precedence, &a.name).cmp(&(b.precedence, &b.name)));
        all.into_iter()
            .find(|f| f.matches(u, info))
            .map(|f| f.name)
            .unwrap_or_default()
    }

    #[test]
    fn bootstrap_schemas_classify_like_upstream() {
        let masters = user("admin", &["system:masters", "system:authenticated"]);
        assert_eq!(classify(&masters, &req("GET", "/api/v1/pods")), "exempt");
        let anon = user("system:anonymous", &["system:unauthenticated"]);
        assert_eq!(classify(&anon, &req("GET", "/readyz")), "probes");
        assert_eq!(classify(&anon, &req("GET", "/version")), "global-default");
        let node = user("system:node:n1", &["system:nodes", "system:authenticated"]);
        assert_eq!(
            classify(&node, &req("PATCH", "/api/v1/nodes/n1/status")),
            "system-node-high"
        );
        assert_eq!(
            classify(
                &node,
                &req(
                    "PUT",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
                )
            ),
            "system-node-high"
        );
        assert_eq!(classify(&node, &req("GET", "/api/v1/pods")), "system-nodes");
        let kcm = user("system:kube-controller-manager", &["system:authenticated"]);
        assert_eq!(
            classify(
                &kcm,
                &req("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x")
            ),
            "system-leader-election"
        );
        assert_eq!(
            classify(&kcm, &req("GET", "/api/v1/namespaces/default/endpoints/x")),
            "endpoint-controller"
        );
        assert_eq!(classify(&kcm, &req("GET", "/api/v1/pods")), "kube-controller-manager");
        let sa = user(
            "system:serviceaccount:kube-system:deployment-controller",
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                "system:authenticated",
            ],
        );
        assert_eq!(
            classify(&sa, &req("GET", "/api/v1/pods")),
            "kube-system-service-accounts"
        );
        let app_sa = user(
            "system:serviceaccount:apps:web",
            &["system:serviceaccounts", "system:authenticated"],
        );
        assert_eq!(classify(&app_sa, &req("GET", "/api/v1/pods")), "service-accounts");
        let tenant = user("tenant", &["system:authenticated"]);
        assert_eq!(classify(&tenant, &req("GET", "/api/v1/configmaps")), "global-default");
    }

    #[test]
    fn non_resource_wildcards_match_prefixes() {
        let r = NonResourceRule {
            verbs: vec!["get".into()],
            urls: vec!["/apis/*".into(), "/healthz".into()],
        };
        assert!(r.matches(&req("GET", "/apis/apps/v1")));
        assert!(r.matches(&req("GET", "/healthz")));
        assert!(r.matches(&req("GET", "/healthz/etcd")));
        assert!(!r.matches(&req("GET", "/api")));
        assert!(!r.matches(&req("POST", "/healthz")));
    }

    #[test]
    fn priority_levels_parse_and_broken_ones_are_refused() {
        let b = bootstrap();
        for o in b.mandatory_priority_levels.iter().chain(&b.suggested_priority_levels) {
            PriorityLevel::from_value(o).unwrap();
        }
        let gd = PriorityLevel::from_value(&b.suggested_priority_levels[5]).unwrap();
        assert_eq!(
            (gd.name.as_str(), gd.shares, gd.lendable_percent),
            ("global-default", 20, Some(50))
        );
        assert_eq!(
            gd.queuing,
            Some(Queuing {
                queues: 128,
                hand_size: 6,
                queue_length_limit: 50
            })
        );
        let bad = serde_json::json!({"metadata": {"name": "x"}, "spec": {"type": "Exempt", "exempt": {}}});
        assert!(PriorityLevel::from_value(&bad).is_err());
    }
}
