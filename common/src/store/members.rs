//! The `project_members` table: who may do what in a project.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

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

/// Adds `user` to `project` at `level`, or changes their level. Lowering a
/// level revokes the project's tokens of the levels the member no longer
/// has (see [`revoke_project_tokens_above`]).
pub async fn put(
    pool: &PgPool,
    project: &ProjectId,
    user: &UserId,
    level: AccessLevel,
    by: &Subject,
) -> Result<MemberRecord, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let before = level_of(&mut tx, project, user).await?;
    let record = sqlx::query_as(&format!(
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
    .fetch_one(&mut *tx)
    .await?;
    if let Some(before) = before {
        revoke_project_tokens_above(&mut tx, project, Some(level), before).await?;
    }
    tx.commit().await?;
    Ok(record)
}

/// Removes `user` from `project`; whether they were a member. The project's
/// tokens of every level the member could fetch are revoked with them.
pub async fn remove(
    pool: &PgPool,
    project: &ProjectId,
    user: &UserId,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(before) = level_of(&mut tx, project, user).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
        .bind(project.as_str())
        .bind(user.as_str())
        .execute(&mut *tx)
        .await?;
    revoke_project_tokens_above(&mut tx, project, None, before).await?;
    tx.commit().await?;
    Ok(true)
}

/// The member's level, locking their row for the caller's transaction.
async fn level_of(
    conn: &mut PgConnection,
    project: &ProjectId,
    user: &UserId,
) -> Result<Option<AccessLevel>, sqlx::Error> {
    let level: Option<String> = sqlx::query_scalar(
        "SELECT access_level FROM project_members WHERE project_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(project.as_str())
    .bind(user.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(level.and_then(|level| level.parse().ok()))
}

/// A project token belongs to the project, but a member who fetched one
/// could keep it: when a member leaves (`now` is `None`) or is lowered, the
/// project's tokens of each level above `now` up to `before` are revoked.
/// The members who still have those levels get a new, unrelated token from
/// their next `GET /projects/{id}/token`.
async fn revoke_project_tokens_above(
    conn: &mut PgConnection,
    project: &ProjectId,
    now: Option<AccessLevel>,
    before: AccessLevel,
) -> Result<(), sqlx::Error> {
    let levels: Vec<&str> = [AccessLevel::Read, AccessLevel::Write, AccessLevel::Admin]
        .into_iter()
        .filter(|level| now.is_none_or(|now| *level > now) && *level <= before)
        .map(AccessLevel::as_str)
        .collect();
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = now()
         WHERE project_id = $1 AND revoked_at IS NULL AND access_level = ANY($2)",
    )
    .bind(project.as_str())
    .bind(&levels)
    .execute(conn)
    .await?;
    Ok(())
}
