//! Access control: who is calling (`authn`), what they may do (`authz`), and acting as someone
//! else (impersonation, in `authz`). The handler calls [`Auth`] once per request, in upstream's
//! filter order: authenticate → audit → impersonate → in-flight limit → authorize.

pub mod authn;
pub mod authz;

use std::collections::BTreeMap;

/// The authenticated user of a request (upstream `user.Info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

pub const ANONYMOUS_USER: &str = "system:anonymous";
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

impl UserInfo {
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups,
            ..Default::default()
        }
    }

    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> UserInfo {
        UserInfo::new(ANONYMOUS_USER, vec![UNAUTHENTICATED_GROUP.into()])
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS_USER
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// Access control as configured at startup.
pub struct Auth {
    pub authenticator: authn::Authenticator,
    pub authorizer: authz::Authorizer,
}

impl Auth {
    /// Build the authenticator and authorizer chains from the serve options.
    pub fn from_options(opts: &crate::config::ServeOptions) -> anyhow::Result<Auth> {
        let mut anonymous = opts.get_bool("authentication.anonymous-auth");
        if anonymous && opts.get_list("authorization.mode").iter().any(|m| m == "AlwaysAllow") {
            // Upstream's BuiltInAuthenticationOptions.ApplyAuthorization.
            tracing::warn!("AnonymousAuth is not allowed with the AlwaysAllow authorizer. Resetting AnonymousAuth to false. You should use a different authorizer");
            anonymous = false;
        }
        Ok(Auth {
            authenticator: authn::Authenticator::from_options(opts, anonymous)?,
            authorizer: authz::Authorizer::new(&opts.get_list("authorization.mode"))?,
        })
    }
}

/// The review APIs (TokenReview, SelfSubjectReview, the SubjectAccessReviews) and
/// `serviceaccounts/{name}/token`: create-only, answered here, never stored.
pub async fn review(
    app: &std::sync::Arc<crate::server::App>,
    req: &crate::server::handler::RawRequest,
    info: &crate::server::request::RequestInfo,
    def: &'static crate::api::ResourceDef,
    query: &crate::registry::options::Query,
    body: bytes::Bytes,
) -> crate::error::ApiResult<warp::reply::Response> {
    let handled = match def.group {
        "authentication.k8s.io" | "" => authn::reviews::review(app, req, info, query, body).await,
        "authorization.k8s.io" => authz::reviews::review(app, req, info, def, body).await,
        _ => None,
    };
    if let Some(r) = handled {
        return r;
    }
    Err(crate::error::ApiError::not_implemented(&format!(
        "{}{} (security issue)",
        crate::error::qualified(def.plural, def.group),
        info.subresource.as_deref().map(|s| format!("/{s}")).unwrap_or_default()
    )))
}
