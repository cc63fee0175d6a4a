//! The one way the API enqueues work: [`submit`].
//!
//! Every route that asks a worker to do something (deploy, delete, start,
//! stop, restart, recreate a deployment; delete a project; the file and
//! schedule routes to come) goes through it:
//!
//! 1. In one transaction, record the action and write the resource row it
//!    acts on (the deployment row, the project's "deleting" mark, …), so
//!    neither exists without the other. A [`ResourceWrite`] that refuses
//!    (a taken id, a project already being deleted) rolls both back.
//! 2. A repeat of an earlier request with the same `Idempotency-Key` writes
//!    nothing and answers [`Submitted::Repeat`] with the first action.
//! 3. Publish the action, confirmed. If the broker is away the request
//!    still succeeds (the action is recorded); the scheduler's relay
//!    publishes it later, so an accepted action is never lost.
//!
//! [`wait_for_outcome`] is the bounded wait of `wait=true` requests.

use std::future::Future;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use contaxy_common::store::actions::{self, ActionRecord, NewAction, Recorded};
use sqlx::PgConnection;

use crate::error::ApiError;
use crate::state::AppState;

/// The header a client may send so that a retried request does not act
/// twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest accepted `Idempotency-Key`, in bytes.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// The resource row an action acts on, written inside the action's
/// transaction. `()` writes nothing (the action acts on a row that exists).
pub trait ResourceWrite: Send {
    /// What the write returns (the row as written).
    type Row: Send;

    /// Writes the row on `conn`, inside the transaction the action was
    /// just recorded in. An `Err` rolls the action back too.
    fn write(
        self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<Self::Row, ApiError>> + Send;
}

impl ResourceWrite for () {
    type Row = ();

    async fn write(self, _conn: &mut PgConnection) -> Result<(), ApiError> {
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
    /// An earlier request with the same `Idempotency-Key` recorded this
    /// action; nothing was written or published now.
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
/// publishes the action. A repeated `Idempotency-Key` (in
/// `action.idempotency_key`) answers [`Submitted::Repeat`], or 409 when the
/// key was used for another kind of action.
pub async fn submit<W: ResourceWrite>(
    state: &AppState,
    action: NewAction,
    resource: W,
) -> Result<Submitted<W::Row>, ApiError> {
    let mut tx = state.db.begin().await?;
    let (action, row) = match actions::record(&mut tx, &action).await? {
        Recorded::Existing(existing) if existing.kind == action.action.kind().as_str() => {
            return Ok(Submitted::Repeat(existing));
        }
        Recorded::Existing(_) => {
            return Err(ApiError::Conflict(
                "This Idempotency-Key was used for another request.".to_owned(),
            ));
        }
        Recorded::New(recorded) => {
            let row = resource.write(&mut tx).await?;
            tx.commit().await?;
            (recorded, row)
        }
    };
    publish(state, &action).await;
    Ok(Submitted::New { action, row })
}

/// Publishes a recorded action and notes the broker's confirm. Returns
/// whether it went out now.
async fn publish(state: &AppState, record: &ActionRecord) -> bool {
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

/// Waits until the action has ended or the API's `wait` timeout passed;
/// returns its last known state (`action` itself if it cannot be read).
pub async fn wait_for_outcome(state: &AppState, action: ActionRecord) -> ActionRecord {
    let deadline = tokio::time::Instant::now() + state.wait_timeout;
    let mut last = action;
    loop {
        match actions::get(&state.db, &last.project_id, last.id).await {
            Ok(Some(record)) => last = record,
            Ok(None) | Err(_) => return last,
        }
        if last.status.is_final() || tokio::time::Instant::now() >= deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The request's `Idempotency-Key` header, if it sent one: 1 to 255
/// visible ASCII characters (a 400 otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(Self(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=IDEMPOTENCY_KEY_MAX_LEN).contains(&k.len()))
            .ok_or_else(|| {
                ApiError::Invalid(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.".to_owned(),
                )
            })?;
        Ok(Self(Some(key.to_owned())))
    }
}
