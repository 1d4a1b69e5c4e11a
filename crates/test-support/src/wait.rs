//! Waiting for something the test cannot be told about.

use std::time::{Duration, Instant};

/// Polls `condition` every 20 ms until it holds; panics after `timeout` naming `what`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
