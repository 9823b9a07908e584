//! Capstan: a Kubernetes API server, drop-in for kube-apiserver.
//!
//! Each module is one layer of the request path (see DESIGN.md):
//! `server` (listeners, routing, negotiation) → `auth` → `registry` (generic store driven by
//! the `api` resource table) → `storage` (revision log + watch cache).

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
pub mod metrics;
pub mod outbound;
pub mod patch;
pub mod pki;
pub mod proxy;
pub mod registry;
pub mod request;
pub mod rest;
pub mod server;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod util;
