//! Capstan: a Kubernetes API server, drop-in for kube-apiserver.
//!
//! The modules form layers and dependencies point down (`tests/layers.rs` checks it; the
//! picture and the path of a request are in `docs/architecture.md`):
//!
//! - top: `cli`, then `server` (listeners, filter chain, dispatch, the App);
//! - dispatchers: `rest` (REST handlers), `proxy` (kubelet/pod/service), `aggregator`;
//! - `admission`, `audit`, then `apiext` (CRDs), `auth` (authn, authz, reviews) and
//!   `flowcontrol` (API Priority and Fairness, the max-in-flight limits);
//! - `codec` (negotiation, encoders, decoding) and `outbound` (the client for outgoing calls);
//! - `registry` (the cloneable handle on everything stored), `patch`, `api` (the resource table
//!   with per-kind behaviour on each row), `storage` (revision log, etcd, watch cache);
//! - `request` (the request parsed once) and the leaves: `util`, `error`, `config`, `pki`,
//!   `metrics`, `cel`, `testing`, `protobuf` (the table-driven Kubernetes protobuf codec).

pub mod admission;
pub mod aggregator;
pub mod api;
pub mod apiext;
pub mod audit;
pub mod auth;
pub mod cel;
pub mod cli;
pub mod codec;
pub mod config;
pub mod error;
pub mod flowcontrol;
pub mod metrics;
pub mod outbound;
pub mod patch;
pub mod pki;
pub mod protobuf;
pub mod proxy;
pub mod registry;
pub mod request;
pub mod rest;
pub mod server;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod util;
