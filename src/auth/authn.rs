//! Authentication: the chain of authenticators upstream runs (x509 client certificates,
//! then tokens), then anonymous. The first that recognises the request decides.

use super::{UserInfo, AUTHENTICATED_GROUP};
use crate::error::ApiError;
use crate::server::handler::RawRequest;

/// The configured authenticators.
pub struct Authenticator {
    /// `--anonymous-auth` (after upstream's reset to false under AlwaysAllow).
    pub anonymous: bool,
}

impl Authenticator {
    /// Who sent `req`: `Ok(user)` (possibly anonymous), or a 401 `Unauthorized` Status when a
    /// credential was presented but is invalid, or none was and anonymous access is off.
    pub async fn authenticate(&self, req: &RawRequest) -> Result<UserInfo, ApiError> {
        if let Some(u) = &req.conn_user {
            let mut u = u.clone();
            if !u.in_group(AUTHENTICATED_GROUP) {
                u.groups.push(AUTHENTICATED_GROUP.into());
            }
            return Ok(u);
        }
        if self.anonymous {
            return Ok(UserInfo::anonymous());
        }
        Err(unauthorized())
    }
}

/// Upstream's 401: `{"reason":"Unauthorized","message":"Unauthorized","code":401}`.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}
