//! `/projects/{project_id}/jobs`: run-to-completion deployments.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentType};
use contaxy_common::store::deployments as store;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{Accepted, AcceptedMany, CreateQuery, DeleteQuery, LogsQuery};
use crate::auth::{Admin, ProjectAccess, Read, Write};
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::state::AppState;

const KIND: DeploymentType = DeploymentType::Job;

/// Which jobs a bulk delete removes, by creation time.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    /// Created at or after (RFC 3339).
    pub date_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub date_to: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/projects/{project_id}/jobs", tag = "jobs",
    params(("project_id" = String, Path)),
    responses((status = 200, body = Vec<Object>)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<Vec<Value>>, ApiError> {
    super::list(&state, &access.project, KIND).await
}

#[utoipa::path(post, path = "/projects/{project_id}/jobs", tag = "jobs",
    params(("project_id" = String, Path), CreateQuery),
    request_body = Object,
    responses((status = 202, body = Object), (status = 400, body = ErrorBody)))]
pub async fn create_job(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Query(query): Query<CreateQuery>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<DeploymentInput>,
) -> Result<Response, ApiError> {
    super::create(
        &state,
        &access.project,
        &access.caller,
        KIND,
        query,
        &headers,
        input,
    )
    .await
}

#[utoipa::path(delete, path = "/projects/{project_id}/jobs", tag = "jobs",
    params(("project_id" = String, Path), DateRange),
    responses((status = 202, body = AcceptedMany)))]
pub async fn delete_jobs(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
    Query(range): Query<DateRange>,
) -> Result<(StatusCode, Json<AcceptedMany>), ApiError> {
    let records = store::jobs_created_between(
        &state.db,
        access.project.as_str(),
        range.date_from,
        range.date_to,
    )
    .await?;
    super::delete_many(&state, &access.project, &access.caller, records).await
}

#[utoipa::path(get, path = "/projects/{project_id}/jobs/{job_id}", tag = "jobs",
    params(("project_id" = String, Path), ("job_id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(super::render(
        &super::find(&state, &access.project, KIND, &id).await?,
        None,
    )))
}

#[utoipa::path(delete, path = "/projects/{project_id}/jobs/{job_id}", tag = "jobs",
    params(("project_id" = String, Path), ("job_id" = String, Path), DeleteQuery),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody)))]
pub async fn delete_job(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<DeleteQuery>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    super::delete_one(&state, &access.project, &access.caller, KIND, &id, query).await
}

#[utoipa::path(get, path = "/projects/{project_id}/jobs/{job_id}/logs", tag = "jobs",
    params(("project_id" = String, Path), ("job_id" = String, Path), LogsQuery),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn job_logs(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    super::logs(&state, &access.project, KIND, &id, query).await
}
