//! What contaxy's clients ask before they act: the deploy actions an input
//! may be deployed with (`…/services:deploy-actions`,
//! `…/jobs:deploy-actions`) and the actions a job offers
//! (`…/jobs/{job_id}/actions`, run by `POST …/jobs/{job_id}/actions/{action_id}`).
//!
//! contaxy gathers these from its extensions; this server has none, so it
//! offers its one deploy action, `default`, and one job action, `cancel`
//! (the same as `POST …/jobs/{job_id}:cancel`), while the job has not
//! finished.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use contaxy_common::domain::action::DeploymentAction;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentStatus, DeploymentType};
use contaxy_common::domain::payload::{CancelPayload, CancelReason};
use utoipa::ToSchema;

use super::WaitQuery;
use super::input::{JobInput, ServiceInput};
use super::services::ResourceAction;
use crate::auth::{ProjectAccess, Read, Write};
use crate::deployments::{self, Requester};
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::actions::ActionAccepted;
use crate::routes::schema::{DeploymentIdText, ProjectIdText};
use crate::state::AppState;

/// The one deploy action: what `action_id` on create may name.
fn deploy_actions() -> Vec<ResourceAction> {
    vec![ResourceAction {
        action_id: "default".to_owned(),
        display_name: "Default".to_owned(),
    }]
}

/// The deploy actions a service input may be deployed with.
#[utoipa::path(post, path = "/projects/{project_id}/services:deploy-actions", tag = "services",
    params(("project_id" = ProjectIdText, Path)), request_body = ServiceInput,
    responses((status = 200, body = Vec<ResourceAction>), (status = 400, body = ErrorBody)))]
pub async fn list_deploy_service_actions(
    _access: ProjectAccess<Write>,
    JsonBody(_input): JsonBody<DeploymentInput>,
) -> Json<Vec<ResourceAction>> {
    Json(deploy_actions())
}

/// The deploy actions a job input may be deployed with.
#[utoipa::path(post, path = "/projects/{project_id}/jobs:deploy-actions", tag = "jobs",
    params(("project_id" = ProjectIdText, Path)), request_body = JobInput,
    responses((status = 200, body = Vec<ResourceAction>), (status = 400, body = ErrorBody)))]
pub async fn list_deploy_job_actions(
    _access: ProjectAccess<Write>,
    JsonBody(_input): JsonBody<DeploymentInput>,
) -> Json<Vec<ResourceAction>> {
    Json(deploy_actions())
}

/// The actions a job offers now: `cancel` until it has finished, then
/// none (404 when there is no such job).
#[utoipa::path(get, path = "/projects/{project_id}/jobs/{job_id}/actions", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), ("job_id" = DeploymentIdText, Path)),
    responses((status = 200, body = Vec<ResourceAction>), (status = 404, body = ErrorBody)))]
pub async fn list_job_actions(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Vec<ResourceAction>>, ApiError> {
    let record = deployments::find(&state, &access.project, DeploymentType::Job, &id).await?;
    Ok(Json(job_actions(record.status)))
}

fn job_actions(status: DeploymentStatus) -> Vec<ResourceAction> {
    if status.is_finished_job() {
        return Vec::new();
    }
    vec![ResourceAction {
        action_id: "cancel".to_owned(),
        display_name: "Cancel".to_owned(),
    }]
}

/// The actions `POST …/jobs/{job_id}/actions/{action_id}` runs.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum JobActionId {
    /// Stop a job that has not finished; it ends `cancelled`.
    Cancel,
}

/// Runs a job's action: `cancel`, as `POST …/jobs/{job_id}:cancel` (a job
/// that already finished stays as it was). Another action is a 400.
#[utoipa::path(post, path = "/projects/{project_id}/jobs/{job_id}/actions/{action_id}", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), ("job_id" = DeploymentIdText, Path),
           ("action_id" = JobActionId, Path), WaitQuery),
    responses((status = 202, body = ActionAccepted),
              (status = 200, body = ActionAccepted, description = "Waited: the job is cancelled"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn run_job_action(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id, action_id)): Path<(String, String, String)>,
    Query(query): Query<WaitQuery>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    if action_id != "cancel" {
        return Err(ApiError::Invalid(format!(
            "Unknown job action `{action_id}`; jobs offer `cancel` until they finish."
        )));
    }
    let record = deployments::find(&state, &access.project, DeploymentType::Job, &id).await?;
    let cancel = DeploymentAction::Cancel(CancelPayload {
        reason: CancelReason::Requested,
    });
    let action = deployments::act_on(&state, Requester::from(&access), &record, cancel).await?;
    Ok(ActionAccepted::answer(&state, action, state.waits(query.wait)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_offers_cancel_until_it_finishes() {
        let ids = |status| {
            job_actions(status)
                .into_iter()
                .map(|a| a.action_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(DeploymentStatus::Pending), ["cancel"]);
        assert_eq!(ids(DeploymentStatus::Running), ["cancel"]);
        for ended in [
            DeploymentStatus::Succeeded,
            DeploymentStatus::Failed,
            DeploymentStatus::Cancelled,
        ] {
            assert!(ids(ended).is_empty(), "{ended:?}");
        }
    }
}
