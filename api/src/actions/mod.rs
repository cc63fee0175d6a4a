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
//! every mutation when `CONTAXY_API_WAIT_BY_DEFAULT` is on); see [`wait`].

pub mod wait;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use contaxy_common::store::actions::NewAction;
pub use contaxy_common::submit::{ResourceWrite, Submitted};

pub use self::wait::{Waited, wait_for_outcome, wait_until_done, wait_until_done_by};

use crate::error::ApiError;
use crate::state::AppState;

/// The header a client may send so that a retried request does not act
/// twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest accepted `Idempotency-Key`, in bytes.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// Records `action` and the row `resource` writes in one transaction, then
/// publishes the action; the broker's confirm is noted in the background
/// ([`contaxy_common::submit::PublishMarks`]), so the request waits for
/// one commit, not two. A repeated `Idempotency-Key` (in
/// `action.idempotency_key`) answers [`Submitted::Repeat`], or 409 when the
/// key was used for another kind of action.
pub async fn submit<W: ResourceWrite<ApiError>>(
    state: &AppState,
    action: NewAction,
    resource: W,
) -> Result<Submitted<W::Row>, ApiError> {
    let kind = action.action.kind();
    let submitted = contaxy_common::submit::record(&state.db, action, resource).await?;
    if let Submitted::New { action, .. } = &submitted {
        contaxy_common::submit::publish_marking_later(
            &state.publish_marks,
            &state.publisher,
            action,
        )
        .await;
    }
    match submitted {
        Submitted::Repeat(existing) if existing.kind != kind.as_str() => Err(ApiError::Conflict(
            "This Idempotency-Key was used for another request.".to_owned(),
        )),
        submitted => Ok(submitted),
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
