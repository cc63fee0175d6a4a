//! `DELETE /projects/{project_id}/files?date_from=&date_to=`: removes every
//! version and delete marker of the project's files last modified in the
//! range, as contaxy's bulk delete does. It may touch millions of objects,
//! so the API only records a `file.delete_by_date` action through the one
//! submit path and answers 202; a worker does the work and reports how many
//! versions it removed in the action's `result`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use contaxy_common::domain::action::{Action, ActionOrigin, FileAction};
use contaxy_common::domain::payload::FileDeleteByDatePayload;
use contaxy_common::store::actions::NewAction;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::actions::{self, IdempotencyKey};
use crate::auth::{Admin, ProjectAccess};
use crate::error::{ApiError, ErrorBody};
use crate::routes::actions::ActionAccepted;
use crate::routes::schema::{IdempotencyKeyText, ProjectIdText};
use crate::state::AppState;

/// Which versions a bulk delete removes, by when they were last modified.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FileDateRange {
    /// Modified at or after (RFC 3339); absent: since the beginning.
    pub date_from: Option<DateTime<Utc>>,
    /// Modified at or before (RFC 3339); absent: up to now.
    pub date_to: Option<DateTime<Utc>>,
}

/// Deletes every version of the project's files modified in
/// `[date_from, date_to]` (admin only). Answers as soon as the action is
/// recorded; its `result` says how many versions went.
#[utoipa::path(delete, path = "/projects/{project_id}/files", tag = "files",
    params(("project_id" = ProjectIdText, Path), FileDateRange,
           ("Idempotency-Key" = Option<IdempotencyKeyText>, Header,
            description = "Makes a retried request answer with the first action instead of acting twice.")),
    responses((status = 202, body = ActionAccepted, description = "Recorded; a worker removes the versions"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn delete_files_by_date(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
    Query(range): Query<FileDateRange>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    let payload = FileDeleteByDatePayload {
        date_from: range.date_from,
        date_to: range.date_to,
    };
    payload
        .check()
        .map_err(|problem| ApiError::Invalid(format!("{problem}.")))?;
    let mut action = NewAction::new(
        access.project.as_str(),
        Action::File(FileAction::DeleteByDate(payload)),
        ActionOrigin::Api,
    );
    action.requested_by = Some(access.caller.subject.to_string());
    action.idempotency_key = key;
    let submitted = actions::submit(&state, action, ()).await?;
    Ok(ActionAccepted::of(submitted.action()))
}
