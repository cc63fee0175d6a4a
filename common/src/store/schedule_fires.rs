//! The multi-row statements of a batch of cron fires
//! ([`crate::scheduled::batch`]): each takes parallel arrays (one element
//! per schedule) and touches every row of the batch in one round trip
//! (`unnest($1::uuid[], …)`), so a slot of 10,000 schedules costs a few
//! dozen statements instead of several per schedule.
//!
//! The guards are those of a single fire: the cursor moves only where it
//! still points at the slot (the rows are locked in id order first, so two
//! batches over the same schedules wait for each other instead of
//! deadlocking), and the run's key (schedule, slot), the job's id and the
//! action's idempotency key are unique. An insert that meets an existing
//! row skips it and the caller compares counts.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The cursor moves of a batch, one element per schedule in each vector.
#[derive(Debug, Default)]
pub struct CursorMoves {
    /// The schedules.
    pub ids: Vec<Uuid>,
    /// Each one's `updated_at` as it was read: a schedule changed since
    /// (edited, suspended) does not move.
    pub read_at_versions: Vec<DateTime<Utc>>,
    /// The slot each cursor must still point at.
    pub slots: Vec<DateTime<Utc>>,
    /// Where each cursor moves.
    pub nexts: Vec<Option<DateTime<Utc>>>,
}

/// Locks the schedules that are as they were read (same `updated_at`)
/// and whose cursor still points at their slot (in id order), moves each
/// cursor to its `next`, and returns their ids; the others were handled by
/// someone else, or changed, meanwhile.
pub async fn advance_all(
    conn: &mut PgConnection,
    moves: &CursorMoves,
) -> sqlx::Result<HashSet<Uuid>> {
    let moved: Vec<Uuid> = sqlx::query_scalar(
        "WITH due AS (
            SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[])
                AS u(id, version, slot, next)
         ), locked AS (
            SELECT s.id FROM schedules s JOIN due ON due.id = s.id
            WHERE s.next_slot = due.slot AND s.updated_at = due.version
            ORDER BY s.id FOR UPDATE OF s
         )
         UPDATE schedules s SET next_slot = due.next, last_slot = due.slot
         FROM locked JOIN due ON due.id = locked.id
         WHERE s.id = locked.id
         RETURNING s.id",
    )
    .bind(&moves.ids)
    .bind(&moves.read_at_versions)
    .bind(&moves.slots)
    .bind(&moves.nexts)
    .fetch_all(conn)
    .await?;
    Ok(moved.into_iter().collect())
}

/// Of `projects` (sorted, distinct), those that exist and are not being
/// deleted, each held `FOR SHARE` until the transaction ends (as
/// [`super::projects::lock_live`] holds one): a deletion starting
/// meanwhile waits, then finds the new jobs.
pub async fn lock_live_projects(
    conn: &mut PgConnection,
    projects: &[&str],
) -> sqlx::Result<HashSet<String>> {
    let live: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM projects WHERE id = ANY($1) AND deleting_since IS NULL
         ORDER BY id FOR SHARE",
    )
    .bind(projects)
    .fetch_all(conn)
    .await?;
    Ok(live.into_iter().collect())
}

/// Of `schedules`, those with a job that has not finished (pending,
/// running or terminating): what `forbid` holds back.
pub async fn with_unfinished_job(
    conn: &mut PgConnection,
    schedules: &[Uuid],
) -> sqlx::Result<HashSet<Uuid>> {
    let busy: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT r.schedule_id FROM schedule_runs r
         JOIN deployments d ON d.id = r.deployment_id
         WHERE r.schedule_id = ANY($1) AND d.status IN ('pending', 'running', 'terminating')",
    )
    .bind(schedules)
    .fetch_all(conn)
    .await?;
    Ok(busy.into_iter().collect())
}

/// A project's deployments as the quotas count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentCounts {
    /// Not archived.
    pub total: i64,
    /// Pending or running.
    pub running: i64,
}

/// Takes the quota lock of each of `projects` (sorted, distinct: the same
/// transaction-scoped advisory lock as
/// [`super::quotas::check_new_deployment`], in a fixed order), then counts
/// their deployments.
pub async fn lock_and_count_deployments(
    conn: &mut PgConnection,
    projects: &[&str],
) -> sqlx::Result<HashMap<String, DeploymentCounts>> {
    // `unnest` yields the array in order, so the locks are taken in order.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('quota:deployments:' || p, 0))
         FROM unnest($1::text[]) AS p",
    )
    .bind(projects)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT project_id, count(*) FILTER (WHERE archived_at IS NULL),
                count(*) FILTER (WHERE status IN ('pending', 'running'))
         FROM deployments WHERE project_id = ANY($1) GROUP BY project_id",
    )
    .bind(projects)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(project, total, running)| (project, DeploymentCounts { total, running }))
        .collect())
}

/// The jobs of a batch and their deploy actions, one element per job in
/// each vector. Each is made from its schedule's row as the batch locked
/// it: the job's spec is the schedule's `job_template`, and the action's
/// payload that template as a job's deploy (`{"deployment_type": "job",
/// "input": …}`), built by PostgreSQL from the row rather than sent, since
/// encoding and parsing a thousand templates twice would cost the batch
/// more than its inserts.
#[derive(Debug, Default)]
pub struct NewJobs {
    /// The schedules the jobs are made from.
    pub schedules: Vec<Uuid>,
    /// The jobs' ids.
    pub ids: Vec<String>,
    /// Their display names.
    pub display_names: Vec<String>,
    /// Their deploy actions' ids.
    pub action_ids: Vec<Uuid>,
    /// Their deploy actions' idempotency keys (`schedule:{id}:{slot}`).
    pub idempotency_keys: Vec<String>,
}

/// Inserts the jobs' deployment rows (made by their schedules' creators);
/// how many were new (an id that exists is skipped).
pub async fn insert_jobs(conn: &mut PgConnection, jobs: &NewJobs) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "INSERT INTO deployments (id, project_id, deployment_type, display_name, spec, created_by, updated_by)
         SELECT u.id, s.project_id, 'job', u.display_name, s.job_template, s.created_by, s.created_by
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(schedule_id, id, display_name)
         JOIN schedules s ON s.id = u.schedule_id
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&jobs.schedules)
    .bind(&jobs.ids)
    .bind(&jobs.display_names)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Records the jobs' deploy actions (origin `scheduler`, asked by their
/// schedules' creators); the ids of the new ones (an action whose id or
/// idempotency key exists is skipped).
pub async fn insert_deploys(conn: &mut PgConnection, jobs: &NewJobs) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "INSERT INTO actions (id, project_id, kind, resource_id, payload, idempotency_key, requested_by, origin)
         SELECT u.id, s.project_id, 'deployment.deploy', u.resource_id,
                jsonb_build_object('deployment_type', 'job', 'input', s.job_template),
                u.idempotency_key, s.created_by, 'scheduler'
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])
              AS u(schedule_id, id, resource_id, idempotency_key)
         JOIN schedules s ON s.id = u.schedule_id
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(&jobs.schedules)
    .bind(&jobs.action_ids)
    .bind(&jobs.ids)
    .bind(&jobs.idempotency_keys)
    .fetch_all(conn)
    .await
}

/// The runs of a batch, one element per slot in each vector.
#[derive(Debug, Default)]
pub struct NewRuns {
    /// The schedules.
    pub schedules: Vec<Uuid>,
    /// The slots.
    pub slots: Vec<DateTime<Utc>>,
    /// The schedules' projects.
    pub projects: Vec<String>,
    /// The jobs made, where one was.
    pub deployments: Vec<Option<String>>,
    /// Their deploy actions.
    pub actions: Vec<Option<Uuid>>,
    /// The outcomes' wire names.
    pub outcomes: Vec<&'static str>,
    /// Why, where there is more to say.
    pub details: Vec<Option<String>>,
}

/// Records the runs at `now`; how many were new (a slot that has a run
/// already is skipped: the unique key of exactly once).
pub async fn insert_runs(
    conn: &mut PgConnection,
    runs: &NewRuns,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "INSERT INTO schedule_runs (schedule_id, slot_time, project_id, deployment_id, action_id, outcome, detail, recorded_at)
         SELECT schedule_id, slot_time, project_id, deployment_id, action_id, outcome, detail, $8
         FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[])
              AS u(schedule_id, slot_time, project_id, deployment_id, action_id, outcome, detail)
         ON CONFLICT (schedule_id, slot_time) DO NOTHING",
    )
    .bind(&runs.schedules)
    .bind(&runs.slots)
    .bind(&runs.projects)
    .bind(&runs.deployments)
    .bind(&runs.actions)
    .bind(&runs.outcomes)
    .bind(&runs.details)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// [`super::schedules::prune_runs`] for many schedules at once, each by
/// its own history limits; how many runs went.
pub async fn prune_runs_of(pool: &PgPool, schedules: &[Uuid]) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "WITH classified AS (
            SELECT r.schedule_id, r.slot_time,
                   CASE WHEN d.status = 'succeeded' THEN 'succeeded'
                        WHEN d.status IN ('pending', 'running', 'terminating') THEN 'live'
                        ELSE 'ended' END AS class
            FROM schedule_runs r LEFT JOIN deployments d ON d.id = r.deployment_id
            WHERE r.schedule_id = ANY($1)
         ), ranked AS (
            SELECT schedule_id, slot_time, class,
                   row_number() OVER (PARTITION BY schedule_id, class ORDER BY slot_time DESC) AS n
            FROM classified
         )
         DELETE FROM schedule_runs r USING ranked k, schedules s
         WHERE r.schedule_id = k.schedule_id AND r.slot_time = k.slot_time AND s.id = k.schedule_id
           AND ((k.class = 'succeeded' AND k.n > s.succeeded_history_limit)
             OR (k.class = 'ended' AND k.n > s.failed_history_limit))",
    )
    .bind(schedules)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
