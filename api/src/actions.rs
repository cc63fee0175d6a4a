//! The one way the API enqueues work: [`submit`], the API's door to
//! [`contaxy_common::submit`] (the scheduler's fires take the same path).
//!
//! Every route that asks a worker to do something (deploy, delete, start,
//! stop, restart, recreate a deployment; delete a project; trigger a
//! schedule) goes through it: one transaction records the action and the
//! resource row it acts on, then the action is published (or left to the
//! scheduler's relay when the broker is away). A repeat of an earlier
//! request with the same `Idempotency-Key` writes nothing and answers
//! [`Submitted::Repeat`] with the first action.
//!
//! [`wait_until_done`] is the bounded wait of `wait=true` requests (and of
//! every mutation when `CONTAXY_API_WAIT_BY_DEFAULT` is on).

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use contaxy_common::domain::action::{ActionKind, ActionStatus};
use contaxy_common::domain::deployment::DeploymentStatus;
use contaxy_common::store::actions::{self, ActionRecord, NewAction};
use contaxy_common::store::deployments::{self, DeploymentRecord};
pub use contaxy_common::submit::{ResourceWrite, Submitted};

use crate::error::ApiError;
use crate::state::AppState;

/// The header a client may send so that a retried request does not act
/// twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest accepted `Idempotency-Key`, in bytes.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// Records `action` and the row `resource` writes in one transaction, then
/// publishes the action. A repeated `Idempotency-Key` (in
/// `action.idempotency_key`) answers [`Submitted::Repeat`], or 409 when the
/// key was used for another kind of action.
pub async fn submit<W: ResourceWrite<ApiError>>(
    state: &AppState,
    action: NewAction,
    resource: W,
) -> Result<Submitted<W::Row>, ApiError> {
    let kind = action.action.kind();
    let submitted =
        contaxy_common::submit::submit(&state.db, &state.publisher, action, resource).await?;
    match submitted {
        Submitted::Repeat(existing) if existing.kind != kind.as_str() => Err(ApiError::Conflict(
            "This Idempotency-Key was used for another request.".to_owned(),
        )),
        submitted => Ok(submitted),
    }
}

/// How a waited request ended.
#[derive(Debug)]
pub struct Waited {
    /// The action's last known state.
    pub action: ActionRecord,
    /// Whether the change is done: the action ended and, after a deploy,
    /// start or restart that succeeded, the runtime has reported the
    /// deployment's new status (it left `pending`, or `stopped`). `false`
    /// when the API's wait timeout ran out first.
    pub done: bool,
}

/// Waits, at most the API's `wait` timeout, until the change `action` asks
/// for is done (see [`Waited::done`]); what every `wait=true` mutation
/// does before it answers. Polls PostgreSQL, the source of truth, every
/// 100 ms.
pub async fn wait_until_done(state: &AppState, action: ActionRecord) -> Waited {
    let deadline = tokio::time::Instant::now() + state.wait_timeout;
    wait_until_done_by(state, action, deadline).await
}

/// [`wait_until_done`] with a deadline of the caller's (one for several
/// actions: a bulk delete).
pub async fn wait_until_done_by(
    state: &AppState,
    action: ActionRecord,
    deadline: tokio::time::Instant,
) -> Waited {
    let mut last = action;
    loop {
        match actions::get(&state.db, &last.project_id, last.id).await {
            Ok(Some(record)) => last = record,
            Ok(None) | Err(_) => {
                return Waited {
                    action: last,
                    done: false,
                };
            }
        }
        if last.status.is_final() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Waited {
                action: last,
                done: false,
            };
        }
        tokio::time::sleep(POLL).await;
    }
    let starts = [
        ActionKind::DeploymentDeploy,
        ActionKind::DeploymentStart,
        ActionKind::DeploymentRestart,
    ];
    let Some(id) = last.resource_id.clone().filter(|_| {
        last.status == ActionStatus::Succeeded
            && starts.iter().any(|kind| kind.as_str() == last.kind)
    }) else {
        return Waited {
            action: last,
            done: true,
        };
    };
    loop {
        match deployments::find(&state.db, &last.project_id, &id).await {
            Ok(Some(record)) if !has_settled(&record) => {}
            // Gone, or unreadable: nothing more to wait for.
            _ => {
                return Waited {
                    action: last,
                    done: true,
                };
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Waited {
                action: last,
                done: false,
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

const POLL: Duration = Duration::from_millis(100);

/// Whether a deployment that was (re)started has its new status from the
/// runtime: no longer `pending`, and not `stopped` unless it is disabled
/// (a disabled deployment is recorded, not run).
fn has_settled(record: &DeploymentRecord) -> bool {
    match record.status {
        DeploymentStatus::Pending => false,
        DeploymentStatus::Stopped => record.input.disabled,
        _ => true,
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
