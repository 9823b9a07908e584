//! `events.k8s.io/v1`: the same objects as core v1 events (shared storage), but creates through
//! this group get the strict validation, including the DNS-subdomain name rule.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["ev"],
    ..def("events.k8s.io", "v1", "Event", "events", "event", Scope::Namespaced)
}];
