//! The allocator of Capstan's binaries: mimalloc (declared `#[global_allocator]` in each
//! `main.rs`, not here: a test binary may bring its own), tuned to give memory back at once.
//!
//! Under the density load glibc's malloc was ~47 % of the server's CPU, merging and splitting
//! the chunks of the small JSON trees each write builds and drops; mimalloc's per-thread,
//! per-size pages take a third off the server's CPU there (BENCHMARKS.md, "mimalloc and one
//! LTO unit").
//! Two settings keep its idle memory at glibc's: no transparent huge pages (the `no_thp`
//! feature; 2 MiB pages for its arenas tripled idle RSS) and no purge delay ([`configure`]).

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (libmimalloc-sys names no constant
/// for it; `the_purge_delay_option_is_mimallocs` checks the number against its default).
const PURGE_DELAY: mi_option_t = 15;

/// Sets the allocator's options for a long-running server; call first thing in `main`.
///
/// Pages a thread frees are returned to the OS when freed rather than after mimalloc's default
/// delay of 1 s: the delay is only served when that thread allocates again, so a thread that
/// went idle after a burst (startup, an OpenAPI render) would keep its pages indefinitely.
pub fn configure() {
    // SAFETY: mi_option_set stores a value that mimalloc reads when it next purges.
    unsafe { mi_option_set(PURGE_DELAY, 0) };
}

/// Hands freed heap pages back to the OS: a one-time burst (startup's bootstrap, rendering an
/// OpenAPI document) would otherwise stay in the server's RSS. Both heaps: Rust's is
/// mimalloc's, the C libraries (SQLite) allocate from glibc's.
pub fn trim_heap() {
    // SAFETY: mi_collect only releases pages mimalloc holds free; it has no preconditions.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_mimallocs() {
        // mimalloc v3's default purge delay is 1,000 ms (its options.c); a different number
        // here means PURGE_DELAY names another option. Tests never call `configure`.
        // SAFETY: reading an option has no preconditions.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 1000);
    }
}
