//! The record of deployment status changes behind
//! `GET /projects/{id}/events`: the worker writes each change it announces
//! ([`record`]), a reader takes those after the last id it saw ([`after`]),
//! and the scheduler's cleanup drops the old ones ([`prune`]). The id is
//! the order of writing, so a client that reconnects with its last id
//! misses nothing that is still kept.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::domain::deployment::DeploymentStatus;

/// One recorded status change.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StatusEventRow {
    /// Its id (the order of writing).
    pub id: i64,
    /// The deployment.
    pub deployment_id: String,
    /// Its project.
    pub project_id: String,
    /// Its new status.
    pub status: String,
    /// The exit code of a finished container.
    pub exit_code: Option<i32>,
    /// When the change was seen.
    pub at: DateTime<Utc>,
}

/// Records a status change; returns its id.
pub async fn record(
    pool: &PgPool,
    project_id: &str,
    deployment_id: &str,
    status: DeploymentStatus,
    exit_code: Option<i32>,
    at: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO deployment_events (project_id, deployment_id, status, exit_code, at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(project_id)
    .bind(deployment_id)
    .bind(status.as_str())
    .bind(exit_code)
    .bind(at)
    .fetch_one(pool)
    .await
}

/// How long a change waits before a reader is given it: ids are taken in
/// the order of writing but become visible in the order of committing, so a
/// reader that took id 7 at once could pass over an id 6 committed a moment
/// later. Once every write older than this has committed, the order seen is
/// the order of the ids.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Up to `limit` changes of `project_id` after event `after`, in order,
/// recorded at least [`SETTLE`] ago.
pub async fn after(
    pool: &PgPool,
    project_id: &str,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<StatusEventRow>> {
    sqlx::query_as(
        "SELECT id, deployment_id, project_id, status, exit_code, at FROM deployment_events
         WHERE project_id = $1 AND id > $2
           AND recorded_at < now() - make_interval(secs => $4)
         ORDER BY id LIMIT $3",
    )
    .bind(project_id)
    .bind(after)
    .bind(limit)
    .bind(SETTLE.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// Where a new follower starts: the newest change a reader is given now
/// (recorded [`SETTLE`] ago; 0: none), so that the changes still settling
/// come after it.
pub async fn last_id(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(max(id), 0) FROM deployment_events
         WHERE recorded_at < now() - make_interval(secs => $1)",
    )
    .bind(SETTLE.as_secs_f64())
    .fetch_one(pool)
    .await
}

/// The id of the oldest change still kept (`None`: none is).
pub async fn first_id(pool: &PgPool) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT min(id) FROM deployment_events")
        .fetch_one(pool)
        .await
}

/// Removes changes recorded before `before`; returns how many.
pub async fn prune(pool: &PgPool, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let removed = sqlx::query("DELETE FROM deployment_events WHERE recorded_at < $1")
        .bind(before)
        .execute(pool)
        .await?;
    Ok(removed.rows_affected())
}
