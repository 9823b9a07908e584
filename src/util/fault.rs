//! Fault switches for tests, compiled into debug builds only: a fault named `n` is on while the
//! file `$TEST_FAULT_DIR/n` exists, so a test turns it on and off from outside the process (a
//! wedged storage writer, a start-up hook that does not finish). Release builds never check.

use std::time::Duration;

/// Whether the fault `name` is on now.
#[cfg(debug_assertions)]
pub fn on(name: &str) -> bool {
    std::env::var_os("TEST_FAULT_DIR").is_some_and(|d| std::path::Path::new(&d).join(name).exists())
}

#[cfg(not(debug_assertions))]
pub fn on(_name: &str) -> bool {
    false
}

/// Block this thread while the fault `name` is on.
pub fn block_while(name: &str) {
    while on(name) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait while the fault `name` is on.
pub async fn wait_while(name: &str) {
    while on(name) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
