//! Upstream WithImpersonation: `Impersonate-User` / `-Group` / `-Uid` / `-Extra-<key>` headers,
//! each authorized with verb `impersonate` on users / groups / serviceaccounts (core) or
//! uids / userextras/<key> (authentication.k8s.io) before the request acts as that user.

use super::{forbidden, Attributes, Authorizer};
use crate::error::ApiError;
use crate::request::{UserInfo, ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP};
use std::collections::BTreeMap;

/// One thing to impersonate: (resource, api group, namespace, name, extra key).
struct Target {
    resource: &'static str,
    group: &'static str,
    namespace: String,
    name: String,
    extra_key: String,
}

fn target(resource: &'static str, group: &'static str, name: &str) -> Target {
    Target {
        resource,
        group,
        namespace: String::new(),
        name: name.to_string(),
        extra_key: String::new(),
    }
}

/// `system:serviceaccount:<ns>:<name>` → (ns, name).
fn split_sa(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

pub async fn impersonate(
    az: &Authorizer,
    requestor: UserInfo,
    headers: &http::HeaderMap,
) -> Result<UserInfo, ApiError> {
    let value = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).to_string();
    let user = headers.get("impersonate-user").map(value).filter(|s| !s.is_empty());
    let uid = headers.get("impersonate-uid").map(value).filter(|s| !s.is_empty());
    let groups_hdr: Vec<String> = headers.get_all("impersonate-group").iter().map(value).collect();
    let mut extras: Vec<(String, String)> = Vec::new();
    for (name, v) in headers {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-") {
            let key = crate::request::percent_decode(&key.to_ascii_lowercase());
            extras.push((key, value(v)));
        }
    }
    if user.is_none() && uid.is_none() && groups_hdr.is_empty() && extras.is_empty() {
        return Ok(requestor);
    }
    let mut targets = Vec::new();
    if let Some(u) = &user {
        match split_sa(u) {
            Some((ns, name)) => targets.push(Target {
                namespace: ns.to_string(),
                ..target("serviceaccounts", "", name)
            }),
            None => targets.push(target("users", "", u)),
        }
    }
    for g in &groups_hdr {
        targets.push(target("groups", "", g));
    }
    for (k, v) in &extras {
        targets.push(Target {
            extra_key: k.clone(),
            ..target("userextras", "authentication.k8s.io", v)
        });
    }
    if let Some(u) = &uid {
        targets.push(target("uids", "authentication.k8s.io", u));
    }
    if user.is_none() {
        let what: Vec<String> = targets
            .iter()
            .map(|t| format!("{{{} {}}}", t.resource, t.name))
            .collect();
        return Err(ApiError::new(
            500,
            "InternalError",
            format!("requested [{}] without impersonating a user", what.join(" ")),
        ));
    }
    let groups_specified = !groups_hdr.is_empty();
    let mut out = UserInfo::default();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &targets {
        let attrs = Attributes {
            user: &requestor,
            verb: "impersonate",
            is_resource: true,
            api_group: t.group,
            api_version: "v1",
            namespace: &t.namespace,
            resource: t.resource,
            subresource: &t.extra_key,
            name: &t.name,
            path: "",
            field_selector: "",
        };
        let v = az.decide(&attrs).await;
        if !v.allowed {
            return Err(forbidden(&attrs, &v.reason));
        }
        match t.resource {
            "serviceaccounts" => {
                out.name = format!("system:serviceaccount:{}:{}", t.namespace, t.name);
                if !groups_specified {
                    out.groups = vec![
                        "system:serviceaccounts".to_string(),
                        format!("system:serviceaccounts:{}", t.namespace),
                    ];
                }
            }
            "users" => out.name = t.name.clone(),
            "groups" => out.groups.push(t.name.clone()),
            "userextras" => extra.entry(t.extra_key.clone()).or_default().push(t.name.clone()),
            _ => out.uid = t.name.clone(),
        }
    }
    if out.name != ANONYMOUS_USER {
        if !out.in_group(AUTHENTICATED_GROUP) && !out.in_group(UNAUTHENTICATED_GROUP) {
            out.groups.push(AUTHENTICATED_GROUP.into());
        }
    } else if !out.in_group(UNAUTHENTICATED_GROUP) {
        out.groups.push(UNAUTHENTICATED_GROUP.into());
    }
    out.extra = extra;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                h.append(k, v);
            }
        }
        h
    }

    #[tokio::test]
    async fn impersonation_checks_each_target() {
        let az = Authorizer::new(&["RBAC".to_string()]).unwrap_or_else(|e| panic!("{e}"));
        let admin = UserInfo::new("admin", vec!["system:masters".into()]);
        let u = impersonate(
            &az,
            admin.clone(),
            &headers(&[
                ("Impersonate-User", "system:serviceaccount:ns:bot"),
                ("Impersonate-Extra-Scopes", "a"),
            ]),
        )
        .await
        .unwrap_or_default();
        assert_eq!(u.name, "system:serviceaccount:ns:bot");
        assert_eq!(
            u.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        assert_eq!(u.extra.get("scopes"), Some(&vec!["a".to_string()]));
        let bob = UserInfo::new("bob", vec!["system:authenticated".into()]);
        let err = impersonate(&az, bob, &headers(&[("Impersonate-User", "alice")]))
            .await
            .err();
        assert_eq!(
            err.map(|e| e.message),
            Some(
                "users \"alice\" is forbidden: User \"bob\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
                    .to_string()
            )
        );
        let e = impersonate(&az, admin.clone(), &headers(&[("Impersonate-Group", "g")]))
            .await
            .err();
        assert_eq!(e.map(|e| e.code), Some(500));
        let anon = impersonate(&az, admin, &headers(&[("Impersonate-User", "system:anonymous")]))
            .await
            .unwrap_or_default();
        assert_eq!(anon.groups, vec!["system:unauthenticated"]);
    }
}
