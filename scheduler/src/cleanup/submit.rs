//! How a pass submits an action: recorded with an idempotency key naming
//! the occasion (`cleanup:ttl:<deployment>`), then published. The key makes
//! a repeat a no-op: the same pass in the next round, or in a second
//! scheduler at the same moment, finds the action already recorded. A
//! publish that fails leaves the row to the outbox relay, as for the API.

use contaxy_common::domain::action::{Action, ActionOrigin};
use contaxy_common::publisher::Publisher;
use contaxy_common::store::actions::{self, ActionRecord, NewAction, Recorded};
use sqlx::PgPool;

/// Who the scheduler's actions say asked.
pub const REQUESTED_BY: &str = "contaxy-scheduler";

/// What a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// Recorded now (and published, or left to the relay).
    New,
    /// Recorded earlier under the same key; nothing was done now.
    AlreadySubmitted,
}

/// Records `action` in `project_id` under `key` unless recorded already,
/// then publishes it.
pub async fn submit(
    pool: &PgPool,
    publisher: &Publisher,
    project_id: &str,
    action: Action,
    key: String,
) -> Result<Submission, sqlx::Error> {
    let mut new = NewAction::new(project_id, action, ActionOrigin::Scheduler);
    new.idempotency_key = Some(key);
    new.requested_by = Some(REQUESTED_BY.to_owned());
    let mut conn = pool.acquire().await?;
    let record = match actions::record(&mut conn, &new).await? {
        Recorded::New(record) => record,
        Recorded::Existing(_) => return Ok(Submission::AlreadySubmitted),
    };
    drop(conn);
    publish(pool, publisher, &record).await;
    Ok(Submission::New)
}

async fn publish(pool: &PgPool, publisher: &Publisher, record: &ActionRecord) {
    let message = match record.message() {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(action_id = %record.id, %error, "A recorded action cannot be read back.");
            return;
        }
    };
    match publisher.publish_action(&message, 1).await {
        Ok(()) => {
            if let Err(error) = actions::mark_published(pool, record.id).await {
                tracing::warn!(%error, action_id = %record.id, "Could not note a publish; the relay publishes it again.");
            }
        }
        Err(error) => {
            tracing::warn!(%error, action_id = %record.id, "Could not publish a cleanup action; the relay will.");
        }
    }
}
