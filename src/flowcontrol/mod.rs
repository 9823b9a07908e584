//! Overload protection in front of authorization (upstream's `WithPriorityAndFairness`, or
//! `WithMaxInFlightLimit` when `--enable-priority-and-fairness=false`).
//!
//! API Priority and Fairness, as kube-apiserver 1.33 does it:
//! - [`bootstrap`] keeps upstream's mandatory and suggested FlowSchemas and
//!   PriorityLevelConfigurations in storage;
//! - [`controller`] digests them (watch-driven, no storage read per request), classifies each
//!   request ([`rules`]), estimates its seats ([`estimate`]) and dispatches it through its
//!   level's fair queues ([`queueset`], [`shuffle`]); levels lend and borrow seats every 10 s
//!   ([`alloc`]); rejected requests get 429 with a `Retry-After` that grows under sustained
//!   pressure ([`retry`]);
//! - [`metrics`] and [`debug`] are the `apiserver_flowcontrol_*` metrics and the
//!   `/debug/api_priority_and_fairness/*` dumps.
//!
//! [`maxinflight`] is the simpler filter used when APF is off.

pub mod alloc;
pub mod bootstrap;
pub mod controller;
pub mod debug;
pub mod estimate;
pub mod maxinflight;
pub mod metrics;
pub mod queueset;
pub mod retry;
pub mod rules;
pub mod shuffle;

pub use controller::{Apf, Classification, Decision};
pub use maxinflight::{Inflight, MaxInflight};

/// The overload filter in force.
pub enum Gate {
    Apf(std::sync::Arc<Apf>),
    MaxInflight(MaxInflight),
}

/// Upstream's body for a request turned away by either filter (`http.Error` with 429).
pub const TOO_MANY_REQUESTS: &str = "Too many requests, please try again later.\n";
