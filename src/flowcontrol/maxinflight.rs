//! The max-in-flight filter used when API Priority and Fairness is off (upstream
//! `WithMaxInFlightLimit`): separate pools for read-only (`--max-requests-inflight`) and
//! mutating (`--max-mutating-requests-inflight`) requests; long-running requests are not
//! counted, and `system:masters` is served even when its pool is full.

use crate::request::UserInfo;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct MaxInflight {
    readonly: Arc<Semaphore>,
    mutating: Arc<Semaphore>,
}

/// What the limit decided.
pub enum Inflight {
    /// Not counted (long-running, or `system:masters` over the limit).
    Exempt,
    /// Counted while held; `true` for the mutating pool.
    Held(#[allow(dead_code)] OwnedSemaphorePermit, bool),
    /// The pool is full: 429.
    Rejected { mutating: bool },
}

/// Upstream's `nonMutatingRequestVerbs`.
pub fn is_mutating(verb: &str) -> bool {
    !matches!(verb, "get" | "list" | "watch")
}

impl MaxInflight {
    /// 0 means unlimited (as upstream).
    pub fn new(readonly: usize, mutating: usize) -> Self {
        let cap = |n: usize| if n == 0 { Semaphore::MAX_PERMITS } else { n };
        MaxInflight {
            readonly: Arc::new(Semaphore::new(cap(readonly))),
            mutating: Arc::new(Semaphore::new(cap(mutating))),
        }
    }

    pub fn admit(&self, verb: &str, long_running: bool, user: &UserInfo) -> Inflight {
        if long_running {
            return Inflight::Exempt;
        }
        let mutating = is_mutating(verb);
        let pool = if mutating { &self.mutating } else { &self.readonly };
        match pool.clone().try_acquire_owned() {
            Ok(p) => Inflight::Held(p, mutating),
            // A system:master is so powerful that it always gets an answer.
            Err(_) if user.groups.iter().any(|g| g == "system:masters") => Inflight::Exempt,
            Err(_) => Inflight::Rejected { mutating },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_separate_watch_is_exempt_and_masters_pass() {
        let lim = MaxInflight::new(1, 1);
        let user = UserInfo::new("u", vec!["system:authenticated".into()]);
        let master = UserInfo::new("m", vec!["system:masters".into()]);
        let a = lim.admit("get", false, &user);
        assert!(matches!(a, Inflight::Held(_, false)));
        assert!(matches!(
            lim.admit("list", false, &user),
            Inflight::Rejected { mutating: false }
        ));
        assert!(matches!(lim.admit("list", false, &master), Inflight::Exempt));
        assert!(matches!(lim.admit("create", false, &user), Inflight::Held(_, true)));
        assert!(matches!(lim.admit("watch", true, &user), Inflight::Exempt));
        drop(a);
        assert!(matches!(lim.admit("get", false, &user), Inflight::Held(..)));
    }
}
