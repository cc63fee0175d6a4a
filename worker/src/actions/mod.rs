//! One module per action family: [`deployment`] (with [`job_end`]: cancel
//! and the TTL removal), [`network`], [`file`], [`project`].
//! Each matches its own family's enum exhaustively; `crate::dispatch` picks
//! the family.

pub mod deployment;
pub mod file;
pub mod job_end;
pub mod network;
pub mod project;

use backon::Retryable;

use crate::retry;
use crate::runtime::RuntimeError;

/// A runtime call with the in-process backoff for transient failures.
pub(crate) async fn with_retries<T, F, Fut>(call: F) -> Result<T, RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RuntimeError>>,
{
    call.retry(retry::in_process())
        .when(RuntimeError::is_retryable)
        .notify(|error, delay| tracing::debug!(%error, ?delay, "Retrying a runtime call."))
        .await
}
