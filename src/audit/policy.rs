//! `audit.k8s.io/v1` Policy: parsing and evaluation (upstream `pkg/audit/policy`).

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
pub enum Level {
    #[default]
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub level: Level,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
    #[serde(default)]
    pub omit_managed_fields: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
    #[serde(default)]
    pub omit_managed_fields: bool,
}

/// What a request is, as the policy sees it.
#[derive(Debug, Clone, Default)]
pub struct Attributes<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub verb: &'a str,
    pub is_resource: bool,
    pub api_group: &'a str,
    pub namespace: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    pub path: &'a str,
}

/// The policy's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: Vec<Stage>,
    pub omit_managed_fields: bool,
}

impl Decision {
    pub fn omits(&self, s: Stage) -> bool {
        self.omit_stages.contains(&s)
    }
}

impl Policy {
    /// Parse and validate a policy document (YAML or JSON).
    pub fn parse(text: &str) -> Result<Policy, String> {
        let p: Policy = yaml_serde::from_str(text).map_err(|e| format!("failed decoding audit policy: {e}"))?;
        if p.api_version != "audit.k8s.io/v1" || p.kind != "Policy" {
            return Err(format!(
                "unknown group version field {:?} in policy (kind {:?}); only audit.k8s.io/v1 Policy is supported",
                p.api_version, p.kind
            ));
        }
        if p.rules.is_empty() {
            return Err("loaded illegal policy with 0 rules".into());
        }
        for (i, r) in p.rules.iter().enumerate() {
            if !r.non_resource_urls.is_empty() && (!r.resources.is_empty() || !r.namespaces.is_empty()) {
                return Err(format!(
                    "rules[{i}]: rules cannot apply to both regular resources and non-resource URLs"
                ));
            }
            for u in &r.non_resource_urls {
                if u.trim_end_matches('*').contains('*') {
                    return Err(format!(
                        "rules[{i}].nonResourceURLs: {u:?}: '*' is only allowed as the last character"
                    ));
                }
            }
        }
        Ok(p)
    }

    pub fn load(path: &std::path::Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("failed to read file path {:?}: {e}", path))?;
        Policy::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// First matching rule wins; no match is level None.
    pub fn evaluate(&self, a: &Attributes) -> Decision {
        for r in &self.rules {
            if rule_matches(r, a) {
                let mut omit = self.omit_stages.clone();
                for s in &r.omit_stages {
                    if !omit.contains(s) {
                        omit.push(*s);
                    }
                }
                return Decision {
                    level: r.level,
                    omit_stages: omit,
                    omit_managed_fields: r.omit_managed_fields.unwrap_or(self.omit_managed_fields),
                };
            }
        }
        Decision {
            level: Level::None,
            omit_stages: self.omit_stages.clone(),
            omit_managed_fields: self.omit_managed_fields,
        }
    }
}

fn has(list: &[String], s: &str) -> bool {
    list.iter().any(|x| x == s)
}

fn rule_matches(r: &PolicyRule, a: &Attributes) -> bool {
    if !r.users.is_empty() && !has(&r.users, a.user) {
        return false;
    }
    if !r.user_groups.is_empty() && !a.groups.iter().any(|g| has(&r.user_groups, g)) {
        return false;
    }
    if !r.verbs.is_empty() && !has(&r.verbs, a.verb) {
        return false;
    }
    if !r.namespaces.is_empty() || !r.resources.is_empty() {
        return resource_matches(r, a);
    }
    if !r.non_resource_urls.is_empty() {
        return !a.is_resource && r.non_resource_urls.iter().any(|spec| path_matches(a.path, spec));
    }
    true
}

fn path_matches(path: &str, spec: &str) -> bool {
    spec == "*" || spec == path || (spec.ends_with('*') && path.starts_with(spec.trim_end_matches('*')))
}

fn resource_matches(r: &PolicyRule, a: &Attributes) -> bool {
    if !a.is_resource {
        return false;
    }
    if !r.namespaces.is_empty() && !has(&r.namespaces, a.namespace) {
        return false;
    }
    if r.resources.is_empty() {
        return true;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    for gr in &r.resources {
        if gr.group != a.api_group {
            continue;
        }
        if gr.resources.is_empty() {
            return true;
        }
        if !gr.resource_names.is_empty() && !has(&gr.resource_names, a.name) {
            continue;
        }
        for res in &gr.resources {
            if res == &combined || res == "*" {
                return true;
            }
            if !a.subresource.is_empty() && res.strip_prefix("*/") == Some(a.subresource) {
                return true;
            }
            if res.strip_suffix("/*") == Some(a.resource) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
  - level: None
    userGroups: ["system:nodes"]
    nonResourceURLs: ["/healthz*", "/version"]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["pods/log", "pods/status"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets"]
        resourceNames: ["top-secret"]
  - level: Request
    resources:
      - group: "apps"
        resources: ["*/scale"]
  - level: Request
    resources:
      - group: "batch"
        resources: ["jobs/*"]
  - level: Metadata
    namespaces: ["kube-system"]
    omitStages: ["ResponseStarted"]
  - level: Request
    namespaces: [""]
    resources:
      - group: ""
    omitManagedFields: true
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["configmaps"]
  - level: Metadata
    nonResourceURLs: ["/metrics"]
"#;

    fn res<'a>(
        verb: &'a str,
        group: &'a str,
        ns: &'a str,
        resource: &'a str,
        sub: &'a str,
        name: &'a str,
    ) -> Attributes<'a> {
        Attributes {
            user: "alice",
            groups: &[],
            verb,
            is_resource: true,
            api_group: group,
            namespace: ns,
            resource,
            subresource: sub,
            name,
            path: "",
        }
    }

    #[test]
    fn table() {
        let p = Policy::parse(POLICY).expect("policy");
        let nodes = vec!["system:nodes".to_string(), "system:authenticated".to_string()];
        let cases: Vec<(Attributes, Level)> = vec![
            (
                Attributes {
                    user: "system:kube-proxy",
                    verb: "watch",
                    is_resource: true,
                    resource: "configmaps",
                    ..Default::default()
                },
                Level::None,
            ),
            (
                Attributes {
                    user: "system:kube-proxy",
                    verb: "get",
                    is_resource: true,
                    resource: "configmaps",
                    namespace: "default",
                    ..Default::default()
                },
                Level::RequestResponse,
            ),
            (
                Attributes {
                    user: "n1",
                    groups: &nodes,
                    verb: "get",
                    path: "/healthz/etcd",
                    ..Default::default()
                },
                Level::None,
            ),
            (
                Attributes {
                    user: "n1",
                    groups: &nodes,
                    verb: "get",
                    path: "/version",
                    ..Default::default()
                },
                Level::None,
            ),
            (
                Attributes {
                    user: "n1",
                    groups: &nodes,
                    verb: "get",
                    path: "/versionx",
                    ..Default::default()
                },
                Level::None,
            ),
            (
                Attributes {
                    user: "alice",
                    verb: "get",
                    path: "/metrics",
                    ..Default::default()
                },
                Level::Metadata,
            ),
            (
                Attributes {
                    user: "alice",
                    verb: "get",
                    path: "/healthz",
                    ..Default::default()
                },
                Level::None,
            ),
            (res("get", "", "default", "pods", "log", "p"), Level::RequestResponse),
            (res("get", "", "default", "pods", "exec", "p"), Level::None),
            (res("get", "", "default", "pods", "", "p"), Level::None),
            (res("get", "", "default", "secrets", "", "top-secret"), Level::Metadata),
            (res("get", "", "default", "secrets", "", "other"), Level::None),
            (
                res("update", "apps", "default", "deployments", "scale", "d"),
                Level::Request,
            ),
            (res("update", "apps", "default", "deployments", "", "d"), Level::None),
            (res("get", "batch", "default", "jobs", "status", "j"), Level::Request),
            (res("get", "", "kube-system", "configmaps", "", "x"), Level::Metadata),
            (res("get", "", "", "nodes", "", "n"), Level::Request),
            (
                res("create", "", "default", "configmaps", "", ""),
                Level::RequestResponse,
            ),
            (res("create", "apps", "default", "deployments", "", ""), Level::None),
        ];
        for (i, (a, want)) in cases.iter().enumerate() {
            assert_eq!(p.evaluate(a).level, *want, "case {i}: {a:?}");
        }
        let d = p.evaluate(&res("get", "", "kube-system", "configmaps", "", "x"));
        assert_eq!(d.omit_stages, vec![Stage::RequestReceived, Stage::ResponseStarted]);
        assert!(!d.omit_managed_fields);
        let d = p.evaluate(&res("get", "", "", "nodes", "", "n"));
        assert!(d.omit_managed_fields);
        assert_eq!(d.omit_stages, vec![Stage::RequestReceived]);
    }

    #[test]
    fn rejects_bad_policies() {
        assert_eq!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n").unwrap_err(),
            "loaded illegal policy with 0 rules"
        );
        assert!(Policy::parse("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]\n").is_err());
        assert!(Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Everything}]\n").is_err());
        assert!(Policy::parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [\"/a\"], namespaces: [\"x\"]}]\n"
        )
        .is_err());
        let p = Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n").expect("ok");
        assert_eq!(p.evaluate(&Attributes::default()).level, Level::Metadata);
    }
}
