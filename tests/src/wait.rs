//! Waiting on a condition with a deadline, never a bare sleep.

use std::future::Future;
use std::time::Duration;

/// Long enough for any container step, start or readiness on a loaded
/// two-core machine; what is awaited usually takes well under two seconds.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `check` until it returns `Some`, or panics with `what` after
/// `deadline`. The pause between polls only paces the polling: what is
/// waited for is the condition.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `future` with [`DEADLINE`] as its limit, panicking with `what`
/// when it is not done by then.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?} waiting for {what}"))
}
