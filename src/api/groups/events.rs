//! `events.k8s.io/v1`: the same objects as core v1 events (shared storage), but creates through
//! this group get the strict validation, including the DNS-subdomain name rule.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[ResourceDef {
    short_names: &["ev"],
    strategy: &EVENT,
    ..def("events.k8s.io", "v1", "Event", "events", "event", Scope::Namespaced)
}];

// Per-kind behaviour of this group's rows.

const EVENT: Builtin = Builtin {
    printer: &table::EVENT,
    expiry: Expiry::EventTtl,
    fields: &fields::EVENT_V1,
    to_storage: convert::events_v1_to_storage,
    served_form: Some(convert::events_v1_from_storage),
    ..Builtin::DEFAULT
};
