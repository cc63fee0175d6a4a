//! The `project_members` table: who may do what in a project.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{AccessLevel, ProjectId, Subject, UserId};

/// One member of a project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRecord {
    /// The user.
    pub user_id: String,
    /// `read`, `write` or `admin`.
    pub access_level: String,
    /// When they were added.
    pub created_at: DateTime<Utc>,
    /// Who added them.
    pub created_by: Option<String>,
    /// When their level last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it.
    pub updated_by: Option<String>,
}

const COLUMNS: &str = "user_id, access_level, created_at, created_by, updated_at, updated_by";

/// The members of `project`, by user id.
pub async fn list(pool: &PgPool, project: &ProjectId) -> Result<Vec<MemberRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM project_members WHERE project_id = $1 ORDER BY user_id"
    ))
    .bind(project.as_str())
    .fetch_all(pool)
    .await
}

/// Adds `user` to `project` at `level`, or changes their level.
pub async fn put(
    pool: &PgPool,
    project: &ProjectId,
    user: &UserId,
    level: AccessLevel,
    by: &Subject,
) -> Result<MemberRecord, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO project_members (project_id, user_id, access_level, created_by, updated_by)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (project_id, user_id) DO UPDATE
            SET access_level = EXCLUDED.access_level, updated_at = now(), updated_by = EXCLUDED.updated_by
         RETURNING {COLUMNS}"
    ))
    .bind(project.as_str())
    .bind(user.as_str())
    .bind(level.as_str())
    .bind(by.to_string())
    .fetch_one(pool)
    .await
}

/// Removes `user` from `project`; whether they were a member.
pub async fn remove(
    pool: &PgPool,
    project: &ProjectId,
    user: &UserId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
        .bind(project.as_str())
        .bind(user.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
