//! The cases, each named after the upstream behaviour it checks.

mod api;
mod auth;
mod kubectl;
mod watch;

use crate::client::Kubectl;
use crate::suite::Case;

pub fn all(kubectls: &[Kubectl]) -> Vec<Case> {
    let mut v = api::cases();
    v.extend(watch::cases());
    v.extend(auth::cases());
    for k in kubectls {
        v.extend(kubectl::cases(k));
    }
    v
}
