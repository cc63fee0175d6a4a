//! `/system/health`, `/system/info` and `/system/statistics`: contaxy's
//! `SystemClient` asks these. Like every API route they need a valid token
//! (contaxy's client sends one); the unauthenticated probes are `/healthz`
//! and `/readyz`. The image allow-list is in
//! [`super::allowed_images`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use contaxy_common::domain::{AccessLevel, Permission};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// What this installation is (contaxy's `SystemInfo`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemInfo {
    /// The API's version.
    pub version: String,
    /// The installation's namespace (the first part of deployment ids).
    pub namespace: String,
    /// Always `running`: this server needs no initialization step.
    pub system_state: String,
    /// Nothing yet.
    pub metadata: BTreeMap<String, String>,
}

/// 204 when the API can reach its database, else 503.
#[utoipa::path(get, path = "/system/health", tag = "system",
    responses((status = 204, description = "The API and its database answer"),
              (status = 503, body = ErrorBody)))]
pub async fn health(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<StatusCode, ApiError> {
    sqlx::query("SELECT 1")
        .execute(&state.db)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "health: the database does not answer");
            ApiError::Unavailable("The database does not answer.".to_owned())
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The installation's version and namespace.
#[utoipa::path(get, path = "/system/info", tag = "system",
    responses((status = 200, body = SystemInfo)))]
pub async fn info(State(state): State<AppState>, _caller: Caller) -> Json<SystemInfo> {
    Json(SystemInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        namespace: state.namespace.clone(),
        system_state: "running".to_owned(),
        metadata: BTreeMap::new(),
    })
}

/// What this installation holds (contaxy's `SystemStatistics`), counted in
/// PostgreSQL when asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemStatistics {
    /// Projects (not being deleted).
    pub project_count: i64,
    /// Users seen: this server keeps no user store, so the distinct users
    /// that are members of a project or hold a token of their own.
    pub user_count: i64,
    /// Jobs (not being deleted), finished ones included.
    pub job_count: i64,
    /// Services (not being deleted).
    pub service_count: i64,
    /// Always 0: files live only in the object storage, and counting them
    /// would list every project's bucket.
    pub file_count: i64,
}

/// Counts of what the installation holds; needs `system#read` (the
/// administrator's): the counts span every project.
#[utoipa::path(get, path = "/system/statistics", tag = "system",
    responses((status = 200, body = SystemStatistics), (status = 403, body = ErrorBody)))]
pub async fn statistics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SystemStatistics>, ApiError> {
    let needed = Permission::new("system", AccessLevel::Read).map_err(|error| {
        ApiError::Internal(anyhow::anyhow!("the statistics permission: {error}"))
    })?;
    if !state.auth.allows(&state.db, &caller, &needed).await? {
        return Err(ApiError::forbidden(needed));
    }
    let (project_count, user_count, job_count, service_count): (i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT
                (SELECT count(*) FROM projects WHERE deleting_since IS NULL),
                (SELECT count(*) FROM (
                    SELECT user_id FROM project_members
                    UNION
                    SELECT substr(subject, 7) FROM api_tokens
                    WHERE subject LIKE 'users/%' AND revoked_at IS NULL) users),
                (SELECT count(*) FROM deployments
                 WHERE deployment_type = 'job' AND deleting_since IS NULL),
                (SELECT count(*) FROM deployments
                 WHERE deployment_type = 'service' AND deleting_since IS NULL)",
        )
        .fetch_one(&state.db)
        .await?;
    Ok(Json(SystemStatistics {
        project_count,
        user_count,
        job_count,
        service_count,
        file_count: 0,
    }))
}
