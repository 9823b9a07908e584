//! `batch/v1`.

use super::def;
use crate::api::*;

pub const ROWS: &[ResourceDef] = &[
    ResourceDef {
        short_names: &["cj"],
        categories: &["all"],
        subresources: &[STATUS],
        generation: true,
        strategy: &CRON_JOB,
        ..def("batch", "v1", "CronJob", "cronjobs", "cronjob", Scope::Namespaced)
    },
    ResourceDef {
        categories: &["all"],
        subresources: &[STATUS],
        generation: true,
        strategy: &JOB,
        ..def("batch", "v1", "Job", "jobs", "job", Scope::Namespaced)
    },
];

// Per-kind behaviour of this group's rows.

const CRON_JOB: Builtin = Builtin {
    printer: &table::CRON_JOB,
    ..strategy::batch::CRON_JOB
};

const JOB: Builtin = Builtin {
    printer: &table::JOB,
    fields: &fields::JOB,
    ..strategy::batch::JOB
};
