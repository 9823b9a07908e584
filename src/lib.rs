//! Capstan: a Kubernetes API server, drop-in for kube-apiserver.
//!
//! Each module is one layer of the request path (see DESIGN.md):
//! `server` (listeners, routing, negotiation) → `auth` → `registry` (generic store driven by
//! the `api` resource table) → `storage` (revision log + watch cache).

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod patch;
pub mod pki;
pub mod registry;
pub mod server;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod util;
