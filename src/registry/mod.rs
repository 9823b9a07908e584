//! The generic store: create/get/list/update/delete/watch for any row of the resource table.

pub mod selector;
