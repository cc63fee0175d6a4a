//! `/admin/dead-letters`: what the dead queue holds, and sending a failed
//! action through the pipeline again (system administrators only).
//!
//! The listing reads the queue without emptying it ([`DeadQueue::peek`]).
//! A replay ([`actions::replay`]) puts the failed action's row back to
//! `queued` with a fresh attempt budget, counts the replay on the row
//! (`replays`, `replayed_at`, `replayed_by`), takes its letter out of the
//! dead queue and publishes it under the same id: the worker claims it as
//! it would a new one, and should it fail again it is dead-lettered again.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use contaxy_common::dead_queue::{DeadLetter, DeadQueue};
use contaxy_common::domain::AccessLevel;
use contaxy_common::store::actions::{self, ReplayError};
use contaxy_common::submit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The most letters one listing returns.
const MAX_LIMIT: usize = 1000;
/// How many letters a replay looks through for the one it takes out.
const REPLAY_SCAN: usize = 10_000;

/// One dead letter.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// The action it carried, when the message named one.
    pub action_id: Option<Uuid>,
    /// Its project.
    pub project_id: Option<String>,
    /// The action's kind.
    pub kind: Option<String>,
    /// Why it was given up.
    pub reason: Option<String>,
    /// `transient` (retries ran out), `permanent` or `malformed`.
    pub class: Option<String>,
    /// The attempt it died on (0: refused before it ran).
    pub attempt: Option<u32>,
    /// When it was dead-lettered.
    pub dead_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its body's size in bytes.
    pub body_bytes: usize,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(letter: DeadLetter) -> Self {
        Self {
            action_id: letter.action_id,
            project_id: letter.project_id,
            kind: letter.kind,
            reason: letter.reason,
            class: letter.class,
            attempt: letter.attempt,
            dead_at: letter.dead_at,
            body_bytes: letter.body_bytes,
        }
    }
}

/// How many letters to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// At most this many, oldest first (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A replay's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// The action, queued again: follow it at
    /// `GET /projects/{project_id}/actions/{action_id}`.
    pub action_id: Uuid,
    /// Its project.
    pub project_id: String,
    /// Whether its letter was found in the dead queue and taken out.
    pub removed_from_dead_queue: bool,
}

fn require_system_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.level_outside_projects("*") == Some(AccessLevel::Admin) {
        Ok(())
    } else {
        Err(ApiError::forbidden("*#admin"))
    }
}

fn dead_queue(state: &AppState) -> DeadQueue {
    DeadQueue::new(
        state.broker.clone(),
        state.publisher.topology().dead_queue(),
    )
}

fn broker_away(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "The dead queue could not be read.");
    ApiError::Unavailable("The broker does not answer; try again.".to_owned())
}

/// The letters in the dead queue, oldest first, left where they are.
#[utoipa::path(get, path = "/admin/dead-letters", tag = "admin",
    params(DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetterView>), (status = 403, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DeadLetterQuery>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    require_system_admin(&caller)?;
    let limit = query.limit.unwrap_or(100).min(MAX_LIMIT);
    let letters = dead_queue(&state).peek(limit).await.map_err(broker_away)?;
    Ok(Json(letters.into_iter().map(Into::into).collect()))
}

/// `{action_id}:replay`: sends a failed action through the pipeline again,
/// with a fresh attempt budget.
#[utoipa::path(post, path = "/admin/dead-letters/{action_id}", tag = "admin",
    params(("action_id" = String, Path, description = "`{action_id}:replay`")),
    responses((status = 202, body = Replayed, description = "Queued again"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The action did not fail")))]
pub async fn dead_letter_verb(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    require_system_admin(&caller)?;
    let Some((id, "replay")) = target.rsplit_once(':') else {
        return Err(ApiError::NotFound(
            "POST a dead letter's action: {action_id}:replay.".to_owned(),
        ));
    };
    let not_found = || ApiError::NotFound(format!("No action `{id}` was recorded."));
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let by = caller.subject.to_string();
    let row = match actions::replay(&state.db, id, &by).await {
        Ok(row) => row,
        Err(ReplayError::NotFound(_)) => return Err(not_found()),
        Err(ReplayError::NotFailed(status)) => {
            let status = serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(ApiError::Conflict(format!(
                "The action `{id}` is {status}; only a failed action can be replayed."
            )));
        }
        Err(ReplayError::Database(error)) => return Err(error.into()),
    };
    // Taken out before it is published again: a letter left behind would
    // offer a replay of an action that is already on its way.
    let removed = match dead_queue(&state).take_out(id, REPLAY_SCAN).await {
        Ok(removed) => removed,
        Err(error) => {
            tracing::warn!(%error, action_id = %id, "The replayed action's letter could not be taken out of the dead queue.");
            false
        }
    };
    submit::publish(&state.db, &state.publisher, &row).await;
    tracing::info!(action_id = %id, replays = row.replays, %by, "A failed action was replayed.");
    Ok((
        StatusCode::ACCEPTED,
        Json(Replayed {
            action_id: row.id,
            project_id: row.project_id,
            removed_from_dead_queue: removed,
        }),
    ))
}
