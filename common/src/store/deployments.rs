//! Queries on `deployments`. Every query is scoped by project, except the
//! status writes that come from the runtime's own events (keyed by the
//! globally unique deployment id, which is also the container name).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::domain::deployment::{DeploymentInput, DeploymentStatus, DeploymentType};

/// A deployment as recorded.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeploymentRecord {
    /// Its id (also the container name).
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Service or job.
    pub deployment_type: DeploymentType,
    /// Its display name.
    pub display_name: String,
    /// What the client asked for.
    #[sqlx(rename = "spec")]
    pub input: Json<DeploymentInput>,
    /// Its state.
    pub status: DeploymentStatus,
    /// A finished container's exit code.
    pub exit_code: Option<i32>,
    /// Why it is in its state, when there is more to say.
    pub status_detail: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Who recorded it.
    pub created_by: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// When its container last started.
    pub started_at: Option<DateTime<Utc>>,
    /// When its container last stopped.
    pub stopped_at: Option<DateTime<Utc>>,
    /// When a job must have ended (start + `deadline_seconds`), once it
    /// started.
    pub deadline_at: Option<DateTime<Utc>>,
    /// When the TTL cleanup removed its container, its logs archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// When it was last reached through the API.
    pub last_access_at: Option<DateTime<Utc>>,
    /// When its delete was accepted: the API no longer shows it.
    pub deleting_since: Option<DateTime<Utc>>,
    /// The runtime's own id (a container id on Docker), once deployed.
    pub internal_id: Option<String>,
    /// The parameters as the container got them (templates expanded),
    /// once deployed.
    pub expanded_parameters: Option<Json<BTreeMap<String, String>>>,
}

/// A deployment to record.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its project.
    pub project_id: &'a str,
    /// Service or job.
    pub deployment_type: DeploymentType,
    /// The validated input.
    pub input: &'a DeploymentInput,
    /// Who asked.
    pub created_by: Option<&'a str>,
}

/// Records a deployment; `None` when one with the same id exists and is
/// not being deleted.
///
/// A row of the same project whose delete was accepted (`deleting_since`
/// set: reads no longer see it) is taken back: it becomes the new
/// deployment, recorded anew, and the mark is cleared, so the delete's
/// worker removes the old container but leaves the row (see
/// [`mark_terminating`], [`delete_if_deleting`]). The deploy, accepted
/// after the delete, runs after it (the claim's order on one resource).
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewDeployment<'_>,
) -> sqlx::Result<Option<DeploymentRecord>> {
    sqlx::query_as(
        "INSERT INTO deployments (id, project_id, deployment_type, display_name, spec, created_by, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (id) DO UPDATE
         SET deployment_type = EXCLUDED.deployment_type, display_name = EXCLUDED.display_name,
             spec = EXCLUDED.spec, created_by = EXCLUDED.created_by, updated_by = EXCLUDED.updated_by,
             status = 'pending', exit_code = NULL, status_detail = NULL,
             created_at = now(), updated_at = now(), started_at = NULL, stopped_at = NULL,
             deadline_at = NULL, archived_at = NULL, last_access_at = NULL, deleting_since = NULL,
             internal_id = NULL, expanded_parameters = NULL
         WHERE deployments.deleting_since IS NOT NULL
           AND deployments.project_id = EXCLUDED.project_id
         RETURNING *",
    )
    .bind(new.id)
    .bind(new.project_id)
    .bind(new.deployment_type.as_str())
    .bind(new.input.display_name.as_deref().unwrap_or_default())
    .bind(Json(new.input))
    .bind(new.created_by)
    .fetch_optional(conn)
    .await
}

/// One deployment of a project, unless its delete was accepted (what the
/// API reads: a deployment is gone for clients from its delete on).
pub async fn get_visible<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    deployment_type: DeploymentType,
    id: &str,
) -> sqlx::Result<Option<DeploymentRecord>> {
    sqlx::query_as(
        "SELECT * FROM deployments
         WHERE project_id = $1 AND deployment_type = $2 AND id = $3 AND deleting_since IS NULL",
    )
    .bind(project_id)
    .bind(deployment_type.as_str())
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A project's deployments of one type whose delete was not accepted,
/// oldest first (what the API lists).
pub async fn list_visible(
    pool: &PgPool,
    project_id: &str,
    deployment_type: DeploymentType,
) -> sqlx::Result<Vec<DeploymentRecord>> {
    sqlx::query_as(
        "SELECT * FROM deployments
         WHERE project_id = $1 AND deployment_type = $2 AND deleting_since IS NULL
         ORDER BY created_at, id",
    )
    .bind(project_id)
    .bind(deployment_type.as_str())
    .fetch_all(pool)
    .await
}

/// Marks a deployment as being deleted, in the transaction that accepts
/// its delete: from then on the API's reads leave it out.
pub async fn mark_deleting(
    conn: &mut PgConnection,
    project_id: &str,
    id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deployments SET deleting_since = COALESCE(deleting_since, now())
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records what the runtime made of a deployment: its own id and the
/// parameters as the container got them.
pub async fn record_runtime_view(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    internal_id: &str,
    expanded_parameters: &BTreeMap<String, String>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deployments SET internal_id = $3, expanded_parameters = $4
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .bind(internal_id)
    .bind(Json(expanded_parameters))
    .execute(pool)
    .await?;
    Ok(())
}

/// Sets `terminating` on a deployment still marked as being deleted;
/// `Some(before)` when it changed the row. A row taken back by a later
/// deploy is left alone.
pub async fn mark_terminating(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<DeploymentStatus>> {
    sqlx::query_scalar(
        "UPDATE deployments d SET status = 'terminating', status_detail = NULL, updated_at = now()
         FROM (SELECT project_id, id, status FROM deployments
               WHERE project_id = $1 AND id = $2 AND deleting_since IS NOT NULL FOR UPDATE) before
         WHERE d.project_id = before.project_id AND d.id = before.id
         RETURNING before.status",
    )
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Removes a deployment's row once its container is gone, if it is still
/// marked as being deleted (a deploy accepted since took the row back).
pub async fn delete_if_deleting(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query(
        "DELETE FROM deployments WHERE project_id = $1 AND id = $2 AND deleting_since IS NOT NULL",
    )
    .bind(project_id)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected() == 1)
}

/// One deployment of a project, whether or not it is being deleted.
pub async fn get<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    deployment_type: DeploymentType,
    id: &str,
) -> sqlx::Result<Option<DeploymentRecord>> {
    sqlx::query_as(
        "SELECT * FROM deployments WHERE project_id = $1 AND deployment_type = $2 AND id = $3",
    )
    .bind(project_id)
    .bind(deployment_type.as_str())
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// One deployment of a project, whatever its type.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<DeploymentRecord>> {
    sqlx::query_as("SELECT * FROM deployments WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// A project's deployments of one type, oldest first.
pub async fn list(
    pool: &PgPool,
    project_id: &str,
    deployment_type: DeploymentType,
) -> sqlx::Result<Vec<DeploymentRecord>> {
    sqlx::query_as(
        "SELECT * FROM deployments WHERE project_id = $1 AND deployment_type = $2 ORDER BY created_at, id",
    )
    .bind(project_id)
    .bind(deployment_type.as_str())
    .fetch_all(pool)
    .await
}

/// A project's jobs not being deleted, created on the calendar days
/// `from` to `to`, both included (UTC dates, as contaxy compares them).
pub async fn jobs_created_between(
    pool: &PgPool,
    project_id: &str,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> sqlx::Result<Vec<DeploymentRecord>> {
    sqlx::query_as(
        "SELECT * FROM deployments
         WHERE project_id = $1 AND deployment_type = 'job' AND deleting_since IS NULL
           AND ($2::date IS NULL OR (created_at AT TIME ZONE 'UTC')::date >= $2)
           AND ($3::date IS NULL OR (created_at AT TIME ZONE 'UTC')::date <= $3)
         ORDER BY created_at, id",
    )
    .bind(project_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// A status observed on the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedStatus {
    /// The mapped status.
    pub status: DeploymentStatus,
    /// The exit code, for a finished container.
    pub exit_code: Option<i32>,
    /// More to say, if anything.
    pub detail: Option<String>,
}

/// Writes a status seen on the runtime. Returns the project when the row
/// changed, `None` when it already said so (another worker saw the same
/// event first), when a finished job (succeeded, failed or cancelled) would
/// be moved back, when an exit (succeeded, failed) is seen on a deployment
/// stopped on request (the exit is the stop's: see [`mark_stopped`]), or,
/// for a status
/// read from a snapshot taken at `snapshot_at` (a reconcile's listing), when
/// the row changed after the snapshot: an event has told something newer
/// (a listing that saw a container `created` must not undo the `running` its
/// start event wrote since). So each change is written, and published, once.
/// A job's first `running` fixes its `deadline_at` (start + its
/// `deadline_seconds`), which the scheduler's deadline pass reads.
pub async fn observe_status(
    pool: &PgPool,
    id: &str,
    observed: &ObservedStatus,
    snapshot_at: Option<DateTime<Utc>>,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE deployments
         SET status = $2, exit_code = $3, status_detail = $4, updated_at = now(),
             started_at = CASE WHEN $2 = 'running' AND status <> 'running' THEN now() ELSE started_at END,
             stopped_at = CASE WHEN $2 IN ('succeeded', 'failed', 'stopped') THEN now() ELSE stopped_at END,
             deadline_at = COALESCE(deadline_at, CASE WHEN $2 = 'running' AND deployment_type = 'job'
                 THEN now() + (spec->>'deadline_seconds')::bigint * interval '1 second' END)
         WHERE id = $1
           AND (status IS DISTINCT FROM $2 OR exit_code IS DISTINCT FROM $3)
           AND NOT (deployment_type = 'job' AND status IN ('succeeded', 'failed', 'cancelled'))
           AND status <> 'terminating'
           AND NOT (status = 'stopped' AND $2 IN ('succeeded', 'failed'))
           AND ($5::timestamptz IS NULL OR updated_at < $5)
         RETURNING project_id",
    )
    .bind(id)
    .bind(observed.status)
    .bind(observed.exit_code)
    .bind(&observed.detail)
    .bind(snapshot_at)
    .fetch_optional(pool)
    .await
}

/// Sets a deployment's status and detail; returns the status it had before
/// (`None`: no such deployment), so the caller knows whether it changed.
pub async fn set_status(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    status: DeploymentStatus,
    detail: Option<&str>,
) -> sqlx::Result<Option<DeploymentStatus>> {
    sqlx::query_scalar(
        "UPDATE deployments d SET status = $3, status_detail = $4, updated_at = now()
         FROM (SELECT project_id, id, status FROM deployments
               WHERE project_id = $1 AND id = $2 FOR UPDATE) before
         WHERE d.project_id = before.project_id AND d.id = before.id
         RETURNING before.status",
    )
    .bind(project_id)
    .bind(id)
    .bind(status)
    .bind(detail)
    .fetch_optional(pool)
    .await
}

/// Marks a deployment `stopped` because a stop (or a restart) was asked
/// for, before the runtime is asked: the exit that follows, whatever its
/// code (a process killed after the stop timeout exits 137), is then read
/// as the stop's and not as a failure (see [`observe_status`]). Should the
/// stop not happen, the next reconcile sees the container running and says
/// so. A job that already finished (succeeded, failed, cancelled) keeps its
/// ending, and a row being deleted (`terminating`) is left alone. Returns
/// the status it had before when this call changed it.
pub async fn mark_stopped(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    detail: &str,
) -> sqlx::Result<Option<DeploymentStatus>> {
    sqlx::query_scalar(
        "UPDATE deployments d SET status = 'stopped', status_detail = $3, updated_at = now(),
             stopped_at = CASE WHEN before.status = 'stopped' THEN d.stopped_at ELSE now() END
         FROM (SELECT project_id, id, status FROM deployments
               WHERE project_id = $1 AND id = $2 FOR UPDATE) before
         WHERE d.project_id = before.project_id AND d.id = before.id
           AND before.status <> 'terminating'
           AND NOT (d.deployment_type = 'job'
                    AND before.status IN ('succeeded', 'failed', 'cancelled'))
         RETURNING before.status",
    )
    .bind(project_id)
    .bind(id)
    .bind(detail)
    .fetch_optional(pool)
    .await
}

/// Ends a job that has not finished (a cancel, or its deadline): sets
/// `status` and `detail` unless it already finished (succeeded, failed,
/// cancelled, stopped). Returns the status it had before when this call
/// changed it; `None` when it had finished already or does not exist, so a
/// finished job stays as it was and each ending is announced once.
pub async fn end_unfinished(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    status: DeploymentStatus,
    detail: &str,
) -> sqlx::Result<Option<DeploymentStatus>> {
    sqlx::query_scalar(
        "UPDATE deployments d SET status = $3, status_detail = $4, updated_at = now(),
             stopped_at = now(), deadline_at = NULL
         FROM (SELECT project_id, id, status FROM deployments
               WHERE project_id = $1 AND id = $2 FOR UPDATE) before
         WHERE d.project_id = before.project_id AND d.id = before.id
           AND before.status NOT IN ('succeeded', 'failed', 'cancelled', 'stopped', 'terminating')
         RETURNING before.status",
    )
    .bind(project_id)
    .bind(id)
    .bind(status)
    .bind(detail)
    .fetch_optional(pool)
    .await
}

/// Marks a deployment whose container the TTL cleanup removed, its logs
/// archived: its row stays, for its record and its logs.
pub async fn mark_archived(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let marked = sqlx::query(
        "UPDATE deployments SET archived_at = COALESCE(archived_at, now()), updated_at = now()
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(marked.rows_affected() == 1)
}

/// Notes that a deployment was reached through the API (what a service's
/// `idle_timeout` counts from).
pub async fn touch(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deployments SET last_access_at = now()
         WHERE project_id = $1 AND id = $2
           AND (last_access_at IS NULL OR last_access_at < now() - interval '1 second')",
    )
    .bind(project_id)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces a deployment's input (after a merge by the caller).
pub async fn update_input(
    conn: &mut PgConnection,
    project_id: &str,
    id: &str,
    input: &DeploymentInput,
    updated_by: Option<&str>,
) -> sqlx::Result<Option<DeploymentRecord>> {
    sqlx::query_as(
        "UPDATE deployments SET spec = $3, display_name = $4, updated_by = $5, updated_at = now()
         WHERE project_id = $1 AND id = $2
         RETURNING *",
    )
    .bind(project_id)
    .bind(id)
    .bind(Json(input))
    .bind(input.display_name.as_deref().unwrap_or_default())
    .bind(updated_by)
    .fetch_optional(conn)
    .await
}

/// Removes a deployment's row (after its container is gone).
pub async fn delete(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM deployments WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Which of `ids` have a row (in any project: ids are unique across
/// projects); what the workers' container sweep compares the runtime with.
pub async fn existing_ids(pool: &PgPool, ids: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM deployments WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// The database's clock: what a reconcile stamps its listing with, so it is
/// compared with `updated_at` (written by the database's `now()`) on one
/// clock, whatever the worker host's clock says.
pub async fn database_now(pool: &PgPool) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await
}

/// Marks `running` deployments whose container is gone (not among
/// `present` ids, the runtime's full list taken at `listed_at`) as
/// `stopped`; rows changed since the listing are left alone. Returns each
/// changed (project, id), so the caller publishes the change once.
pub async fn stop_missing(
    pool: &PgPool,
    present: &[String],
    listed_at: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "UPDATE deployments
         SET status = 'stopped', status_detail = 'its container is gone', stopped_at = now(), updated_at = now()
         WHERE status = 'running' AND NOT (id = ANY($1)) AND updated_at < $2
         RETURNING project_id, id",
    )
    .bind(present)
    .bind(listed_at)
    .fetch_all(pool)
    .await
}
