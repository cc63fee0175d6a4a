//! `/projects/{project_id}/schedules`: cron schedules that launch jobs.
//!
//! The routes record schedules; the scheduler's leader fires them (see
//! docs/schedules.md). A body is read as `ScheduleInput` and validated in
//! `contaxy-common`: the cron expression, the time zone, the minimum
//! interval (`CONTAXY_SCHEDULE_MIN_INTERVAL_SECS`), and the job template
//! exactly as `POST …/jobs` validates a job (host capacity included).
//!
//! `:trigger`, `:suspend` and `:resume` are `POST …/schedules/{schedule_id}`
//! with the verb after the id (`{schedule_id}:trigger`): the router does
//! not match a parameter followed by text in one segment. `:trigger` fires
//! a job now through the same path as a cron slot, whatever the
//! concurrency policy.
//!
//! - [`wire`]: the bodies they accept and answer.

pub mod wire;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::domain::schedule::ScheduleInput;
use contaxy_common::domain::validation::FieldErrors;
use contaxy_common::scheduled::{self, FireError, FireKind, Firing};
use contaxy_common::store::schedules::{self as store, RunWithStatus, ScheduleRecord};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{ProjectAccess, Read, Write};
use crate::deployments::check_host_capacity;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;
use wire::{Schedule, ScheduleBody, SchedulePatch, ScheduleRun};

/// Most runs one `GET …/runs` answers.
const MAX_RUNS: i64 = 1000;

/// Lists the project's schedules, oldest first.
#[utoipa::path(get, path = "/projects/{project_id}/schedules", tag = "schedules",
    params(("project_id" = ProjectIdText, Path)),
    responses((status = 200, body = Vec<Schedule>), (status = 404, body = ErrorBody)))]
pub async fn list_schedules(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    let records = store::list(&state.db, access.project.as_str()).await?;
    Ok(Json(records.into_iter().map(Schedule::from).collect()))
}

/// Creates a schedule; its first slot is the first after now.
#[utoipa::path(post, path = "/projects/{project_id}/schedules", tag = "schedules",
    params(("project_id" = ProjectIdText, Path)),
    request_body = ScheduleBody,
    responses((status = 201, body = Schedule), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn create_schedule(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    JsonBody(input): JsonBody<ScheduleInput>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let now = Utc::now();
    let valid = input.validate(min_interval(&state), now)?;
    check_host_capacity(&state, &valid.input.job_template).await?;
    let next_slot = valid.first_slot_after(now);
    let by = access.caller.subject.to_string();
    let record = store::insert(
        &state.db,
        Uuid::now_v7(),
        access.project.as_str(),
        &valid,
        next_slot,
        &by,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Reads one schedule.
#[utoipa::path(get, path = "/projects/{project_id}/schedules/{schedule_id}", tag = "schedules",
    params(("project_id" = ProjectIdText, Path), ("schedule_id" = Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 404, body = ErrorBody)))]
pub async fn get_schedule(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Schedule>, ApiError> {
    let record = find(&state, &access, &id).await?;
    Ok(Json(record.into()))
}

/// Changes a schedule: the fields given replace the recorded ones and the
/// result is validated as a new schedule. A changed cron expression, time
/// zone or end date (or a resume) starts again from the first slot after
/// now.
#[utoipa::path(patch, path = "/projects/{project_id}/schedules/{schedule_id}", tag = "schedules",
    params(("project_id" = ProjectIdText, Path), ("schedule_id" = Uuid, Path)),
    request_body = SchedulePatch,
    responses((status = 200, body = Schedule), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn update_schedule(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<Schedule>, ApiError> {
    let record = find(&state, &access, &id).await?;
    let mut merged =
        serde_json::to_value(record.input()).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(fields) = merged.as_object_mut() {
        fields.extend(patch);
    }
    let bytes = serde_json::to_vec(&merged).map_err(|e| ApiError::Internal(e.into()))?;
    let input: ScheduleInput = crate::json::from_slice(&bytes)?;
    let now = Utc::now();
    let valid = input.validate(min_interval(&state), now)?;
    check_host_capacity(&state, &valid.input.job_template).await?;
    let restarts = valid.input.cron != record.cron
        || valid.input.time_zone != record.time_zone
        || valid.input.end_at != record.end_at
        || (record.suspended && !valid.input.suspended);
    let next_slot = if restarts {
        valid.first_slot_after(now)
    } else {
        record.next_slot
    };
    let by = access.caller.subject.to_string();
    let updated = store::update(
        &state.db,
        access.project.as_str(),
        record.id,
        &valid,
        next_slot,
        &by,
    )
    .await?
    .ok_or_else(|| not_found(&access, &id))?;
    Ok(Json(updated.into()))
}

/// Deletes a schedule and its run history; the jobs it made stay.
#[utoipa::path(delete, path = "/projects/{project_id}/schedules/{schedule_id}", tag = "schedules",
    params(("project_id" = ProjectIdText, Path), ("schedule_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_schedule(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let record = find(&state, &access, &id).await?;
    if store::delete(&state.db, access.project.as_str(), record.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&access, &id))
    }
}

/// `{schedule_id}:trigger` (run a job now: 202 with the run),
/// `{schedule_id}:suspend` or `{schedule_id}:resume` (200 with the
/// schedule). A resumed schedule goes on from the first slot after now.
#[utoipa::path(post, path = "/projects/{project_id}/schedules/{schedule_id}", tag = "schedules",
    params(("project_id" = ProjectIdText, Path),
           ("schedule_id" = String, Path, description = "`{id}:trigger`, `{id}:suspend` or `{id}:resume`")),
    responses((status = 202, body = ScheduleRun, description = "`:trigger`: the job is on its way"),
              (status = 200, body = Schedule, description = "`:suspend`, `:resume`: the schedule"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn schedule_verb(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, target)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Some((id, verb)) = target.split_once(':') else {
        return Err(ApiError::NotFound(
            "POST a schedule's action: {schedule_id}:trigger, :suspend or :resume.".to_owned(),
        ));
    };
    let record = find(&state, &access, id).await?;
    let by = access.caller.subject.to_string();
    match verb {
        "trigger" => {
            let run = trigger(&state, &record).await?;
            Ok((StatusCode::ACCEPTED, Json(run)).into_response())
        }
        "suspend" | "resume" => {
            let suspend = verb == "suspend";
            let next_slot = if suspend {
                None
            } else {
                let times = record
                    .times()
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
                record.slot_after(&times, Utc::now())
            };
            let updated = store::set_suspended(
                &state.db,
                access.project.as_str(),
                record.id,
                suspend,
                next_slot,
                &by,
            )
            .await?
            .ok_or_else(|| not_found(&access, id))?;
            Ok(Json(Schedule::from(updated)).into_response())
        }
        _ => Err(ApiError::NotFound(format!(
            "`{verb}` is not a schedule action; use :trigger, :suspend or :resume."
        ))),
    }
}

/// Which runs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// The newest this many (1–1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A schedule's runs, newest first: each slot, the job it made and what
/// became of it. Runs beyond the history limits are pruned.
#[utoipa::path(get, path = "/projects/{project_id}/schedules/{schedule_id}/runs", tag = "schedules",
    params(("project_id" = ProjectIdText, Path), ("schedule_id" = Uuid, Path), RunsQuery),
    responses((status = 200, body = Vec<ScheduleRun>), (status = 404, body = ErrorBody)))]
pub async fn list_runs(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Vec<ScheduleRun>>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_RUNS).contains(&limit) {
        let mut errors = FieldErrors::default();
        errors.push("limit", "must be 1 to 1000");
        return Err(errors.into());
    }
    let record = find(&state, &access, &id).await?;
    let runs = store::runs(&state.db, access.project.as_str(), record.id, limit).await?;
    Ok(Json(runs.into_iter().map(ScheduleRun::from).collect()))
}

/// Fires the schedule now, through the same path as a cron slot.
async fn trigger(state: &AppState, record: &ScheduleRecord) -> Result<ScheduleRun, ApiError> {
    let now = Utc::now();
    // Millisecond precision: the job id and the run's key carry the slot.
    let slot = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    let firing = Firing {
        pool: &state.db,
        publisher: &state.publisher,
        namespace: &state.namespace,
        quotas: &state.quotas,
    };
    match scheduled::fire(&firing, record, slot, FireKind::Trigger, now).await {
        Ok(fired) => Ok(ScheduleRun::from(RunWithStatus {
            run: fired.run,
            job_status: Some("pending".to_owned()),
        })),
        Err(FireError::AlreadyHandled | FireError::DeploymentExists(_)) => Err(ApiError::Conflict(
            "The schedule was triggered in this same millisecond already.".to_owned(),
        )),
        Err(FireError::Template(errors)) => Err(prefixed(errors).into()),
        Err(FireError::ProjectNotLive) => Err(ApiError::Conflict(
            "The project is being deleted; nothing new is made in it.".to_owned(),
        )),
        Err(FireError::Quota(exceeded)) => Err(ApiError::QuotaExceeded(exceeded)),
        Err(FireError::Database(error)) => Err(error.into()),
    }
}

fn prefixed(errors: FieldErrors) -> FieldErrors {
    let mut out = FieldErrors::default();
    for error in errors.0 {
        out.push(&format!("job_template.{}", error.field), &error.message);
    }
    out
}

fn min_interval(state: &AppState) -> TimeDelta {
    TimeDelta::from_std(state.schedule_min_interval).unwrap_or(TimeDelta::MAX)
}

/// One schedule of the caller's project, or 404 (also for an id that is
/// not a UUID).
async fn find<L>(
    state: &AppState,
    access: &ProjectAccess<L>,
    id: &str,
) -> Result<ScheduleRecord, ApiError> {
    let Ok(uuid) = Uuid::parse_str(id) else {
        return Err(not_found(access, id));
    };
    store::get(&state.db, access.project.as_str(), uuid)
        .await?
        .ok_or_else(|| not_found(access, id))
}

fn not_found<L>(access: &ProjectAccess<L>, id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "The schedule `{id}` was not found in project `{}`.",
        access.project
    ))
}
