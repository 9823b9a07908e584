//! `batch/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        short_names: &["cj"],
        categories: &["all"],
        subresources: &[STATUS],
        generation: true,
        ..def("batch", "v1", "CronJob", "cronjobs", "cronjob", Scope::Namespaced)
    },
    ResourceDef {
        categories: &["all"],
        subresources: &[STATUS],
        generation: true,
        ..def("batch", "v1", "Job", "jobs", "job", Scope::Namespaced)
    },
];
