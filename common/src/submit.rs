//! The one way work is enqueued, by the API and the scheduler alike.
//!
//! 1. In one transaction, record the action and write the resource row it
//!    acts on (the deployment row, a schedule's run, the project's
//!    "deleting" mark, …), so neither exists without the other. A
//!    [`ResourceWrite`] that refuses (a taken id, a slot already fired)
//!    rolls both back.
//!    A `deployment.delete` (but the TTL cleanup's, which keeps the record)
//!    also marks its deployment as being deleted, whichever door it came
//!    through: from then on the API's reads leave it out
//!    (`store::deployments::mark_deleting`).
//! 2. An action recorded before with the same id or idempotency key writes
//!    nothing and answers [`Submitted::Repeat`] with the first action.
//! 3. Publish the action, confirmed. If the broker is away the submission
//!    still succeeds (the action is recorded); the scheduler's relay
//!    publishes it later, so an accepted action is never lost.
//! 4. Note the confirm (`published_at`), so that the relay leaves the
//!    action alone: at once ([`publish`]), or queued to [`PublishMarks`],
//!    which notes many in one statement off the publisher's path (the
//!    API's way: one commit fewer per request).

use std::future::Future;

use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::domain::action::{Action, DeploymentAction};
use crate::message::ActionMessage;
use crate::publisher::Publisher;
use crate::store::actions::{self, ActionRecord, NewAction, Recorded};
use crate::store::deployments;

/// The resource row an action acts on, written inside the action's
/// transaction; `E` is the caller's error type. `()` writes nothing (the
/// action acts on a row that exists).
pub trait ResourceWrite<E>: Send {
    /// What the write returns (the row as written).
    type Row: Send;

    /// Writes the row on `conn`, inside the transaction the action was
    /// just recorded in. An `Err` rolls the action back too.
    fn write(self, conn: &mut PgConnection) -> impl Future<Output = Result<Self::Row, E>> + Send;
}

impl<E> ResourceWrite<E> for () {
    type Row = ();

    async fn write(self, _conn: &mut PgConnection) -> Result<(), E> {
        Ok(())
    }
}

/// How a submission ended.
#[derive(Debug)]
pub enum Submitted<R> {
    /// Recorded with its resource row, and published (or left to the relay).
    New {
        /// The recorded action.
        action: ActionRecord,
        /// What the [`ResourceWrite`] returned.
        row: R,
    },
    /// An action with the same id or idempotency key was recorded earlier;
    /// nothing was written or published now.
    Repeat(ActionRecord),
}

impl<R> Submitted<R> {
    /// The action, new or repeated.
    pub fn action(&self) -> &ActionRecord {
        match self {
            Self::New { action, .. } | Self::Repeat(action) => action,
        }
    }
}

/// Records `action` and the row `resource` writes in one transaction, then
/// publishes the action (see the module documentation).
pub async fn submit<E, W>(
    pool: &PgPool,
    publisher: &Publisher,
    action: NewAction,
    resource: W,
) -> Result<Submitted<W::Row>, E>
where
    E: From<sqlx::Error>,
    W: ResourceWrite<E>,
{
    let submitted = record(pool, action, resource).await?;
    if let Submitted::New { action, .. } = &submitted {
        publish(pool, publisher, action).await;
    }
    Ok(submitted)
}

/// Step 1 and 2 of [`submit`] alone: records `action` and the row
/// `resource` writes in one transaction, and leaves the publishing to the
/// caller (who has more to publish, in an order of its own; or the worker,
/// accepting an action that arrived on the broker). A caller that never
/// publishes leaves it to the relay.
pub async fn record<E, W>(
    pool: &PgPool,
    action: NewAction,
    resource: W,
) -> Result<Submitted<W::Row>, E>
where
    E: From<sqlx::Error>,
    W: ResourceWrite<E>,
{
    let mut tx = pool.begin().await?;
    // Rolled back explicitly: a dropped transaction is rolled back only when
    // its connection is next used, holding its locks (a project row held
    // `FOR SHARE`) until then.
    match actions::record(&mut tx, &action).await? {
        Recorded::Existing(existing) => {
            tx.rollback().await?;
            Ok(Submitted::Repeat(existing))
        }
        Recorded::New(recorded) => {
            if let Some(id) = hidden_by(&action.action) {
                deployments::mark_deleting(&mut tx, &action.project_id, id).await?;
            }
            let row = match resource.write(&mut tx).await {
                Ok(row) => row,
                Err(error) => {
                    tx.rollback().await?;
                    return Err(error);
                }
            };
            tx.commit().await?;
            Ok(Submitted::New {
                action: recorded,
                row,
            })
        }
    }
}

/// The deployment an action removes from clients' sight at once: a delete
/// that does not keep the record.
fn hidden_by(action: &Action) -> Option<&str> {
    match action {
        Action::Deployment {
            deployment_id,
            action: DeploymentAction::Delete(payload),
        } if !payload.archive_logs => Some(deployment_id),
        _ => None,
    }
}

/// Publishes a recorded action and notes the broker's confirm at once.
/// Returns whether it went out now; if not, the relay publishes it later.
pub async fn publish(pool: &PgPool, publisher: &Publisher, record: &ActionRecord) -> bool {
    let published = publish_message(publisher, record).await;
    if published && let Err(error) = actions::mark_published(pool, record.id).await {
        // Harmless: the relay publishes it again; the duplicate is a no-op
        // at the worker's claim.
        tracing::warn!(%error, action_id = %record.id, "Could not note a publish.");
    }
    published
}

/// [`publish`], with the confirm queued to `marks` rather than noted
/// before it returns.
pub async fn publish_marking_later(
    marks: &PublishMarks,
    publisher: &Publisher,
    record: &ActionRecord,
) -> bool {
    let published = publish_message(publisher, record).await;
    if published {
        marks.note(record.id);
    }
    published
}

async fn publish_message(publisher: &Publisher, record: &ActionRecord) -> bool {
    let message = match record.message() {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(action_id = %record.id, kind = %record.kind, %error, "A recorded action cannot be read back.");
            return false;
        }
    };
    publish_confirmed(publisher, &message).await
}

/// Publishes `message` and awaits the broker's confirm; whether it came.
/// One that did not is left to the relay (the action stays unpublished).
pub async fn publish_confirmed(publisher: &Publisher, message: &ActionMessage) -> bool {
    match publisher.publish_action(message, 1).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, action_id = %message.action_id, "Could not publish an action; the relay will.");
            false
        }
    }
}

/// Confirms queued for [`PublishMarks`] at most; past it, a confirm is not
/// noted (the relay publishes that action again, a duplicate the worker's
/// claim recognises).
const MARKS_QUEUED: usize = 65_536;

/// Confirms noted in one statement at most.
const MARKS_PER_STATEMENT: usize = 1_000;

/// Notes the broker's confirms in the background: [`PublishMarks::note`]
/// queues an id and returns; one task writes whatever is queued in one
/// statement ([`actions::mark_all_published`]), then the next lot, so that
/// under load many requests share a commit and none waits for it. A mark
/// not written (the process stopped first, the queue was full, PostgreSQL
/// failed) leaves the action to the relay, which publishes it again after
/// `CONTAXY_RELAY_MIN_AGE_MS`: a duplicate, never a loss.
#[derive(Debug, Clone)]
pub struct PublishMarks {
    queue: mpsc::Sender<Uuid>,
}

impl PublishMarks {
    /// Starts the task that writes the marks on `pool`; it ends once every
    /// handle is dropped and the queue is written.
    pub fn start(pool: PgPool) -> Self {
        let (queue, queued) = mpsc::channel(MARKS_QUEUED);
        tokio::spawn(write_marks(pool, queued));
        Self { queue }
    }

    /// Queues a confirmed action's mark.
    pub fn note(&self, id: Uuid) {
        if self.queue.try_send(id).is_err() {
            tracing::debug!(action_id = %id, "The publish marks are backed up; the relay will publish this action again.");
        }
    }
}

async fn write_marks(pool: PgPool, mut queued: mpsc::Receiver<Uuid>) {
    let mut ids = Vec::with_capacity(MARKS_PER_STATEMENT);
    while queued.recv_many(&mut ids, MARKS_PER_STATEMENT).await > 0 {
        if let Err(error) = actions::mark_all_published(&pool, &ids).await {
            tracing::warn!(%error, count = ids.len(), "Could not note a lot of publishes; the relay will publish them again.");
        }
        ids.clear();
    }
}
