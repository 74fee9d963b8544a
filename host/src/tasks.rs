//! Helpers for the host's background tasks.

use std::time::Duration;
use tokio::task::JoinSet;

/// Wait up to `timeout` for every task in `set` to finish, then abort the
/// rest; returns how many had to be aborted.
pub async fn drain<T: 'static>(set: &mut JoinSet<T>, timeout: Duration) -> usize {
    let finished =
        tokio::time::timeout(timeout, async { while set.join_next().await.is_some() {} }).await;
    if finished.is_ok() {
        return 0;
    }
    let unfinished = set.len();
    set.shutdown().await;
    unfinished
}
