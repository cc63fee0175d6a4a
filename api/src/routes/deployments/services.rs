//! `/projects/{project_id}/services`: long-running deployments.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use contaxy_common::domain::action::ActionKind;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentStatus, DeploymentType};
use contaxy_common::store::deployments as store;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{Accepted, AcceptedMany, CreateQuery, DeleteQuery, LogsQuery};
use crate::auth::{Admin, ProjectAccess, Read, Write};
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::state::AppState;

const KIND: DeploymentType = DeploymentType::Service;

#[utoipa::path(get, path = "/projects/{project_id}/services", tag = "services",
    params(("project_id" = String, Path)),
    responses((status = 200, body = Vec<Object>)))]
pub async fn list_services(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<Vec<Value>>, ApiError> {
    super::list(&state, &access.project, KIND).await
}

#[utoipa::path(post, path = "/projects/{project_id}/services", tag = "services",
    params(("project_id" = String, Path), CreateQuery),
    request_body = Object,
    responses((status = 202, body = Object), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_service(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Query(query): Query<CreateQuery>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<DeploymentInput>,
) -> Result<Response, ApiError> {
    super::create(
        &state,
        &access.project,
        &access.caller,
        KIND,
        query,
        &headers,
        input,
    )
    .await
}

#[utoipa::path(delete, path = "/projects/{project_id}/services", tag = "services",
    params(("project_id" = String, Path)),
    responses((status = 202, body = AcceptedMany)))]
pub async fn delete_services(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
) -> Result<(StatusCode, Json<AcceptedMany>), ApiError> {
    let records = store::list(&state.db, access.project.as_str(), KIND).await?;
    super::delete_many(&state, &access.project, &access.caller, records).await
}

#[utoipa::path(get, path = "/projects/{project_id}/services/{service_id}", tag = "services",
    params(("project_id" = String, Path), ("service_id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_service(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(super::render(
        &super::find(&state, &access.project, KIND, &id).await?,
        None,
    )))
}

#[utoipa::path(patch, path = "/projects/{project_id}/services/{service_id}", tag = "services",
    params(("project_id" = String, Path), ("service_id" = String, Path)),
    request_body = Object,
    responses((status = 202, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_service(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let record = super::find(&state, &access.project, KIND, &id).await?;
    let merged = super::merge(record.spec.0.clone(), patch)?;
    merged.validate(KIND)?;
    super::check_host_capacity(&state, &merged).await?;
    let mut conn = state.db.acquire().await?;
    let by = access.caller.subject.to_string();
    let record = store::update_spec(&mut conn, access.project.as_str(), &id, &merged, Some(&by))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("The service `{id}` was not found.")))?;
    drop(conn);
    let action = super::recreate(&state, &access.project, &access.caller, &record).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(super::render(&record, Some(&action))),
    ))
}

#[utoipa::path(delete, path = "/projects/{project_id}/services/{service_id}", tag = "services",
    params(("project_id" = String, Path), ("service_id" = String, Path), DeleteQuery),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody)))]
pub async fn delete_service(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<DeleteQuery>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    super::delete_one(&state, &access.project, &access.caller, KIND, &id, query).await
}

#[utoipa::path(get, path = "/projects/{project_id}/services/{service_id}/logs", tag = "services",
    params(("project_id" = String, Path), ("service_id" = String, Path), LogsQuery),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = ErrorBody)))]
pub async fn service_logs(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    super::logs(&state, &access.project, KIND, &id, query).await
}

/// An action a service offers (contaxy's ResourceAction).
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceAction {
    /// Pass it to `POST …/actions/{action_id}`.
    pub action_id: String,
    /// Shown to people.
    pub display_name: String,
}

fn offered(status: DeploymentStatus, endpoints: &[String]) -> Vec<ResourceAction> {
    let action = |id: &str, name: &str| ResourceAction {
        action_id: id.to_owned(),
        display_name: name.to_owned(),
    };
    if status.is_final() {
        return vec![action("start", "Start")];
    }
    let mut actions = vec![action("stop", "Stop"), action("restart", "Restart")];
    actions.extend(endpoints.iter().map(|e| {
        action(
            &format!("access-{}", e.replace('/', "-")),
            &format!("Access {e}"),
        )
    }));
    actions
}

#[utoipa::path(get, path = "/projects/{project_id}/services/{service_id}/actions", tag = "services",
    params(("project_id" = String, Path), ("service_id" = String, Path)),
    responses((status = 200, body = Vec<ResourceAction>), (status = 404, body = ErrorBody)))]
pub async fn list_service_actions(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Vec<ResourceAction>>, ApiError> {
    let record = super::find(&state, &access.project, KIND, &id).await?;
    Ok(Json(offered(record.status, &record.spec.endpoints)))
}

#[utoipa::path(post, path = "/projects/{project_id}/services/{service_id}/actions/{action_id}", tag = "services",
    params(("project_id" = String, Path), ("service_id" = String, Path), ("action_id" = String, Path)),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn run_service_action(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id, action_id)): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let kind = match action_id.as_str() {
        "start" => ActionKind::DeploymentStart,
        "stop" => ActionKind::DeploymentStop,
        "restart" => ActionKind::DeploymentRestart,
        other if other.starts_with("access-") => {
            return Err(ApiError::Invalid(
                "Access actions need the platform's HTTP proxy, which this server does not run."
                    .to_owned(),
            ));
        }
        other => {
            return Err(ApiError::Invalid(format!(
                "Unknown action `{other}`; use start, stop or restart."
            )));
        }
    };
    let record = super::find(&state, &access.project, KIND, &id).await?;
    let action = super::act_on(
        &state,
        &access.project,
        &access.caller,
        &record,
        kind,
        json!({}),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            action_id: action.id,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_service_offers_start_only_a_running_one_the_rest() {
        let ids = |actions: Vec<ResourceAction>| {
            actions.into_iter().map(|a| a.action_id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(offered(DeploymentStatus::Stopped, &["8080".into()])),
            ["start"]
        );
        assert_eq!(
            ids(offered(
                DeploymentStatus::Running,
                &["8080".into(), "9001/ui".into()]
            )),
            ["stop", "restart", "access-8080", "access-9001-ui"]
        );
    }
}
