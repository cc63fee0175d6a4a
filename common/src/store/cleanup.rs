//! The queries of the scheduler's cleanup passes: what is due, as of a
//! given `now` (the passes take their clock as a parameter so tests can
//! move time). They only read, except [`delete_expired_tokens`]; what a
//! pass removes from the runtime it removes through actions.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A deployment a pass acts on.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Due {
    /// Its project.
    pub project_id: String,
    /// Its id.
    pub id: String,
    /// A time that tells this occasion from a later one (the service's
    /// start, for an idle stop), when the pass needs one.
    pub since: Option<DateTime<Utc>>,
}

/// Jobs still pending or running whose `deadline_at` has passed.
pub async fn overdue_jobs(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "SELECT project_id, id, deadline_at AS since FROM deployments
         WHERE deadline_at IS NOT NULL AND deadline_at <= $1
           AND status IN ('pending', 'running') AND deployment_type = 'job'
         ORDER BY deadline_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Finished jobs (succeeded, failed, cancelled) whose container is still
/// there past their TTL: `ttl_seconds_after_finished`, or `default_ttl_secs`
/// when the job sets none. Counted from when the job ended.
pub async fn expired_jobs(
    pool: &PgPool,
    now: DateTime<Utc>,
    default_ttl_secs: i64,
    limit: i64,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "SELECT project_id, id, NULL::timestamptz AS since FROM deployments
         WHERE deployment_type = 'job' AND status IN ('succeeded', 'failed', 'cancelled')
           AND archived_at IS NULL
           AND COALESCE(stopped_at, updated_at)
               + COALESCE((spec->>'ttl_seconds_after_finished')::bigint, $2) * interval '1 second'
               <= $1
         ORDER BY COALESCE(stopped_at, updated_at) LIMIT $3",
    )
    .bind(now)
    .bind(default_ttl_secs)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Records of jobs archived more than `retention_secs` ago.
pub async fn prunable_jobs(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention_secs: i64,
    limit: i64,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "SELECT project_id, id, NULL::timestamptz AS since FROM deployments
         WHERE deployment_type = 'job' AND archived_at IS NOT NULL
           AND archived_at + $2 * interval '1 second' <= $1
         ORDER BY archived_at LIMIT $3",
    )
    .bind(now)
    .bind(retention_secs)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Running services with an `idle_timeout` not reached through the API for
/// that long (since their last access, or their start when later), and
/// that have lived their `compute.min_lifetime`.
pub async fn idle_services(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "SELECT project_id, id, started_at AS since FROM deployments
         WHERE deployment_type = 'service' AND status = 'running'
           AND (spec->>'idle_timeout') IS NOT NULL
           AND GREATEST(last_access_at, started_at, created_at)
               + (spec->>'idle_timeout')::bigint * interval '1 second' <= $1
           AND COALESCE(started_at, created_at)
               + COALESCE((spec->'compute'->>'min_lifetime')::bigint, 0) * interval '1 second' <= $1
         ORDER BY id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Deletes tokens that expired before `now - grace_secs`; how many.
pub async fn delete_expired_tokens(
    pool: &PgPool,
    now: DateTime<Utc>,
    grace_secs: i64,
) -> sqlx::Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM api_tokens WHERE expires_at IS NOT NULL
           AND expires_at + $2 * interval '1 second' <= $1",
    )
    .bind(now)
    .bind(grace_secs)
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}
