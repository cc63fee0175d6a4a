//! How a pass submits an action: recorded with an idempotency key naming
//! the occasion (`cleanup:ttl:<deployment>`), then published. The key makes
//! a repeat a no-op: the same pass in the next round, or in a second
//! scheduler at the same moment, finds the action already recorded. A
//! publish that fails leaves the row to the outbox relay, as for the API.

use contaxy_common::domain::action::{Action, ActionOrigin};
use contaxy_common::publisher::Publisher;
use contaxy_common::store::actions::NewAction;
use contaxy_common::submit::{self, Submitted};
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
/// then publishes it: the one submit path ([`contaxy_common::submit`]), so
/// a cleanup's delete hides its deployment as the API's does.
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
    match submit::submit::<sqlx::Error, ()>(pool, publisher, new, ()).await? {
        Submitted::New { .. } => Ok(Submission::New),
        Submitted::Repeat(_) => Ok(Submission::AlreadySubmitted),
    }
}
