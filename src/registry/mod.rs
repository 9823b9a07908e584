//! The registry: one cloneable [`Registry`] handle on everything stored — the generic store
//! (create/get/list/update/delete/watch for any row of the resource table), the index of served
//! rows, request options, paging, the Service IP/port allocators — and the
//! registry writes with their own semantics (`pods`: binding, eviction, ephemeral containers) and
//! the informers that keep in-memory indexes of a resource (`informer`).
//! Admission plugs in through [`admission::Admission`]; the registry never calls up.

pub mod admission;
pub mod allocator;
pub mod informer;
pub mod lookup;
pub mod options;
pub mod pager;
pub mod pods;
pub mod resources;
pub mod store;

pub use store::Registry;
