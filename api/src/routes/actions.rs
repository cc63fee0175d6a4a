//! `/projects/{project_id}/actions/{action_id}`: where an action stands.

use axum::Json;
use axum::extract::{Path, State};
use contaxy_common::store::actions;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{ProjectAccess, Read};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[utoipa::path(get, path = "/projects/{project_id}/actions/{action_id}", tag = "actions",
    params(("project_id" = String, Path), ("action_id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_action(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "The action `{id}` was not found in project `{}`.",
            access.project
        ))
    };
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let record = actions::get(&state.db, access.project.as_str(), id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(json!({
        "id": record.id,
        "project_id": record.project_id,
        "kind": record.kind,
        "resource_id": record.resource_id,
        "status": record.status,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "error_class": record.error_class,
        "origin": record.origin,
        "requested_by": record.requested_by,
        "idempotency_key": record.idempotency_key,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    })))
}
