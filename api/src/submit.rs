//! After an action is committed: publish it, confirmed. If the broker is
//! away the request still succeeds (the action is recorded); the scheduler's
//! relay publishes it later, so an accepted action is never lost.

use std::time::Duration;

use contaxy_common::store::actions::{self, ActionRecord};
use uuid::Uuid;

use crate::state::AppState;

/// Publishes a recorded action and notes the broker's confirm. Returns
/// whether it went out now.
pub async fn publish(state: &AppState, record: &ActionRecord) -> bool {
    let message = match record.message() {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(action_id = %record.id, kind = %record.kind, %error, "A recorded action cannot be read back.");
            return false;
        }
    };
    match state.publisher.publish_action(&message, 1).await {
        Ok(()) => {
            if let Err(error) = actions::mark_published(&state.db, record.id).await {
                // Harmless: the relay publishes it again; the duplicate is a
                // no-op at the worker's claim.
                tracing::warn!(%error, action_id = %record.id, "Could not note a publish.");
            }
            true
        }
        Err(error) => {
            tracing::warn!(%error, action_id = %record.id, "Could not publish an action; the relay will.");
            false
        }
    }
}

/// Waits until the action has ended or `timeout` passed; returns its last
/// known state.
pub async fn wait_for_outcome(
    state: &AppState,
    project_id: &str,
    id: Uuid,
    timeout: Duration,
) -> Option<ActionRecord> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let record = actions::get(&state.db, project_id, id)
            .await
            .ok()
            .flatten()?;
        if record.status.is_final() || tokio::time::Instant::now() >= deadline {
            return Some(record);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
