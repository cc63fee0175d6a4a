//! `/projects/{project_id}/jobs`: run-to-completion deployments.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use contaxy_common::domain::action::DeploymentAction;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentType};
use contaxy_common::domain::payload::{CancelPayload, CancelReason, DeletePayload};
use contaxy_common::store::deployments as store;
use serde::Deserialize;
use utoipa::IntoParams;

use super::input::JobInput;
use super::logs::{self, LogsQuery};
use super::wire::Deployment;
use super::{CreateQuery, DeleteQuery, no_verb};
use crate::actions::IdempotencyKey;
use crate::auth::{Admin, ProjectAccess, Read, Write};
use crate::deployments::{self, Requester};
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::actions::{ActionAccepted, ActionsAccepted};
use crate::routes::schema::{DeploymentIdText, IdempotencyKeyText, ProjectIdText};
use crate::state::AppState;

const KIND: DeploymentType = DeploymentType::Job;

/// Which jobs a bulk delete removes, by the calendar day (UTC) they were
/// created on, both ends included, as contaxy compares them.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    /// Created on this day or later: a date (`YYYY-MM-DD`), or a timestamp
    /// (RFC 3339 or Python's `str(datetime)`), whose date in its own offset
    /// counts.
    #[serde(default, deserialize_with = "crate::query::calendar_day")]
    #[param(value_type = Option<String>)]
    pub date_from: Option<NaiveDate>,
    /// Created on this day or earlier (as `date_from`).
    #[serde(default, deserialize_with = "crate::query::calendar_day")]
    #[param(value_type = Option<String>)]
    pub date_to: Option<NaiveDate>,
    /// Wait (bounded) until the jobs are removed; left out, the server's
    /// default (`CONTAXY_API_WAIT_BY_DEFAULT`).
    #[serde(default, deserialize_with = "crate::query::optional_flag")]
    #[param(value_type = Option<bool>)]
    pub wait: Option<bool>,
}

/// Lists the project's jobs, oldest first.
#[utoipa::path(get, path = "/projects/{project_id}/jobs", tag = "jobs",
    params(("project_id" = ProjectIdText, Path)),
    responses((status = 200, body = Vec<Deployment>), (status = 404, body = ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<Vec<Deployment>>, ApiError> {
    let records = store::list_visible(&state.db, access.project.as_str(), KIND).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| Deployment::answer(&state, r, None))
            .collect(),
    ))
}

/// Runs a job.
#[utoipa::path(post, path = "/projects/{project_id}/jobs", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), CreateQuery,
           ("Idempotency-Key" = Option<IdempotencyKeyText>, Header,
            description = "Makes a retried request answer as the first one (200) instead of acting twice.")),
    request_body = JobInput,
    responses((status = 202, body = Deployment, description = "Recorded; the action is on its way"),
              (status = 200, body = Deployment, description = "The action ended (`wait=true`), or a repeated Idempotency-Key"),
              (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_job(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Query(query): Query<CreateQuery>,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(input): JsonBody<DeploymentInput>,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    query.check()?;
    let who = Requester::from(&access);
    let changed = deployments::create(&state, who, KIND, input, key).await?;
    super::respond(&state, KIND, changed, state.waits(query.wait)).await
}

/// Deletes the project's jobs created from the day `date_from` to the day
/// `date_to`, both included (either left out: no bound). They are gone from
/// reads at once.
#[utoipa::path(delete, path = "/projects/{project_id}/jobs", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), DateRange),
    responses((status = 202, body = ActionsAccepted),
              (status = 200, body = ActionsAccepted, description = "Waited: every job is removed"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn delete_jobs(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
    Query(range): Query<DateRange>,
) -> Result<(StatusCode, Json<ActionsAccepted>), ApiError> {
    if let (Some(from), Some(to)) = (range.date_from, range.date_to)
        && from > to
    {
        return Err(ApiError::Invalid(
            "date_from must not be after date_to.".to_owned(),
        ));
    }
    let records = store::jobs_created_between(
        &state.db,
        access.project.as_str(),
        range.date_from,
        range.date_to,
    )
    .await?;
    let actions = deployments::delete_all(&state, Requester::from(&access), &records).await?;
    Ok(ActionsAccepted::answer(&state, actions, state.waits(range.wait)).await)
}

/// The path of the cancel route. The router cannot match a verb after a
/// parameter (`{job_id}:cancel`), so it is served by [`job_verb`] on
/// `/projects/{project_id}/jobs/{job_id}`, which splits the verb off.
pub const CANCEL_PATH: &str = "/projects/{project_id}/jobs/{job_id}:cancel";

/// The verb routes of a job (`POST …/jobs/{job_id}:<verb>`): `:cancel`.
/// Another verb, or none, is a 405.
pub async fn job_verb(
    state: State<AppState>,
    access: ProjectAccess<Write>,
    Path((project, id_and_verb)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    match id_and_verb.rsplit_once(':') {
        Some((id, "cancel")) => {
            cancel_job(state, access, Path((project, format!("{id}:cancel")))).await
        }
        _ => Err(ApiError::MethodNotAllowed {
            message: "The route exists, but not for this method.".to_owned(),
            allow: "GET, DELETE",
        }),
    }
}

/// Cancels a job that has not finished: its container is stopped and it
/// ends `cancelled` (our extension; distinct from `failed`). A job that
/// already finished stays as it was; cancelling twice is harmless. The
/// `deployment.cancel` action is recorded and published like any other.
#[utoipa::path(post, path = "/projects/{project_id}/jobs/{job_id}:cancel", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), ("job_id" = DeploymentIdText, Path)),
    responses((status = 202, body = ActionAccepted), (status = 404, body = ErrorBody)))]
pub async fn cancel_job(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id_and_verb)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    let id = id_and_verb.strip_suffix(":cancel").unwrap_or(&id_and_verb);
    let record = deployments::find(&state, &access.project, KIND, id).await?;
    let cancel = DeploymentAction::Cancel(CancelPayload {
        reason: CancelReason::Requested,
    });
    let action = deployments::act_on(&state, Requester::from(&access), &record, cancel).await?;
    Ok(ActionAccepted::of(&action))
}

/// Reads one job.
#[utoipa::path(get, path = "/projects/{project_id}/jobs/{job_id}", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), ("job_id" = DeploymentIdText, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Deployment>, ApiError> {
    no_verb(&id)?;
    let record = deployments::find(&state, &access.project, KIND, &id).await?;
    Ok(Json(Deployment::answer(&state, record, None)))
}

/// Deletes one job (with `delete_volumes`, its volume too).
#[utoipa::path(delete, path = "/projects/{project_id}/jobs/{job_id}", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), ("job_id" = DeploymentIdText, Path), DeleteQuery),
    responses((status = 202, body = ActionAccepted, description = "Accepted: gone from reads at once"),
              (status = 200, body = ActionAccepted, description = "Waited: removed"),
              (status = 404, body = ErrorBody)))]
pub async fn delete_job(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<DeleteQuery>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    no_verb(&id)?;
    let record = deployments::find(&state, &access.project, KIND, &id).await?;
    let delete = DeploymentAction::Delete(DeletePayload {
        delete_volumes: query.delete_volumes,
        ..DeletePayload::default()
    });
    let who = Requester::from(&access);
    let action = deployments::act_on(&state, who, &record, delete).await?;
    Ok(ActionAccepted::answer(&state, action, state.waits(query.wait)).await)
}

/// A job's output.
#[utoipa::path(get, path = "/projects/{project_id}/jobs/{job_id}/logs", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), ("job_id" = DeploymentIdText, Path), LogsQuery),
    responses((status = 200, description = "The output: a JSON string; `text/plain` when `Accept` asks for it (and not for JSON), or with `follow` (streamed)",
                content((String = "application/json"), (String = "text/plain"))),
              (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn job_logs(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    logs::logs(&state, &access.project, KIND, &id, query, &headers).await
}
