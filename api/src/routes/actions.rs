//! `/projects/{project_id}/actions/{action_id}`: where an action stands;
//! and [`ActionAccepted`], the answer of every route that enqueues one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use contaxy_common::domain::action::{ActionOrigin, ActionStatus, ErrorClass};
use contaxy_common::store::actions::{self, ActionRecord};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{ProjectAccess, Read};
use crate::error::{ApiError, ErrorBody};
use crate::routes::schema::{self, ProjectIdText};
use crate::state::AppState;

/// An accepted action: recorded, and published (or left to the relay).
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionAccepted {
    /// Follow it at `GET /projects/{project_id}/actions/{action_id}`.
    pub action_id: Uuid,
    /// Where it stands, when the request waited for it (`wait`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::action_status)]
    pub status: Option<ActionStatus>,
    /// Why it failed, when the request waited and it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl ActionAccepted {
    /// `202 Accepted` with the action's id.
    pub fn of(action: &ActionRecord) -> (StatusCode, Json<Self>) {
        (
            StatusCode::ACCEPTED,
            Json(Self {
                action_id: action.id,
                status: None,
                last_error: None,
            }),
        )
    }

    /// The answer of a mutation that may wait: without `wait`, 202 at once
    /// ([`Self::of`]); with it, 200 once the change is done (with how the
    /// action ended), or 202 when the API's wait timeout ran out first.
    pub async fn answer(
        state: &AppState,
        action: ActionRecord,
        wait: bool,
    ) -> (StatusCode, Json<Self>) {
        if !wait {
            return Self::of(&action);
        }
        let waited = crate::actions::wait_until_done(state, action).await;
        let code = if waited.done {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        let action = waited.action;
        (
            code,
            Json(Self {
                action_id: action.id,
                status: Some(action.status),
                last_error: action.last_error,
            }),
        )
    }
}

/// Several accepted actions (bulk deletes).
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionsAccepted {
    /// One per deployment.
    pub action_ids: Vec<Uuid>,
}

impl ActionsAccepted {
    /// 202 at once; with `wait`, 200 once every action is done, or 202
    /// when the API's wait timeout (one for all) ran out first.
    pub async fn answer(
        state: &AppState,
        actions: Vec<ActionRecord>,
        wait: bool,
    ) -> (StatusCode, Json<Self>) {
        let action_ids = actions.iter().map(|a| a.id).collect();
        let mut done = true;
        if wait {
            let deadline = tokio::time::Instant::now() + state.wait_timeout;
            for action in actions {
                done &= crate::actions::wait_until_done_by(state, action, deadline)
                    .await
                    .done;
            }
        }
        let code = if wait && done {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        (code, Json(Self { action_ids }))
    }
}

/// An action as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct Action {
    /// Its id.
    pub id: Uuid,
    /// Its project.
    pub project_id: String,
    /// What it does (`deployment.deploy`, …).
    #[schema(schema_with = schema::action_kind)]
    pub kind: String,
    /// What it acts on (a deployment id, the project id, …).
    pub resource_id: Option<String>,
    /// Where it stands.
    #[schema(schema_with = schema::action_status)]
    pub status: ActionStatus,
    /// How many times a worker has taken it up.
    pub attempts: i32,
    /// Why its last attempt failed.
    pub last_error: Option<String>,
    /// How that failure was classed.
    #[schema(schema_with = schema::error_class)]
    pub error_class: Option<ErrorClass>,
    /// Where it came from.
    #[schema(schema_with = schema::action_origin)]
    pub origin: ActionOrigin,
    /// Who asked (for a broker-origin action: who the producer says).
    pub requested_by: Option<String>,
    /// For a broker-origin action, the RabbitMQ user that published it, when
    /// the message carried the AMQP `user_id` (which RabbitMQ checks).
    pub broker_user: Option<String>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When a worker first took it up.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// What it reported when it succeeded, where its kind reports something:
    /// `file.*` actions say how many object versions they removed
    /// (`deleted`), copies how many bytes they copied; `project.delete`
    /// what it removed.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// How many times a system administrator replayed it after it failed
    /// (`POST /admin/dead-letters/{action_id}:replay`).
    pub replays: i32,
    /// When it was last replayed.
    pub replayed_at: Option<DateTime<Utc>>,
    /// Who last replayed it.
    pub replayed_by: Option<String>,
}

impl From<ActionRecord> for Action {
    fn from(record: ActionRecord) -> Self {
        Self {
            id: record.id,
            project_id: record.project_id,
            kind: record.kind,
            resource_id: record.resource_id,
            status: record.status,
            attempts: record.attempts,
            last_error: record.last_error,
            error_class: record.error_class,
            origin: record.origin,
            requested_by: record.requested_by,
            broker_user: record.broker_user,
            idempotency_key: record.idempotency_key,
            created_at: record.created_at,
            updated_at: record.updated_at,
            started_at: record.started_at,
            finished_at: record.finished_at,
            result: record.result,
            replays: record.replays,
            replayed_at: record.replayed_at,
            replayed_by: record.replayed_by,
        }
    }
}

/// Where an action of the project stands.
#[utoipa::path(get, path = "/projects/{project_id}/actions/{action_id}", tag = "actions",
    params(("project_id" = ProjectIdText, Path), ("action_id" = Uuid, Path)),
    responses((status = 200, body = Action), (status = 404, body = ErrorBody)))]
pub async fn get_action(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Action>, ApiError> {
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
    Ok(Json(record.into()))
}
