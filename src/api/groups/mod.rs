//! Built-in rows, one file per API group. Order: core first, then named groups in
//! upstream's discovery priority order.

mod core;

use super::ResourceDef;
use std::sync::OnceLock;

/// Every built-in row.
pub fn all() -> &'static [ResourceDef] {
    static ALL: OnceLock<Vec<ResourceDef>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        v.extend_from_slice(core::ROWS);
        v
    })
}
