//! Queries on `actions`, the source of truth of every change.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::action::{Action, ActionOrigin, ActionStatus, ErrorClass, UnknownActionKind};
use crate::message::{ActionMessage, MalformedMessage, SCHEMA_VERSION, WireMessage};

/// An action as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ActionRecord {
    /// Its id.
    pub id: Uuid,
    /// Its project.
    pub project_id: String,
    /// Its kind's wire name.
    pub kind: String,
    /// What it acts on.
    pub resource_id: Option<String>,
    /// Kind-specific parameters.
    pub payload: serde_json::Value,
    /// Where it stands.
    pub status: ActionStatus,
    /// How many times a worker has claimed it.
    pub attempts: i32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// The class of the last failure.
    pub error_class: Option<ErrorClass>,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// Who asked.
    pub requested_by: Option<String>,
    /// Where it came from.
    pub origin: ActionOrigin,
    /// When the broker confirmed it (NULL: the relay will publish it).
    pub published_at: Option<DateTime<Utc>>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When a worker first claimed it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// What it reported when it succeeded (a file action's counts), if
    /// anything.
    pub result: Option<serde_json::Value>,
    /// The RabbitMQ user that published it (the message's validated AMQP
    /// `user_id`), for a broker-origin action that carried one.
    pub broker_user: Option<String>,
    /// How many times an administrator replayed it after it failed.
    pub replays: i32,
    /// When it was last replayed.
    pub replayed_at: Option<DateTime<Utc>>,
    /// Who last replayed it.
    pub replayed_by: Option<String>,
}

impl ActionRecord {
    /// The message that carries this action, read back from its row (the
    /// edge between the database and the code, where the row is typed once).
    pub fn message(&self) -> Result<ActionMessage, MalformedMessage> {
        ActionMessage::from_wire(WireMessage {
            schema_version: SCHEMA_VERSION,
            action_id: self.id,
            kind: self
                .kind
                .parse()
                .map_err(|e: UnknownActionKind| MalformedMessage::BadField {
                    field: "kind",
                    problem: e.to_string(),
                })?,
            project_id: self.project_id.clone(),
            resource_id: self.resource_id.clone(),
            payload: self.payload.clone(),
            idempotency_key: self.idempotency_key.clone(),
            requested_by: self.requested_by.clone(),
        })
    }
}

/// An action to record.
#[derive(Debug, Clone)]
pub struct NewAction {
    /// Its id (new, or the one a broker message carried).
    pub id: Uuid,
    /// Its project.
    pub project_id: String,
    /// What it does, with its parameters.
    pub action: Action,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// Who asked.
    pub requested_by: Option<String>,
    /// Where it came from.
    pub origin: ActionOrigin,
    /// The RabbitMQ user that published it, when the message said (AMQP
    /// `user_id`, which RabbitMQ checks against the connection's user).
    pub broker_user: Option<String>,
}

impl NewAction {
    /// A new action with a fresh, time-ordered id.
    pub fn new(project_id: &str, action: Action, origin: ActionOrigin) -> Self {
        Self {
            id: Uuid::now_v7(),
            project_id: project_id.to_owned(),
            action,
            idempotency_key: None,
            requested_by: None,
            origin,
            broker_user: None,
        }
    }

    /// The action a broker message describes.
    pub fn from_message(message: &ActionMessage) -> Self {
        Self {
            id: message.action_id,
            project_id: message.project_id.clone(),
            action: message.action.clone(),
            idempotency_key: message.idempotency_key.clone(),
            requested_by: message.requested_by.clone(),
            origin: ActionOrigin::Broker,
            broker_user: None,
        }
    }
}

/// The result of recording an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// A new row.
    New(ActionRecord),
    /// The same id or idempotency key was recorded before: that row.
    Existing(ActionRecord),
}

impl Recorded {
    /// The row, new or not.
    pub fn record(&self) -> &ActionRecord {
        match self {
            Self::New(r) | Self::Existing(r) => r,
        }
    }
}

/// Records an action, or finds the one with the same id or idempotency key.
pub async fn record(conn: &mut PgConnection, new: &NewAction) -> sqlx::Result<Recorded> {
    let inserted = sqlx::query_as::<_, ActionRecord>(
        "INSERT INTO actions (id, project_id, kind, resource_id, payload, idempotency_key, requested_by, origin, broker_user)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT DO NOTHING
         RETURNING *",
    )
    .bind(new.id)
    .bind(&new.project_id)
    .bind(new.action.kind().as_str())
    .bind(new.action.resource_id())
    .bind(new.action.payload())
    .bind(&new.idempotency_key)
    .bind(&new.requested_by)
    .bind(new.origin)
    .bind(&new.broker_user)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(record) = inserted {
        return Ok(Recorded::New(record));
    }
    let existing = sqlx::query_as::<_, ActionRecord>(
        "SELECT * FROM actions
         WHERE id = $1 OR (project_id = $2 AND idempotency_key = $3)
         ORDER BY (id = $1) DESC LIMIT 1",
    )
    .bind(new.id)
    .bind(&new.project_id)
    .bind(&new.idempotency_key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Recorded::Existing(existing))
}

/// One action of a project.
pub async fn get(pool: &PgPool, project_id: &str, id: Uuid) -> sqlx::Result<Option<ActionRecord>> {
    sqlx::query_as("SELECT * FROM actions WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// An action by id alone, whatever its project: for the worker, which
/// meets ids on messages before it trusts them.
pub async fn by_id(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<ActionRecord>> {
    sqlx::query_as("SELECT * FROM actions WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Notes that the broker confirmed the action.
pub async fn mark_published<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE actions SET published_at = now() WHERE id = $1 AND published_at IS NULL")
        .bind(id)
        .execute(executor)
        .await
        .map(drop)
}

/// Notes that the broker confirmed each of `ids`, in one statement, without
/// waiting for the commit to reach the disk (`synchronous_commit = off`
/// for this transaction only): a mark lost in a crash makes the relay
/// publish the action again, which a worker's claim takes as the duplicate
/// it is.
pub async fn mark_all_published(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE actions SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL",
    )
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Claimed for one more attempt: the row as it now is.
    Claimed(ActionRecord),
    /// Claimable, but every allowed attempt was already made (the workers
    /// that made them stopped without an outcome): the action is now
    /// failed, the row as it now is.
    Exhausted(ActionRecord),
    /// Another worker holds a live lease until then: its attempt runs (a
    /// duplicate delivery), or its worker died and the lease, no longer
    /// renewed, is about to run out.
    Held(DateTime<Utc>),
    /// Claimable, but another action on the same resource must end first
    /// (see [`BLOCKED_BY`]): this one waits its turn.
    Waiting(Uuid),
    /// Not claimable: it ended.
    NotClaimable,
}

/// The condition of a claimable row `a`: waiting, or running under a lease
/// that ran out (its worker stopped answering).
const CLAIMABLE: &str = "(a.status IN ('queued', 'retrying')
                          OR (a.status = 'running' AND a.lease_expires_at < now()))";

/// Whether action `o` of the same project keeps action `a` from being
/// claimed. Actions on one resource apply one at a time, in the order they
/// were accepted (`(created_at, id)`):
///
/// - a deployment action waits while another action on its deployment
///   runs, and while an older one waits to run; but a delete or cancel does
///   not wait for older ones that merely wait: those then find their
///   deployment gone (or cancelled) and end `cancelled`, so a delete never
///   waits behind a deploy's retries, and nothing older undoes it;
/// - a project's deletion waits while any action of the project runs (one
///   mid-deploy finishes making its container, which the deletion then
///   removes); those that merely wait find the project being deleted when
///   they run, and make nothing.
///
/// The claim holds advisory locks (see [`lock_resource`]) so that two
/// workers never both see the other's action as not yet running.
const BLOCKED_BY: &str = "o.project_id = a.project_id AND o.id <> a.id
      AND ((a.resource_id IS NOT NULL AND o.resource_id = a.resource_id
            AND (o.status = 'running'
                 OR (o.status IN ('queued', 'retrying')
                     AND (o.created_at, o.id) < (a.created_at, a.id)
                     AND a.kind NOT IN ('deployment.delete', 'deployment.cancel'))))
           OR (a.kind = 'project.delete' AND o.status = 'running'))";

/// Claims the action for one attempt, at most `max_attempts` in all: a
/// claimable action whose attempts are used up (each claim counts one, so a
/// worker that dies mid-attempt spends one) is failed instead, so an action
/// that kills its worker is not run for ever. One that must wait for
/// another action on its resource is not claimed ([`Claim::Waiting`]).
pub async fn claim(
    pool: &PgPool,
    id: Uuid,
    lease: Duration,
    max_attempts: u32,
) -> sqlx::Result<Claim> {
    // Ended explicitly whatever the answer: a transaction that is only
    // dropped is rolled back when its connection is next used, and until
    // then its advisory locks would hold up every claim on the resource.
    let mut tx = pool.begin().await?;
    let claim = claim_in(&mut tx, id, lease, max_attempts).await?;
    tx.commit().await?;
    Ok(claim)
}

async fn claim_in(
    tx: &mut PgConnection,
    id: Uuid,
    lease: Duration,
    max_attempts: u32,
) -> sqlx::Result<Claim> {
    let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
    let target: Option<(String, Option<String>, String)> =
        sqlx::query_as("SELECT project_id, resource_id, kind FROM actions WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((project_id, resource_id, kind)) = target else {
        return Ok(Claim::NotClaimable);
    };
    lock_resource(&mut *tx, &project_id, resource_id.as_deref(), &kind).await?;
    // Each statement reads its own snapshot: an action that blocked the
    // claim can end before the statement that names the blocker, which then
    // finds none. The action is then claimable again, so try again. Under
    // the locks taken above no new blocker starts running and none older is
    // accepted, so blockers only go away and a few rounds suffice; past
    // them the action waits its turn (redelivered later), never dropped.
    for _ in 0..CLAIM_ROUNDS {
        if let Some(claim) = claim_round(tx, id, lease, max_attempts).await? {
            return Ok(claim);
        }
    }
    Ok(Claim::Waiting(id))
}

/// How many times [`claim_in`] tries while blockers end under it.
const CLAIM_ROUNDS: usize = 4;

/// One try at claiming: `None` when the action is claimable but nothing
/// blocks it any more (a blocker ended during the try).
async fn claim_round(
    tx: &mut PgConnection,
    id: Uuid,
    lease: Duration,
    max_attempts: i32,
) -> sqlx::Result<Option<Claim>> {
    let claimed: Option<ActionRecord> = sqlx::query_as(&format!(
        "UPDATE actions a
         SET status = 'running', attempts = attempts + 1, updated_at = now(),
             started_at = coalesce(started_at, now()),
             lease_expires_at = now() + make_interval(secs => $2),
             published_at = coalesce(published_at, now())
         WHERE a.id = $1 AND a.attempts < $3 AND {CLAIMABLE}
           AND NOT EXISTS (SELECT 1 FROM actions o WHERE {BLOCKED_BY})
         RETURNING *"
    ))
    .bind(id)
    .bind(lease.as_secs_f64())
    .bind(max_attempts)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = claimed {
        return Ok(Some(Claim::Claimed(row)));
    }
    let exhausted: Option<ActionRecord> = sqlx::query_as(&format!(
        "UPDATE actions a
         SET status = 'failed', error_class = 'transient', updated_at = now(),
             finished_at = now(), lease_expires_at = NULL,
             last_error = 'gave up after ' || attempts || ' attempts, the last of which '
                          || 'ended without an outcome (the worker running it stopped)'
         WHERE a.id = $1 AND a.attempts >= $2 AND {CLAIMABLE}
         RETURNING *"
    ))
    .bind(id)
    .bind(max_attempts)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = exhausted {
        return Ok(Some(Claim::Exhausted(row)));
    }
    let held: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT lease_expires_at FROM actions WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(until) = held.flatten() {
        return Ok(Some(Claim::Held(until)));
    }
    let blocking: Option<Uuid> = sqlx::query_scalar(&format!(
        "SELECT o.id FROM actions a JOIN actions o ON {BLOCKED_BY}
         WHERE a.id = $1 AND {CLAIMABLE}
         ORDER BY o.created_at LIMIT 1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = blocking {
        return Ok(Some(Claim::Waiting(other)));
    }
    let claimable: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM actions a WHERE a.id = $1 AND {CLAIMABLE})"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    Ok((!claimable).then_some(Claim::NotClaimable))
}

/// Takes the transaction's advisory locks for claiming an action: the
/// resource's (exclusive), and the project's, shared by actions on its
/// resources and exclusive for the project's own actions (its deletion).
/// With them, [`BLOCKED_BY`] is decided by one claim at a time per resource.
async fn lock_resource(
    conn: &mut PgConnection,
    project_id: &str,
    resource_id: Option<&str>,
    kind: &str,
) -> sqlx::Result<()> {
    let project_key = format!("contaxy project {project_id}");
    let project_lock = if kind.starts_with("project.") {
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))"
    };
    sqlx::query(project_lock)
        .bind(&project_key)
        .execute(&mut *conn)
        .await?;
    if let Some(resource_id) = resource_id {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("contaxy resource {project_id} {resource_id}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Renews the lease of the claim that made attempt `attempt`, while its
/// attempt runs (the heartbeat): a worker that dies stops renewing, and its
/// claim runs out within one lease. False when the claim is no longer that
/// one (it ran out and another worker claimed the action, or it ended).
pub async fn renew(pool: &PgPool, id: Uuid, attempt: i32, lease: Duration) -> sqlx::Result<bool> {
    let renewed = sqlx::query(
        "UPDATE actions SET lease_expires_at = now() + make_interval(secs => $3)
         WHERE id = $1 AND status = 'running' AND attempts = $2",
    )
    .bind(id)
    .bind(attempt)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Hands back the claim of attempt `attempt`, which a stopping worker could
/// not finish within its drain deadline: the action waits again
/// (`retrying`) for the delivery the worker requeues, and the interrupted
/// attempt is not counted (stopping a worker is not the action's fault, so
/// rolling restarts do not use up its attempts). False when the claim is no
/// longer that one.
pub async fn release(pool: &PgPool, id: Uuid, attempt: i32) -> sqlx::Result<bool> {
    let released = sqlx::query(
        "UPDATE actions
         SET status = 'retrying', attempts = attempts - 1, lease_expires_at = NULL,
             updated_at = now(), error_class = 'transient',
             last_error = 'handed back: the worker running it stopped before the attempt ended'
         WHERE id = $1 AND status = 'running' AND attempts = $2",
    )
    .bind(id)
    .bind(attempt)
    .execute(pool)
    .await?;
    Ok(released.rows_affected() == 1)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done, with what it reports (if anything).
    Succeeded {
        /// The report (`actions.result`).
        result: Option<serde_json::Value>,
    },
    /// Another attempt will follow (through a delay queue).
    Retrying {
        /// Why this attempt failed.
        error: String,
    },
    /// Nothing left to do: what it acts on was deleted after it was
    /// accepted, or its project is being deleted. Ends `cancelled`.
    Cancelled {
        /// Why.
        reason: String,
    },
    /// Given up.
    Failed {
        /// Why.
        error: String,
        /// How the error was classed.
        class: ErrorClass,
    },
}

/// Records how the claimed attempt `attempt` ended. Returns false when the
/// action was not running under that claim (nothing changed): a worker whose
/// lease ran out, and whose action another worker claimed since, does not
/// settle the other's attempt.
pub async fn finish(
    pool: &PgPool,
    id: Uuid,
    attempt: i32,
    outcome: &Outcome,
) -> sqlx::Result<bool> {
    let (status, error, class, result) = match outcome {
        Outcome::Succeeded { result } => (ActionStatus::Succeeded, None, None, result.as_ref()),
        Outcome::Retrying { error } => (
            ActionStatus::Retrying,
            Some(error.as_str()),
            Some(ErrorClass::Transient),
            None,
        ),
        Outcome::Cancelled { reason } => {
            (ActionStatus::Cancelled, Some(reason.as_str()), None, None)
        }
        Outcome::Failed { error, class } => (
            ActionStatus::Failed,
            Some(error.as_str()),
            Some(*class),
            None,
        ),
    };
    let updated = sqlx::query(
        "UPDATE actions
         SET status = $2, last_error = $3, error_class = $4, updated_at = now(),
             lease_expires_at = NULL, result = $6,
             finished_at = CASE WHEN $2 IN ('succeeded', 'failed', 'cancelled') THEN now() END
         WHERE id = $1 AND status = 'running' AND attempts = $5",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .bind(class)
    .bind(attempt)
    .bind(result)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Fails an action that never got to run (its message was malformed).
pub async fn fail_unrun<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
    error: &str,
    class: ErrorClass,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE actions
         SET status = 'failed', last_error = $2, error_class = $3, updated_at = now(),
             finished_at = now(), lease_expires_at = NULL
         WHERE id = $1 AND status IN ('queued', 'retrying', 'running')",
    )
    .bind(id)
    .bind(error)
    .bind(class)
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Why a replay was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No such action.
    #[error("no action {0}")]
    NotFound(Uuid),
    /// Only a failed action is replayed.
    #[error("the action is {0:?}, not failed; only a failed action can be replayed")]
    NotFailed(ActionStatus),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Sends failed action `id` round again, by `by`: queued, with a fresh
/// attempt budget and no error, not yet published (the caller publishes
/// it; the relay does if that fails), its replay counted. A failed
/// `deployment.deploy` also puts its deployment back to `pending`, so the
/// outcome of the new run is written (a failed job is otherwise final).
pub async fn replay(pool: &PgPool, id: Uuid, by: &str) -> Result<ActionRecord, ReplayError> {
    let mut tx = pool.begin().await?;
    let status: Option<ActionStatus> =
        sqlx::query_scalar("SELECT status FROM actions WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match status {
        Some(ActionStatus::Failed) => {}
        None => {
            tx.rollback().await?;
            return Err(ReplayError::NotFound(id));
        }
        Some(other) => {
            tx.rollback().await?;
            return Err(ReplayError::NotFailed(other));
        }
    }
    let row: ActionRecord = sqlx::query_as(
        "UPDATE actions
         SET status = 'queued', attempts = 0, last_error = NULL, error_class = NULL,
             lease_expires_at = NULL, started_at = NULL, finished_at = NULL, result = NULL,
             published_at = NULL, updated_at = now(),
             replays = replays + 1, replayed_at = now(), replayed_by = $2
         WHERE id = $1
         RETURNING *",
    )
    .bind(id)
    .bind(by)
    .fetch_one(&mut *tx)
    .await?;
    if row.kind == "deployment.deploy" {
        sqlx::query(
            "UPDATE deployments
             SET status = 'pending', status_detail = NULL, exit_code = NULL, updated_at = now()
             WHERE project_id = $1 AND id = $2 AND status = 'failed'",
        )
        .bind(&row.project_id)
        .bind(&row.resource_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// How many actions are recorded and not yet confirmed by the broker (the
/// outbox backlog).
pub async fn count_unpublished(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM actions WHERE published_at IS NULL AND status = 'queued'",
    )
    .fetch_one(pool)
    .await
}

/// Locks up to `limit` actions that were recorded at least `min_age` ago
/// and never confirmed by the broker, skipping rows another relay holds.
pub async fn lock_unpublished(
    conn: &mut PgConnection,
    min_age: Duration,
    limit: i64,
) -> sqlx::Result<Vec<ActionRecord>> {
    sqlx::query_as(
        "SELECT * FROM actions
         WHERE published_at IS NULL AND status = 'queued'
           AND created_at < now() - make_interval(secs => $1)
         ORDER BY created_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(min_age.as_secs_f64())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// Takes up to `limit` actions whose message is presumed lost, for the
/// caller's transaction to publish again, and notes them published now (so
/// one is taken again only after another bound):
///
/// - `queued`, published (confirmed and routed) more than `queued_for` ago,
///   and still not claimed: its message left the queue without a worker
///   seeing it (a queue purged or deleted by hand, or a publish from before
///   publishes were mandatory);
/// - `retrying`, and its delayed copy is `retry_grace` overdue: the retry
///   was due `delays[attempts - 1]` (the last delay beyond the ladder)
///   after the attempt ended, and no worker claimed it since.
///
/// A duplicate that results (the message was only slow) is a no-op at the
/// worker's claim.
pub async fn take_lost(
    conn: &mut PgConnection,
    queued_for: Duration,
    retry_grace: Duration,
    delays: &[Duration],
    limit: i64,
) -> sqlx::Result<Vec<ActionRecord>> {
    let delays: Vec<f64> = delays.iter().map(Duration::as_secs_f64).collect();
    sqlx::query_as(
        "UPDATE actions SET published_at = now(), updated_at = now()
         WHERE id IN (
             SELECT id FROM actions
             WHERE (status = 'queued' AND published_at < now() - make_interval(secs => $1))
                OR (status = 'retrying'
                    AND updated_at + make_interval(secs =>
                          coalesce($3[least(greatest(attempts, 1), cardinality($3))], 0) + $2)
                        < now())
             ORDER BY updated_at
             LIMIT $4
             FOR UPDATE SKIP LOCKED)
         RETURNING *",
    )
    .bind(queued_for.as_secs_f64())
    .bind(retry_grace.as_secs_f64())
    .bind(&delays)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// Puts back actions whose worker stopped answering (status `running`, lease
/// run out) as `retrying`, locking them for the caller's transaction, which
/// publishes them again.
pub async fn requeue_stuck(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<ActionRecord>> {
    sqlx::query_as(
        "UPDATE actions
         SET status = 'retrying', lease_expires_at = NULL, updated_at = now(),
             last_error = 'the worker holding it stopped answering', error_class = 'transient'
         WHERE id IN (
             SELECT id FROM actions
             WHERE status = 'running' AND lease_expires_at < now()
             ORDER BY lease_expires_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING *",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}
