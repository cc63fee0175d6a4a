//! `/projects/{project_id}/users`: who may do what in a project.

use axum::Json;
use axum::extract::{Path, Query, State};

use chrono::{DateTime, Utc};
use contaxy_common::domain::{AccessLevel, ProjectId, UserId};
use contaxy_common::store::members::{self as store, MemberRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, ProjectAccess, Read};
use crate::error::{ApiError, ErrorBody};
use crate::routes::schema::{AccessLevelName, ProjectIdText, UserIdText};
use crate::state::AppState;

/// A member of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    /// The user's id.
    pub id: String,
    /// `read`, `write` or `admin`.
    #[schema(value_type = AccessLevelName)]
    pub access_level: String,
    /// The same level under contaxy's name for it (`UserPermission`).
    #[schema(value_type = AccessLevelName)]
    pub permission: String,
    /// When they were added.
    pub created_at: DateTime<Utc>,
    /// Who added them.
    pub created_by: Option<String>,
    /// When their level last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it.
    pub updated_by: Option<String>,
}

impl From<MemberRecord> for Member {
    fn from(row: MemberRecord) -> Self {
        Self {
            id: row.user_id,
            permission: row.access_level.clone(),
            access_level: row.access_level,
            created_at: row.created_at,
            created_by: row.created_by,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}

/// The path of one member.
#[derive(Debug, Deserialize)]
pub struct MemberPath {
    /// The user's id.
    pub user_id: String,
}

/// The level to grant.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLevelQuery {
    /// `read`, `write` (the default) or `admin`.
    #[param(value_type = AccessLevelName, required = false)]
    pub access_level: Option<String>,
}

impl AccessLevelQuery {
    /// The level asked for, `write` when none was.
    pub fn level(&self) -> Result<AccessLevel, ApiError> {
        Ok(match &self.access_level {
            Some(level) => level.parse()?,
            None => AccessLevel::Write,
        })
    }
}

/// Lists a project's members. Needs `read` on it.
#[utoipa::path(get, path = "/projects/{project_id}/users", tag = "members",
    params(("project_id" = ProjectIdText, Path, description = "The project")),
    responses((status = 200, body = Vec<Member>), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<Vec<Member>>, ApiError> {
    members(&state, &access.project).await
}

/// Adds a user to a project or changes their level, and answers the
/// project's members, as contaxy does. Needs `admin` on it.
#[utoipa::path(put, path = "/projects/{project_id}/users/{user_id}", tag = "members",
    params(("project_id" = ProjectIdText, Path, description = "The project"),
           ("user_id" = UserIdText, Path, description = "The user"),
           AccessLevelQuery),
    responses((status = 200, body = Vec<Member>), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn put_member(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
    Path(path): Path<MemberPath>,
    Query(query): Query<AccessLevelQuery>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let user = UserId::parse(&path.user_id)?;
    let level = query.level()?;
    store::put(
        &state.db,
        &access.project,
        &user,
        level,
        &access.caller.subject,
    )
    .await?;
    members(&state, &access.project).await
}

/// The project's members, as the member routes answer them.
async fn members(state: &AppState, project: &ProjectId) -> Result<Json<Vec<Member>>, ApiError> {
    let rows = store::list(&state.db, project).await?;
    Ok(Json(rows.into_iter().map(Member::from).collect()))
}

/// Removes a user from a project (their tokens lose access to it at once)
/// and answers the remaining members, as contaxy does. Needs `admin` on
/// it. Removing a non-member is not an error.
#[utoipa::path(delete, path = "/projects/{project_id}/users/{user_id}", tag = "members",
    params(("project_id" = ProjectIdText, Path, description = "The project"),
           ("user_id" = UserIdText, Path, description = "The user")),
    responses((status = 200, body = Vec<Member>), (status = 403, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
    Path(path): Path<MemberPath>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let user = UserId::parse(&path.user_id)?;
    store::remove(&state.db, &access.project, &user).await?;
    members(&state, &access.project).await
}
