//! The schemas of the schedule routes: what they accept ([`ScheduleBody`],
//! read as `contaxy_common`'s `ScheduleInput`) and what they answer
//! ([`Schedule`], [`ScheduleRun`]).

use chrono::{DateTime, Utc};
use contaxy_common::domain::schedule::{CatchUpPolicy, ConcurrencyPolicy, RunOutcome};
use contaxy_common::store::schedules::{RunWithStatus, ScheduleRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;
use uuid::Uuid;

use crate::routes::deployments::input::JobInput;
use crate::routes::schema::names;

/// What `POST /projects/{project_id}/schedules` accepts; unknown fields
/// are refused. (`Deserialize` is derived only so that utoipa reads
/// `deny_unknown_fields`; the route reads `ScheduleInput`.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// A human name, 1–128 characters; defaults to the job template's.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\x00]*$")]
    pub display_name: Option<String>,
    /// A cron expression: 5 fields (`minute hour day-of-month month
    /// day-of-week`, fired at second 0), or 6 with seconds first, or 7 with
    /// a year last; or `@hourly`, `@daily`, `@weekly`, `@monthly`,
    /// `@yearly`. Day-of-week numbers are 1 (Sunday) to 7 (Saturday);
    /// names (`MON-FRI`) are safer. Slots closer than the server's minimum
    /// interval are refused.
    #[schema(min_length = 1, max_length = 256, example = "0 3 * * *")]
    pub cron: String,
    /// An IANA time zone; the cron's wall times are in it. A skipped wall
    /// time fires when the gap ends; a repeated one fires once.
    #[schema(default = "UTC", example = "Europe/Berlin")]
    pub time_zone: Option<String>,
    /// The job each fire makes, validated as `POST …/jobs` validates it.
    #[schema(value_type = JobInput)]
    pub job_template: serde_json::Value,
    /// While a job of the schedule has not finished: `allow` fires anyway,
    /// `forbid` skips the slot. (`replace` is not yet supported.)
    #[schema(schema_with = concurrency_policy, required = false)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A slot not fired within this many seconds is recorded `missed`;
    /// left out, there is no limit.
    #[schema(minimum = 0, maximum = 315360000)]
    pub starting_deadline_seconds: Option<u64>,
    /// Which due slots fire after an outage: `skip` (only an on-time
    /// slot), `latest` (the latest due slot), `all` (every due slot within
    /// the deadline).
    #[schema(schema_with = catch_up_policy, required = false)]
    pub catch_up: CatchUpPolicy,
    /// Recorded but not firing.
    #[schema(default = false, required = false)]
    pub suspended: bool,
    /// Runs whose job succeeded kept in the history.
    #[schema(minimum = 0, maximum = 1000, default = 3, required = false)]
    pub succeeded_history_limit: u32,
    /// Other finished runs (job failed, or nothing fired) kept.
    #[schema(minimum = 0, maximum = 1000, default = 1, required = false)]
    pub failed_history_limit: u32,
    /// No slot at or after this fires; must be in the future.
    pub end_at: Option<DateTime<Utc>>,
}

/// A change to a schedule (`PATCH`): any [`ScheduleBody`] fields, none
/// required; a field given replaces the recorded one (`job_template` as a
/// whole), `null` clears an optional one. The result must be a valid
/// schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    /// As in ScheduleBody.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\x00]*$")]
    pub display_name: Option<String>,
    /// As in ScheduleBody.
    #[schema(min_length = 1, max_length = 256)]
    pub cron: Option<String>,
    /// As in ScheduleBody.
    pub time_zone: Option<String>,
    /// As in ScheduleBody.
    #[schema(value_type = Option<JobInput>)]
    pub job_template: Option<serde_json::Value>,
    /// As in ScheduleBody.
    #[schema(schema_with = concurrency_policy)]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// As in ScheduleBody.
    #[schema(minimum = 0, maximum = 315360000)]
    pub starting_deadline_seconds: Option<u64>,
    /// As in ScheduleBody.
    #[schema(schema_with = catch_up_policy)]
    pub catch_up: Option<CatchUpPolicy>,
    /// As in ScheduleBody.
    pub suspended: Option<bool>,
    /// As in ScheduleBody.
    #[schema(minimum = 0, maximum = 1000)]
    pub succeeded_history_limit: Option<u32>,
    /// As in ScheduleBody.
    #[schema(minimum = 0, maximum = 1000)]
    pub failed_history_limit: Option<u32>,
    /// As in ScheduleBody.
    pub end_at: Option<DateTime<Utc>>,
}

/// A schedule as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct Schedule {
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
    #[schema(value_type = JobInput)]
    pub job_template: serde_json::Value,
    /// What a fire does while a previous job runs.
    #[schema(schema_with = concurrency_policy)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A slot not fired within this many seconds is missed.
    pub starting_deadline_seconds: Option<i64>,
    /// Which due slots fire after an outage.
    #[schema(schema_with = catch_up_policy)]
    pub catch_up: CatchUpPolicy,
    /// Not firing.
    pub suspended: bool,
    /// Runs with a succeeded job kept.
    pub succeeded_history_limit: i32,
    /// Other finished runs kept.
    pub failed_history_limit: i32,
    /// No slot at or after this fires.
    pub end_at: Option<DateTime<Utc>>,
    /// The next slot (absent when none is left).
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

impl From<ScheduleRecord> for Schedule {
    fn from(r: ScheduleRecord) -> Self {
        Self {
            id: r.id,
            project_id: r.project_id,
            display_name: r.display_name,
            cron: r.cron,
            time_zone: r.time_zone,
            job_template: serde_json::to_value(&r.job_template.0).unwrap_or_default(),
            concurrency_policy: r.concurrency_policy,
            starting_deadline_seconds: r.starting_deadline_seconds,
            catch_up: r.catch_up,
            suspended: r.suspended,
            succeeded_history_limit: r.succeeded_history_limit,
            failed_history_limit: r.failed_history_limit,
            end_at: r.end_at,
            next_slot: r.next_slot,
            last_slot: r.last_slot,
            created_at: r.created_at,
            created_by: r.created_by,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        }
    }
}

/// One slot of a schedule and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleRun {
    /// The schedule.
    pub schedule_id: Uuid,
    /// The slot (for a trigger, when it was asked).
    pub slot_time: DateTime<Utc>,
    /// What became of it.
    #[schema(schema_with = run_outcome)]
    pub outcome: RunOutcome,
    /// The job it made (`GET /projects/{project_id}/jobs/{job_id}`).
    pub job_id: Option<String>,
    /// The job's deploy action.
    pub action_id: Option<Uuid>,
    /// The job's status, while the job exists.
    pub job_status: Option<String>,
    /// Why, where there is more to say.
    pub detail: Option<String>,
    /// When the slot was handled.
    pub recorded_at: DateTime<Utc>,
}

impl From<RunWithStatus> for ScheduleRun {
    fn from(r: RunWithStatus) -> Self {
        Self {
            schedule_id: r.run.schedule_id,
            slot_time: r.run.slot_time,
            outcome: r.run.outcome,
            job_id: r.run.deployment_id,
            action_id: r.run.action_id,
            job_status: r.job_status,
            detail: r.run.detail,
            recorded_at: r.run.recorded_at,
        }
    }
}

fn concurrency_policy() -> Object {
    use ConcurrencyPolicy::*;
    let _every_variant_is_listed = |p: ConcurrencyPolicy| match p {
        Allow | Forbid | Replace => (),
    };
    names(
        &[Allow, Forbid, Replace],
        "While a job of the schedule has not finished: allow, forbid (skip the slot); replace is refused for now.",
    )
}

fn catch_up_policy() -> Object {
    use CatchUpPolicy::*;
    let _every_variant_is_listed = |p: CatchUpPolicy| match p {
        Skip | Latest | All => (),
    };
    names(
        &[Skip, Latest, All],
        "Which due slots fire after an outage.",
    )
}

fn run_outcome() -> Object {
    use RunOutcome::*;
    let _every_variant_is_listed = |o: RunOutcome| match o {
        Fired | Triggered | Missed | SkippedCatchUp | SkippedForbid | Failed => (),
    };
    names(
        &[
            Fired,
            Triggered,
            Missed,
            SkippedCatchUp,
            SkippedForbid,
            Failed,
        ],
        "What became of the slot.",
    )
}
