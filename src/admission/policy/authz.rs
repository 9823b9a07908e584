//! The `authorizer` of admission policy expressions (upstream `OptionalVariableBindings
//! .Authorizer`): the server's authorizer asked on behalf of the request's user, and
//! `authorizer.requestResource`, a check of the request's own resource.

use crate::admission::{Attributes, Env};
use crate::auth::authz::Authorizer as ServerAuthorizer;
use crate::cel::lib::authz::{authorizer_value, request_resource_value};
use crate::cel::{Authorizer, AuthzDecision, AuthzRequest, AuthzUser, Value};
use crate::request::UserInfo;
use std::sync::Arc;

struct Server(Arc<ServerAuthorizer>);

impl Authorizer for Server {
    fn authorize(&self, user: &AuthzUser, req: &AuthzRequest) -> AuthzDecision {
        let user = UserInfo {
            name: user.name.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
        };
        // Upstream's library asks with any API version.
        let v = self.0.decide_blocking(&crate::auth::authz::Attributes {
            user: &user,
            verb: &req.verb,
            is_resource: req.resource_request,
            api_group: &req.group,
            api_version: "*",
            namespace: &req.namespace,
            resource: &req.resource,
            subresource: &req.subresource,
            name: &req.name,
            path: &req.path,
            field_selector: &req.field_selector,
        });
        AuthzDecision {
            allowed: v.allowed,
            reason: v.reason,
            error: v.error,
        }
    }
}

/// The authorizer bound to one request (None: an internal write with no authorizer, where
/// `authorizer` is not set, as upstream leaves it nil).
#[derive(Clone)]
pub struct Binding {
    az: Arc<dyn Authorizer>,
    user: AuthzUser,
}

impl Binding {
    pub fn of(a: &Attributes, env: &Env<'_>) -> Option<Binding> {
        let az = env.ctx.authorizer_handle()?;
        Some(Binding {
            az: Arc::new(Server(az.0.clone())),
            user: AuthzUser {
                name: a.user.name.clone(),
                uid: a.user.uid.clone(),
                groups: a.user.groups.clone(),
                extra: a.user.extra.clone(),
            },
        })
    }

    /// `authorizer` and `authorizer.requestResource` for an activation.
    pub fn vars<'a>(&self, a: &Attributes) -> [(&'static str, Value<'a>); 2] {
        [
            ("authorizer", authorizer_value(self.az.clone(), self.user.clone())),
            (
                "authorizer.requestResource",
                request_resource_value(
                    self.az.clone(),
                    self.user.clone(),
                    a.def.group,
                    a.def.plural,
                    &a.subresource,
                    &a.namespace,
                    &a.name,
                ),
            ),
        ]
    }
}
