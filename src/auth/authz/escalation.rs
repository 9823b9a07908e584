//! RBAC escalation prevention (upstream registry/rbac/*/policybased): writing a Role or
//! ClusterRole needs every permission it grants (or `escalate` on it); writing a binding needs
//! the referenced role's permissions (or `bind` on it). `system:masters` bypasses both.

use super::rules::{missing, rules_of, Rule};
use super::{Attributes, Authorizer, PRIVILEGED_GROUP};
use crate::api::ResourceDef;
use crate::error::{ApiError, ApiResult};
use crate::request::UserInfo;
use crate::util::json::JsonExt;
use serde_json::Value;

const GROUP: &str = "rbac.authorization.k8s.io";

fn allowed(az: &Authorizer, user: &UserInfo, verb: &str, resource: &str, ns: &str, name: &str) -> bool {
    let attrs = Attributes {
        user,
        verb,
        is_resource: true,
        api_group: GROUP,
        api_version: "v1",
        namespace: ns,
        resource,
        subresource: "",
        name,
        path: "",
        field_selector: "",
    };
    az.decide_blocking(&attrs).allowed
}

/// Upstream ConfirmNoEscalation: Err(message) when `user` lacks some of `wanted` in `ns`.
fn confirm_no_escalation(az: &Authorizer, user: &UserInfo, ns: &str, wanted: &[Rule]) -> Result<(), String> {
    let (owner, errors) = az.rbac.rules_for(user, ns);
    let miss = missing(&owner, wanted);
    if miss.is_empty() {
        return Ok(());
    }
    let mut lines: Vec<String> = miss.iter().map(Rule::compact_string).collect();
    lines.sort();
    lines.dedup();
    let groups: Vec<String> = user.groups.iter().map(|g| crate::util::go_quote(g)).collect();
    let mut msg = format!(
        "user {} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        crate::util::go_quote(&user.name),
        groups.join(" "),
        lines.join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    Err(msg)
}

/// Check a create/update of an RBAC object by `user` (a no-op for every other resource).
pub fn check(
    az: &Authorizer,
    user: Option<&UserInfo>,
    def: &ResourceDef,
    ns: Option<&str>,
    obj: &Value,
) -> ApiResult<()> {
    if def.group != GROUP {
        return Ok(());
    }
    let Some(user) = user else { return Ok(()) };
    if user.in_group(PRIVILEGED_GROUP) {
        return Ok(());
    }
    let ns = ns.unwrap_or("");
    let name = obj.str_at("/metadata/name");
    let deny = |why: String| ApiError::forbidden(def.plural, def.group, name, &why);
    match def.kind {
        "Role" | "ClusterRole" => {
            if allowed(az, user, "escalate", def.plural, ns, name) {
                return Ok(());
            }
            confirm_no_escalation(az, user, ns, &rules_of(obj)).map_err(deny)?;
            if def.kind == "ClusterRole" && obj.get("aggregationRule").is_some_and(|a| !a.is_null()) {
                let full = [
                    Rule {
                        verbs: vec!["*".into()],
                        api_groups: vec!["*".into()],
                        resources: vec!["*".into()],
                        ..Default::default()
                    },
                    Rule {
                        verbs: vec!["*".into()],
                        non_resource_urls: vec!["*".into()],
                        ..Default::default()
                    },
                ];
                confirm_no_escalation(az, user, ns, &full)
                    .map_err(|_| deny("must have cluster-admin privileges to use the aggregationRule".into()))?;
            }
            Ok(())
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let kind = obj.str_at("/roleRef/kind");
            let role = obj.str_at("/roleRef/name");
            let resource = if kind == "Role" { "roles" } else { "clusterroles" };
            if allowed(az, user, "bind", resource, ns, role) {
                return Ok(());
            }
            let rules = az.rbac.role_ref_rules(kind, role, ns).map_err(deny)?;
            confirm_no_escalation(az, user, ns, &rules).map_err(deny)
        }
        _ => Ok(()),
    }
}
