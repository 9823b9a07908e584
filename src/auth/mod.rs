//! Authentication: who is calling. x509 client certificates for now; tokens, RBAC and
//! impersonation come with the [security] issue.

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}
