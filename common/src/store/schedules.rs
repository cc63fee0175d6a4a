//! Queries on `schedules`, `schedule_runs` and `scheduler_leases`. Every
//! query a client's request leads to is scoped by project; the scheduler's
//! own queries (due schedules, runs, the lease) are keyed by schedule id.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::deployment::DeploymentInput;
use crate::domain::schedule::{
    CatchUpPolicy, ConcurrencyPolicy, RunOutcome, ScheduleInput, ScheduleTimes, ValidSchedule,
};

/// A schedule as recorded.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScheduleRecord {
    /// Its id.
    pub id: Uuid,
    /// Its project.
    pub project_id: String,
    /// Its human name.
    pub display_name: String,
    /// The cron expression as written.
    pub cron: String,
    /// The IANA time zone of its wall times.
    pub time_zone: String,
    /// The job each fire makes.
    pub job_template: Json<DeploymentInput>,
    /// What a fire does while the previous job runs.
    pub concurrency_policy: ConcurrencyPolicy,
    /// A slot not fired within this many seconds is missed.
    pub starting_deadline_seconds: Option<i64>,
    /// Which due slots fire after an outage.
    pub catch_up: CatchUpPolicy,
    /// Not firing.
    pub suspended: bool,
    /// Runs with a succeeded job kept.
    pub succeeded_history_limit: i32,
    /// Other finished runs kept.
    pub failed_history_limit: i32,
    /// No slot at or after this fires.
    pub end_at: Option<DateTime<Utc>>,
    /// The next slot not yet handled; `None` when none is left.
    pub next_slot: Option<DateTime<Utc>>,
    /// The last slot handled.
    pub last_slot: Option<DateTime<Utc>>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Who recorded it.
    pub created_by: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: Option<String>,
}

impl ScheduleRecord {
    /// Its slots. Recorded schedules were validated, so this fails only
    /// for a row written by hand or by another version.
    pub fn times(&self) -> Result<ScheduleTimes, String> {
        ScheduleTimes::parse(&self.cron, &self.time_zone)
            .map_err(|(field, error)| format!("{field} {error}"))
    }

    /// The input it was made from (what a PATCH is merged into).
    pub fn input(&self) -> ScheduleInput {
        ScheduleInput {
            display_name: Some(self.display_name.clone()),
            cron: self.cron.clone(),
            time_zone: self.time_zone.clone(),
            job_template: self.job_template.0.clone(),
            concurrency_policy: self.concurrency_policy,
            starting_deadline_seconds: self
                .starting_deadline_seconds
                .and_then(|s| u64::try_from(s).ok()),
            catch_up: self.catch_up,
            suspended: self.suspended,
            succeeded_history_limit: u32::try_from(self.succeeded_history_limit).unwrap_or(0),
            failed_history_limit: u32::try_from(self.failed_history_limit).unwrap_or(0),
            end_at: self.end_at,
        }
    }

    /// The first slot strictly after `after` that is before its end.
    pub fn slot_after(&self, times: &ScheduleTimes, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        times
            .next_after(after)
            .filter(|slot| self.end_at.is_none_or(|end| *slot < end))
    }
}

/// One slot of a schedule, as recorded.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunRecord {
    /// The schedule.
    pub schedule_id: Uuid,
    /// The slot.
    pub slot_time: DateTime<Utc>,
    /// The schedule's project.
    pub project_id: String,
    /// The job made for it.
    pub deployment_id: Option<String>,
    /// The job's deploy action.
    pub action_id: Option<Uuid>,
    /// What became of the slot.
    pub outcome: RunOutcome,
    /// Why, where there is more to say.
    pub detail: Option<String>,
    /// When it was handled.
    pub recorded_at: DateTime<Utc>,
}

/// A run together with its job's status, as the runs route answers.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunWithStatus {
    /// The run.
    #[sqlx(flatten)]
    pub run: RunRecord,
    /// Its job's status, while the job's row exists.
    pub job_status: Option<String>,
}

/// Records a validated schedule whose first slot is `next_slot`.
pub async fn insert(
    pool: &PgPool,
    id: Uuid,
    project_id: &str,
    schedule: &ValidSchedule,
    next_slot: Option<DateTime<Utc>>,
    by: &str,
) -> sqlx::Result<ScheduleRecord> {
    let input = &schedule.input;
    sqlx::query_as(
        "INSERT INTO schedules (id, project_id, display_name, cron, time_zone, job_template,
            concurrency_policy, starting_deadline_seconds, catch_up, suspended,
            succeeded_history_limit, failed_history_limit, end_at, next_slot, created_by, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
         RETURNING *",
    )
    .bind(id)
    .bind(project_id)
    .bind(input.display_name.as_deref().unwrap_or_default())
    .bind(&input.cron)
    .bind(&input.time_zone)
    .bind(Json(&input.job_template))
    .bind(input.concurrency_policy)
    .bind(deadline(input))
    .bind(input.catch_up)
    .bind(input.suspended)
    .bind(limit(input.succeeded_history_limit))
    .bind(limit(input.failed_history_limit))
    .bind(input.end_at)
    .bind(next_slot)
    .bind(by)
    .fetch_one(pool)
    .await
}

/// Replaces a schedule's settings (a merged PATCH); `None` when it is gone.
pub async fn update(
    pool: &PgPool,
    project_id: &str,
    id: Uuid,
    schedule: &ValidSchedule,
    next_slot: Option<DateTime<Utc>>,
    by: &str,
) -> sqlx::Result<Option<ScheduleRecord>> {
    let input = &schedule.input;
    sqlx::query_as(
        "UPDATE schedules SET display_name = $3, cron = $4, time_zone = $5, job_template = $6,
            concurrency_policy = $7, starting_deadline_seconds = $8, catch_up = $9,
            suspended = $10, succeeded_history_limit = $11, failed_history_limit = $12,
            end_at = $13, next_slot = $14, updated_by = $15, updated_at = now()
         WHERE project_id = $1 AND id = $2
         RETURNING *",
    )
    .bind(project_id)
    .bind(id)
    .bind(input.display_name.as_deref().unwrap_or_default())
    .bind(&input.cron)
    .bind(&input.time_zone)
    .bind(Json(&input.job_template))
    .bind(input.concurrency_policy)
    .bind(deadline(input))
    .bind(input.catch_up)
    .bind(input.suspended)
    .bind(limit(input.succeeded_history_limit))
    .bind(limit(input.failed_history_limit))
    .bind(input.end_at)
    .bind(next_slot)
    .bind(by)
    .fetch_optional(pool)
    .await
}

fn deadline(input: &ScheduleInput) -> Option<i64> {
    input
        .starting_deadline_seconds
        .and_then(|s| i64::try_from(s).ok())
}

fn limit(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Suspends or resumes a schedule; a resumed one starts again from
/// `next_slot` (slots passed while suspended are not made up).
pub async fn set_suspended(
    pool: &PgPool,
    project_id: &str,
    id: Uuid,
    suspended: bool,
    next_slot: Option<DateTime<Utc>>,
    by: &str,
) -> sqlx::Result<Option<ScheduleRecord>> {
    sqlx::query_as(
        "UPDATE schedules SET suspended = $3, next_slot = COALESCE($4, next_slot),
            updated_by = $5, updated_at = now()
         WHERE project_id = $1 AND id = $2
         RETURNING *",
    )
    .bind(project_id)
    .bind(id)
    .bind(suspended)
    .bind(next_slot)
    .bind(by)
    .fetch_optional(pool)
    .await
}

/// One schedule of a project.
pub async fn get<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    id: Uuid,
) -> sqlx::Result<Option<ScheduleRecord>> {
    sqlx::query_as("SELECT * FROM schedules WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// A project's schedules, oldest first.
pub async fn list(pool: &PgPool, project_id: &str) -> sqlx::Result<Vec<ScheduleRecord>> {
    sqlx::query_as("SELECT * FROM schedules WHERE project_id = $1 ORDER BY created_at, id")
        .bind(project_id)
        .fetch_all(pool)
        .await
}

/// Deletes a schedule and its runs (its jobs stay); whether it existed.
pub async fn delete(pool: &PgPool, project_id: &str, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM schedules WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A schedule's runs, newest first, with their jobs' statuses.
pub async fn runs(
    pool: &PgPool,
    project_id: &str,
    id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<RunWithStatus>> {
    sqlx::query_as(
        "SELECT r.*, d.status AS job_status FROM schedule_runs r
         LEFT JOIN deployments d ON d.id = r.deployment_id
         WHERE r.project_id = $1 AND r.schedule_id = $2
         ORDER BY r.slot_time DESC LIMIT $3",
    )
    .bind(project_id)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Schedules with a slot due at `now`, the most overdue first: not
/// suspended, in a project that is not being deleted.
pub async fn due(
    pool: &PgPool,
    now: DateTime<Utc>,
    batch: i64,
) -> sqlx::Result<Vec<ScheduleRecord>> {
    sqlx::query_as(
        "SELECT s.* FROM schedules s JOIN projects p ON p.id = s.project_id
         WHERE NOT s.suspended AND s.next_slot <= $1 AND p.deleting_since IS NULL
         ORDER BY s.next_slot LIMIT $2",
    )
    .bind(now)
    .bind(batch)
    .fetch_all(pool)
    .await
}

/// The earliest slot of any active schedule (the scheduler sleeps until
/// then at most).
pub async fn earliest_slot(pool: &PgPool) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT min(next_slot) FROM schedules WHERE NOT suspended")
        .fetch_one(pool)
        .await
}

/// Moves a schedule's cursor past `slot` to `next`, only if `slot` is
/// still its next slot; `false` when someone else handled it first (the
/// row lock this takes makes a second handler wait, then find nothing).
pub async fn advance(
    conn: &mut PgConnection,
    id: Uuid,
    slot: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE schedules SET next_slot = $3, last_slot = $2
         WHERE id = $1 AND next_slot = $2",
    )
    .bind(id)
    .bind(slot)
    .bind(next)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// The schedule.
    pub schedule_id: Uuid,
    /// Its project.
    pub project_id: &'a str,
    /// The slot.
    pub slot_time: DateTime<Utc>,
    /// The job made, if any.
    pub deployment_id: Option<&'a str>,
    /// Its deploy action.
    pub action_id: Option<Uuid>,
    /// What became of the slot.
    pub outcome: RunOutcome,
    /// Why, where there is more to say.
    pub detail: Option<&'a str>,
    /// When it was handled (the scheduler's clock).
    pub recorded_at: DateTime<Utc>,
}

/// Records a run; `None` when the slot has one already (the unique key
/// that makes a double fire impossible).
pub async fn insert_run(
    conn: &mut PgConnection,
    run: &NewRun<'_>,
) -> sqlx::Result<Option<RunRecord>> {
    sqlx::query_as(
        "INSERT INTO schedule_runs (schedule_id, slot_time, project_id, deployment_id, action_id, outcome, detail, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (schedule_id, slot_time) DO NOTHING
         RETURNING *",
    )
    .bind(run.schedule_id)
    .bind(run.slot_time)
    .bind(run.project_id)
    .bind(run.deployment_id)
    .bind(run.action_id)
    .bind(run.outcome)
    .bind(run.detail)
    .bind(run.recorded_at)
    .fetch_optional(conn)
    .await
}

/// A job of the schedule that has not finished yet (pending, running or
/// terminating), if there is one.
pub async fn unfinished_job(pool: &PgPool, schedule_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT d.id FROM schedule_runs r JOIN deployments d ON d.id = r.deployment_id
         WHERE r.schedule_id = $1 AND d.status IN ('pending', 'running', 'terminating')
         ORDER BY r.slot_time DESC LIMIT 1",
    )
    .bind(schedule_id)
    .fetch_optional(pool)
    .await
}

/// The schedule's jobs that have not finished (pending, running or
/// terminating), newest first, at most `limit`: what a `replace` fire
/// cancels. Read inside the fire's transaction, after the cursor's row
/// lock, so two fires of one schedule see each other's jobs.
pub async fn unfinished_jobs(
    conn: &mut PgConnection,
    schedule_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT d.id FROM schedule_runs r JOIN deployments d ON d.id = r.deployment_id
         WHERE r.schedule_id = $1 AND d.status IN ('pending', 'running', 'terminating')
         ORDER BY r.slot_time DESC LIMIT $2",
    )
    .bind(schedule_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Deletes the runs beyond the schedule's history limits: the newest
/// `succeeded` runs whose job succeeded are kept, and the newest `failed`
/// of the others that have ended (job failed or gone, or nothing fired);
/// a run whose job has not finished is always kept. Returns how many went.
pub async fn prune_runs(
    pool: &PgPool,
    schedule_id: Uuid,
    succeeded: i32,
    failed: i32,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "WITH classified AS (
            SELECT r.slot_time,
                   CASE WHEN d.status = 'succeeded' THEN 'succeeded'
                        WHEN d.status IN ('pending', 'running', 'terminating') THEN 'live'
                        ELSE 'ended' END AS class
            FROM schedule_runs r LEFT JOIN deployments d ON d.id = r.deployment_id
            WHERE r.schedule_id = $1
         ), ranked AS (
            SELECT slot_time, class,
                   row_number() OVER (PARTITION BY class ORDER BY slot_time DESC) AS n
            FROM classified
         )
         DELETE FROM schedule_runs r USING ranked k
         WHERE r.schedule_id = $1 AND r.slot_time = k.slot_time
           AND ((k.class = 'succeeded' AND k.n > $2) OR (k.class = 'ended' AND k.n > $3))",
    )
    .bind(schedule_id)
    .bind(i64::from(succeeded))
    .bind(i64::from(failed))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Takes or renews the lease `name` for `holder` until `expires_at`, if it
/// is free, expired at `now`, or already `holder`'s. Whether `holder` now
/// holds it.
pub async fn try_lease(
    pool: &PgPool,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let held: Option<String> = sqlx::query_scalar(
        "INSERT INTO scheduler_leases (name, holder, expires_at, updated_at) VALUES ($1, $2, $4, $3)
         ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = $4, updated_at = $3
         WHERE scheduler_leases.holder = $2 OR scheduler_leases.expires_at <= $3
         RETURNING holder",
    )
    .bind(name)
    .bind(holder)
    .bind(now)
    .bind(expires_at)
    .fetch_optional(pool)
    .await?;
    Ok(held.is_some())
}

/// Gives the lease up (at shutdown), so a standby takes it at once.
pub async fn release_lease(pool: &PgPool, name: &str, holder: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM scheduler_leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(pool)
        .await
        .map(drop)
}
