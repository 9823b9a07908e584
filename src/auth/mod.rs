//! Access control: who is calling (`authn`), what they may do (`authz`), and acting as someone
//! else (impersonation, in `authz`). The handler calls [`Auth`] once per request, in upstream's
//! filter order: authenticate → audit → impersonate → in-flight limit → authorize.

pub mod authn;
pub mod authz;
pub mod expressions;

use crate::api::ResourceDef;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::request::Request;
use bytes::Bytes;
use std::sync::Arc;

/// Access control as configured at startup, shared by the filter chain, admission and the
/// review APIs.
pub struct Auth {
    pub authenticator: Arc<authn::Authenticator>,
    pub authorizer: Arc<authz::Authorizer>,
}

impl Auth {
    /// Build the authenticator and authorizer chains from the serve options; `registry` is
    /// what tokens are checked against (None without storage).
    /// `authn_reloads`, `authz_reloads`: where `--authentication-config` and
    /// `--authorization-config` reloads are counted (`/metrics`).
    pub fn from_options(
        opts: &crate::config::ServeOptions,
        registry: Option<Registry>,
        authn_reloads: Arc<crate::metrics::ConfigReloads>,
        authz_reloads: Arc<crate::metrics::ConfigReloads>,
    ) -> anyhow::Result<Auth> {
        let mut anonymous = opts.get_bool("authentication.anonymous-auth");
        let legacy_modes = opts.get_path("authorization.config-file").is_none();
        if anonymous && legacy_modes && opts.get_list("authorization.mode").iter().any(|m| m == "AlwaysAllow") {
            // Upstream's BuiltInAuthenticationOptions.ApplyAuthorization.
            tracing::warn!("AnonymousAuth is not allowed with the AlwaysAllow authorizer. Resetting AnonymousAuth to false. You should use a different authorizer");
            anonymous = false;
        }
        Ok(Auth {
            authenticator: Arc::new(authn::Authenticator::from_options(
                opts,
                anonymous,
                registry,
                authn_reloads,
            )?),
            authorizer: authz::config::from_options(opts, authz_reloads)?,
        })
    }
}

/// The review APIs (TokenReview, SelfSubjectReview, the SubjectAccessReviews) and
/// `serviceaccounts/{name}/token`: create-only, answered here, never stored.
pub async fn review(
    auth: &Auth,
    reg: &Registry,
    req: &Request,
    def: &'static ResourceDef,
    body: Bytes,
) -> ApiResult<warp::reply::Response> {
    let handled = match def.group {
        "authentication.k8s.io" | "" => authn::reviews::review(&auth.authenticator, reg, req, body).await,
        "authorization.k8s.io" => authz::reviews::review(&auth.authorizer, req, def, body).await,
        _ => None,
    };
    if let Some(r) = handled {
        return r;
    }
    Err(ApiError::not_implemented(&format!(
        "{}{} (security issue)",
        crate::error::qualified(def.plural, def.group),
        req.info
            .subresource
            .as_deref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default()
    )))
}
