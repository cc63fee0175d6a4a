//! One module per action family: [`deployment`], [`network`], [`project`].

pub mod deployment;
pub mod network;
pub mod project;

use backon::Retryable;
use contaxy_common::store::actions::ActionRecord;

use crate::executor::ActionError;
use crate::retry;
use crate::runtime::RuntimeError;

/// The action's payload as `T`; a payload that does not fit is permanent.
pub(crate) fn parse_payload<T: serde::de::DeserializeOwned>(
    action: &ActionRecord,
) -> Result<T, ActionError> {
    serde_json::from_value(action.payload.clone())
        .map_err(|e| ActionError::permanent(format!("payload of {}: {e}", action.kind)))
}

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
