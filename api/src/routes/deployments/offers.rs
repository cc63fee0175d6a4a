//! What contaxy's clients ask before they act: the deploy actions an input
//! may be deployed with (`…/services:deploy-actions`,
//! `…/jobs:deploy-actions`) and the actions a job offers
//! (`…/jobs/{job_id}/actions`).
//!
//! contaxy gathers these from its extensions; this server has none, so it
//! offers its one deploy action, `default`, and no job actions.

use axum::Json;
use axum::extract::{Path, State};
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentType};

use super::input::{JobInput, ServiceInput};
use super::services::ResourceAction;
use crate::auth::{ProjectAccess, Read, Write};
use crate::deployments;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
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

/// The actions a job offers: none (404 when there is no such job).
#[utoipa::path(get, path = "/projects/{project_id}/jobs/{job_id}/actions", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), ("job_id" = DeploymentIdText, Path)),
    responses((status = 200, body = Vec<ResourceAction>), (status = 404, body = ErrorBody)))]
pub async fn list_job_actions(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Vec<ResourceAction>>, ApiError> {
    deployments::find(&state, &access.project, DeploymentType::Job, &id).await?;
    Ok(Json(Vec::new()))
}
