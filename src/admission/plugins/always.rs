//! AlwaysAdmit (a no-op, deprecated upstream) and AlwaysDeny (rejects every write).

use crate::admission::{Attributes, Env, Plugin};
use crate::error::ApiResult;

pub struct AlwaysAdmit;

#[async_trait::async_trait]
impl Plugin for AlwaysAdmit {
    fn name(&self) -> &'static str {
        "AlwaysAdmit"
    }
}

pub struct AlwaysDeny;

#[async_trait::async_trait]
impl Plugin for AlwaysDeny {
    fn name(&self) -> &'static str {
        "AlwaysDeny"
    }
    async fn validate(&self, a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        Err(a.forbidden("admission control is denying all modifications"))
    }
}
