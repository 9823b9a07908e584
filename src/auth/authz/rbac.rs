//! The RBAC authorizer over an in-memory index of Roles, ClusterRoles, RoleBindings and
//! ClusterRoleBindings fed by registry watches. Bindings are indexed by subject, so a check
//! costs O(bindings naming the user or one of its groups).

use super::informer::{key_of, Change};
use super::rules::{rules_of, Rule};
use super::Attributes;
use crate::request::UserInfo;
use crate::util::json::JsonExt;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

/// A subject as the index keys it: service accounts become their user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Subject {
    User(String),
    Group(String),
}

#[derive(Debug, Clone)]
struct Binding {
    name: String,
    /// None for a ClusterRoleBinding.
    namespace: Option<String>,
    role_kind: String,
    role_name: String,
    /// (index key, upstream's description of the subject for reasons).
    subjects: Vec<(Subject, String)>,
}

#[derive(Default)]
struct State {
    roles: HashMap<String, Arc<Vec<Rule>>>,
    cluster_roles: HashMap<String, Arc<Vec<Rule>>>,
    bindings: HashMap<String, Arc<Binding>>,
    by_subject: HashMap<Subject, BTreeSet<String>>,
}

/// The RBAC index and authorizer.
#[derive(Default)]
pub struct Rbac {
    state: RwLock<State>,
}

/// Which table a watch feeds.
#[derive(Clone, Copy)]
pub enum Table {
    Roles,
    ClusterRoles,
    RoleBindings,
    ClusterRoleBindings,
}

fn binding_of(obj: &Value, cluster: bool) -> Binding {
    let s = |p: &str| obj.str_at(p).to_string();
    let namespace = (!cluster).then(|| s("/metadata/namespace"));
    let subjects = obj
        .get("subjects")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|sub| {
                    let kind = sub.get("kind").and_then(Value::as_str)?;
                    let name = sub.get("name").and_then(Value::as_str)?.to_string();
                    match kind {
                        "User" => Some((Subject::User(name.clone()), format!("User {}", quote(&name)))),
                        "Group" => Some((Subject::Group(name.clone()), format!("Group {}", quote(&name)))),
                        "ServiceAccount" => {
                            let ns = sub
                                .get("namespace")
                                .and_then(Value::as_str)
                                .filter(|n| !n.is_empty())
                                .map(str::to_string)
                                .or_else(|| namespace.clone())
                                .filter(|n| !n.is_empty())?;
                            Some((
                                Subject::User(format!("system:serviceaccount:{ns}:{name}")),
                                format!("ServiceAccount {}", quote(&format!("{name}/{ns}"))),
                            ))
                        }
                        _ => None,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Binding {
        name: s("/metadata/name"),
        namespace,
        role_kind: s("/roleRef/kind"),
        role_name: s("/roleRef/name"),
        subjects,
    }
}

fn quote(s: &str) -> String {
    crate::util::go_quote(s)
}

impl State {
    fn remove_binding(&mut self, key: &str) {
        if let Some(old) = self.bindings.remove(key) {
            for (s, _) in &old.subjects {
                if let Some(set) = self.by_subject.get_mut(s) {
                    set.remove(key);
                    if set.is_empty() {
                        self.by_subject.remove(s);
                    }
                }
            }
        }
    }

    fn add_binding(&mut self, key: String, b: Binding) {
        self.remove_binding(&key);
        for (s, _) in &b.subjects {
            self.by_subject.entry(s.clone()).or_default().insert(key.clone());
        }
        self.bindings.insert(key, Arc::new(b));
    }

    /// The role a binding refers to: its rules, or upstream's lister error.
    fn role_rules(&self, b: &Binding) -> Result<Arc<Vec<Rule>>, String> {
        match (b.role_kind.as_str(), &b.namespace) {
            ("ClusterRole", _) => self.cluster_roles.get(&b.role_name).cloned().ok_or_else(|| {
                format!(
                    "clusterrole.rbac.authorization.k8s.io {} not found",
                    quote(&b.role_name)
                )
            }),
            ("Role", Some(ns)) => self
                .roles
                .get(&format!("{ns}/{}", b.role_name))
                .cloned()
                .ok_or_else(|| format!("role.rbac.authorization.k8s.io {} not found", quote(&b.role_name))),
            (k, _) => Err(format!("unsupported role reference kind: {}", quote(k))),
        }
    }

    /// Bindings that apply to `user` in `namespace` ("" = cluster scope): ClusterRoleBindings
    /// first, then RoleBindings of the namespace, each with the matching subject's description.
    fn applicable(&self, user: &UserInfo, namespace: &str) -> Vec<(Arc<Binding>, String)> {
        let mut keys = BTreeSet::new();
        let mut subjects = vec![Subject::User(user.name.clone())];
        subjects.extend(user.groups.iter().map(|g| Subject::Group(g.clone())));
        for s in &subjects {
            if let Some(set) = self.by_subject.get(s) {
                keys.extend(set.iter().cloned());
            }
        }
        let mut cluster = Vec::new();
        let mut local = Vec::new();
        for k in keys {
            let Some(b) = self.bindings.get(&k) else { continue };
            let Some((_, desc)) = b.subjects.iter().find(|(s, _)| subjects.contains(s)) else {
                continue;
            };
            match &b.namespace {
                None => cluster.push((b.clone(), desc.clone())),
                Some(ns) if !namespace.is_empty() && ns == namespace => local.push((b.clone(), desc.clone())),
                _ => {}
            }
        }
        cluster.extend(local);
        cluster
    }
}

fn describe(b: &Binding, subject: &str) -> String {
    match &b.namespace {
        None => format!(
            "ClusterRoleBinding {} of {} {} to {subject}",
            quote(&b.name),
            b.role_kind,
            quote(&b.role_name)
        ),
        Some(ns) => format!(
            "RoleBinding {} of {} {} to {subject}",
            quote(&format!("{}/{ns}", b.name)),
            b.role_kind,
            quote(&b.role_name)
        ),
    }
}

impl Rbac {
    /// Apply a watch change to one table.
    pub fn apply(&self, table: Table, change: Change) {
        let Ok(mut st) = self.state.write() else { return };
        let cluster = matches!(table, Table::ClusterRoleBindings);
        match change {
            Change::Reset(items) => {
                match table {
                    Table::Roles => st.roles.clear(),
                    Table::ClusterRoles => st.cluster_roles.clear(),
                    Table::RoleBindings | Table::ClusterRoleBindings => {
                        let keys: Vec<String> = st
                            .bindings
                            .iter()
                            .filter(|(_, b)| b.namespace.is_none() == cluster)
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in keys {
                            st.remove_binding(&k);
                        }
                    }
                }
                for obj in items {
                    upsert(&mut st, table, &obj);
                }
            }
            Change::Upsert(obj) => upsert(&mut st, table, &obj),
            Change::Delete(obj) => {
                let key = key_of(&obj);
                match table {
                    Table::Roles => {
                        st.roles.remove(&key);
                    }
                    Table::ClusterRoles => {
                        st.cluster_roles.remove(&key);
                    }
                    Table::RoleBindings => st.remove_binding(&key),
                    Table::ClusterRoleBindings => st.remove_binding(&format!("/{key}")),
                }
            }
        }
    }

    /// Upstream RBACAuthorizer.Authorize: Allow with the granting binding as reason, or no
    /// opinion with `RBAC: <errors>` when a binding referenced a missing role ("" otherwise).
    pub fn authorize(&self, a: &Attributes<'_>) -> (bool, String) {
        let Ok(st) = self.state.read() else {
            return (false, String::new());
        };
        let mut errors = Vec::new();
        for (b, subject) in st.applicable(a.user, a.namespace) {
            match st.role_rules(&b) {
                Err(e) => errors.push(e),
                Ok(rules) => {
                    if rules.iter().any(|r| r.allows(a)) {
                        return (true, format!("RBAC: allowed by {}", describe(&b, &subject)));
                    }
                }
            }
        }
        if errors.is_empty() {
            (false, String::new())
        } else {
            (false, format!("RBAC: {}", aggregate(&errors)))
        }
    }

    /// Every rule `user` holds in `namespace` ("" = cluster-wide only), with resolution errors.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<Rule>, Vec<String>) {
        let Ok(st) = self.state.read() else {
            return (Vec::new(), Vec::new());
        };
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (b, _) in st.applicable(user, namespace) {
            match st.role_rules(&b) {
                Ok(r) => rules.extend(r.iter().cloned()),
                Err(e) => errors.push(e),
            }
        }
        (rules, errors)
    }

    /// The rules a role reference grants (for binding escalation checks).
    pub fn role_ref_rules(&self, kind: &str, name: &str, namespace: &str) -> Result<Vec<Rule>, String> {
        let Ok(st) = self.state.read() else {
            return Err("RBAC index unavailable".into());
        };
        let b = Binding {
            name: String::new(),
            namespace: Some(namespace.to_string()),
            role_kind: kind.to_string(),
            role_name: name.to_string(),
            subjects: Vec::new(),
        };
        st.role_rules(&b).map(|r| r.as_ref().clone())
    }
}

/// Upstream utilerrors.NewAggregate formatting.
pub fn aggregate(errors: &[String]) -> String {
    if errors.len() == 1 {
        errors[0].clone()
    } else {
        format!("[{}]", errors.join(", "))
    }
}

fn upsert(st: &mut State, table: Table, obj: &Value) {
    let key = key_of(obj);
    match table {
        Table::Roles => {
            st.roles.insert(key, Arc::new(rules_of(obj)));
        }
        Table::ClusterRoles => {
            st.cluster_roles.insert(key, Arc::new(rules_of(obj)));
        }
        Table::RoleBindings => st.add_binding(key, binding_of(obj, false)),
        Table::ClusterRoleBindings => st.add_binding(format!("/{key}"), binding_of(obj, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs<'a>(user: &'a UserInfo, verb: &'a str, ns: &'a str, res: &'a str) -> Attributes<'a> {
        Attributes {
            user,
            verb,
            is_resource: true,
            api_group: "",
            api_version: "v1",
            namespace: ns,
            resource: res,
            subresource: "",
            name: "",
            path: "",
            field_selector: "",
        }
    }

    fn index() -> Rbac {
        let r = Rbac::default();
        r.apply(
            Table::Roles,
            Change::Upsert(json!({"metadata": {"name": "cm-reader", "namespace": "team"},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]}]})),
        );
        r.apply(
            Table::RoleBindings,
            Change::Upsert(json!({"metadata": {"name": "rb", "namespace": "team"},
                "roleRef": {"kind": "Role", "name": "cm-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "bot"}, {"kind": "Group", "name": "devs"}]})),
        );
        r.apply(
            Table::ClusterRoleBindings,
            Change::Upsert(json!({"metadata": {"name": "dangling"},
                "roleRef": {"kind": "ClusterRole", "name": "missing"},
                "subjects": [{"kind": "User", "name": "carol"}]})),
        );
        r
    }

    #[test]
    fn service_account_and_group_subjects() {
        let r = index();
        let sa = UserInfo::new("system:serviceaccount:team:bot", vec!["system:serviceaccounts".into()]);
        assert_eq!(
            r.authorize(&attrs(&sa, "list", "team", "configmaps")),
            (
                true,
                "RBAC: allowed by RoleBinding \"rb/team\" of Role \"cm-reader\" to ServiceAccount \"bot/team\"".into()
            )
        );
        assert_eq!(
            r.authorize(&attrs(&sa, "list", "team", "secrets")),
            (false, String::new())
        );
        assert_eq!(
            r.authorize(&attrs(&sa, "list", "other", "configmaps")),
            (false, String::new())
        );
        let dev = UserInfo::new("dave", vec!["devs".into()]);
        assert!(r.authorize(&attrs(&dev, "get", "team", "configmaps")).0);
        let carol = UserInfo::new("carol", vec![]);
        assert_eq!(
            r.authorize(&attrs(&carol, "get", "team", "configmaps")),
            (
                false,
                "RBAC: clusterrole.rbac.authorization.k8s.io \"missing\" not found".into()
            )
        );
        // Deleting the binding revokes access.
        r.apply(
            Table::RoleBindings,
            Change::Delete(json!({"metadata": {"name": "rb", "namespace": "team"}})),
        );
        assert_eq!(
            r.authorize(&attrs(&sa, "list", "team", "configmaps")),
            (false, String::new())
        );
        let (rules, errs) = r.rules_for(&carol, "team");
        assert!(rules.is_empty());
        assert_eq!(errs.len(), 1);
    }
}
