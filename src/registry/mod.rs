//! The generic store: create/get/list/update/delete/watch for any row of the resource table.

pub mod allocator;
pub mod options;
pub mod pager;
pub mod selector;
pub mod store;

pub use store::Registry;
