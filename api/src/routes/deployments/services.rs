//! `/projects/{project_id}/services`: long-running deployments.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use contaxy_common::domain::action::DeploymentAction;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentStatus, DeploymentType};
use contaxy_common::domain::payload::{DeletePayload, RestartPayload};
use contaxy_common::store::deployments as store;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::input::{ServiceInput, ServicePatch};
use super::logs::{self, LogsQuery};
use super::wire::Deployment;
use super::{CreateQuery, DeleteQuery, NoVerb, WaitQuery, no_verb};
use crate::actions::IdempotencyKey;
use crate::auth::{Admin, ProjectAccess, Read, Write};
use crate::deployments::{self, Requester};
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::actions::{ActionAccepted, ActionsAccepted};
use crate::routes::schema::{DeploymentIdText, IdempotencyKeyText, ProjectIdText};
use crate::state::AppState;

const KIND: DeploymentType = DeploymentType::Service;

/// Lists the project's services, oldest first.
#[utoipa::path(get, path = "/projects/{project_id}/services", tag = "services",
    params(("project_id" = ProjectIdText, Path)),
    responses((status = 200, body = Vec<Deployment>), (status = 404, body = ErrorBody)))]
pub async fn list_services(
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

/// Deploys a service.
#[utoipa::path(post, path = "/projects/{project_id}/services", tag = "services",
    params(("project_id" = ProjectIdText, Path), CreateQuery,
           ("Idempotency-Key" = Option<IdempotencyKeyText>, Header,
            description = "Makes a retried request answer as the first one (200) instead of acting twice.")),
    request_body = ServiceInput,
    responses((status = 202, body = Deployment, description = "Recorded; the action is on its way"),
              (status = 200, body = Deployment, description = "The action ended (`wait=true`), or a repeated Idempotency-Key"),
              (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_service(
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

/// Deletes every service of the project, with its volume. They are gone
/// from reads at once.
#[utoipa::path(delete, path = "/projects/{project_id}/services", tag = "services",
    params(("project_id" = ProjectIdText, Path), WaitQuery),
    responses((status = 202, body = ActionsAccepted),
              (status = 200, body = ActionsAccepted, description = "Waited: every service is removed"),
              (status = 403, body = ErrorBody)))]
pub async fn delete_services(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
    Query(query): Query<WaitQuery>,
) -> Result<(StatusCode, Json<ActionsAccepted>), ApiError> {
    let records = store::list_visible(&state.db, access.project.as_str(), KIND).await?;
    let actions = deployments::delete_all(&state, Requester::from(&access), &records).await?;
    Ok(ActionsAccepted::answer(&state, actions, state.waits(query.wait)).await)
}

/// Reads one service.
#[utoipa::path(get, path = "/projects/{project_id}/services/{service_id}", tag = "services",
    params(("project_id" = ProjectIdText, Path), ("service_id" = DeploymentIdText, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
pub async fn get_service(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Deployment>, ApiError> {
    no_verb(&id)?;
    let record = deployments::find(&state, &access.project, KIND, &id).await?;
    Ok(Json(Deployment::answer(&state, record, None)))
}

/// Changes a service: its container is made anew from the merged input,
/// its volume kept.
#[utoipa::path(patch, path = "/projects/{project_id}/services/{service_id}", tag = "services",
    params(("project_id" = ProjectIdText, Path), ("service_id" = DeploymentIdText, Path), WaitQuery),
    request_body = ServicePatch,
    responses((status = 202, body = Deployment),
              (status = 200, body = Deployment, description = "Waited: the service runs from the new input"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_service(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<WaitQuery>,
    _plain: NoVerb,
    JsonBody(patch): JsonBody<Value>,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    let who = Requester::from(&access);
    let changed = deployments::update(&state, who, KIND, &id, patch).await?;
    super::respond(&state, KIND, changed, state.waits(query.wait)).await
}

/// Deletes one service (with `delete_volumes`, its volume too).
#[utoipa::path(delete, path = "/projects/{project_id}/services/{service_id}", tag = "services",
    params(("project_id" = ProjectIdText, Path), ("service_id" = DeploymentIdText, Path), DeleteQuery),
    responses((status = 202, body = ActionAccepted, description = "Accepted: gone from reads at once"),
              (status = 200, body = ActionAccepted, description = "Waited: removed"),
              (status = 404, body = ErrorBody)))]
pub async fn delete_service(
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

/// The path of the access route. The router cannot match a verb after a
/// parameter, so it is served by [`service_verb`] on
/// `/projects/{project_id}/services/{service_id}`, which splits the verb off.
pub const UPDATE_ACCESS_PATH: &str =
    "/projects/{project_id}/services/{service_id}:update-service-access";

/// The verb routes of a service (`POST …/services/{service_id}:<verb>`):
/// `:update-service-access`. Another verb, or none, is a 405.
pub async fn service_verb(
    state: State<AppState>,
    access: ProjectAccess<Write>,
    Path((project, id_and_verb)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    match id_and_verb.rsplit_once(':') {
        Some((_, "update-service-access")) => {
            update_service_access(state, access, Path((project, id_and_verb))).await
        }
        _ => Err(ApiError::MethodNotAllowed {
            message: "The route exists, but not for this method.".to_owned(),
            allow: "GET, PATCH, DELETE",
        }),
    }
}

/// Notes an access to the service now: its `last_access_time`, what its
/// `idle_timeout` counts from. contaxy's HTTP proxy calls this when it
/// forwards a request to a service; this server runs no proxy, so a proxy
/// or gateway in front of the services may call it (the API's own reads of
/// a service with an `idle_timeout` count as accesses too).
#[utoipa::path(post, path = "/projects/{project_id}/services/{service_id}:update-service-access", tag = "services",
    params(("project_id" = ProjectIdText, Path), ("service_id" = DeploymentIdText, Path)),
    responses((status = 204, description = "Noted"), (status = 404, body = ErrorBody)))]
pub async fn update_service_access(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id_and_verb)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = id_and_verb
        .strip_suffix(":update-service-access")
        .unwrap_or(&id_and_verb);
    let record = deployments::find(&state, &access.project, KIND, id).await?;
    store::touch(&state.db, access.project.as_str(), &record.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A service's output.
#[utoipa::path(get, path = "/projects/{project_id}/services/{service_id}/logs", tag = "services",
    params(("project_id" = ProjectIdText, Path), ("service_id" = DeploymentIdText, Path), LogsQuery),
    responses((status = 200, description = "The output: a JSON string; `text/plain` when `Accept` asks for it (and not for JSON), or with `follow` (streamed)",
                content((String = "application/json"), (String = "text/plain"))),
              (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn service_logs(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    logs::logs(&state, &access.project, KIND, &id, query, &headers).await
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
            // contaxy's id: the endpoint without its slashes.
            &format!("access-{}", e.replace('/', "")),
            &format!("Access {e}"),
        )
    }));
    actions
}

/// The actions a service offers now.
#[utoipa::path(get, path = "/projects/{project_id}/services/{service_id}/actions", tag = "services",
    params(("project_id" = ProjectIdText, Path), ("service_id" = DeploymentIdText, Path)),
    responses((status = 200, body = Vec<ResourceAction>), (status = 404, body = ErrorBody)))]
pub async fn list_service_actions(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Vec<ResourceAction>>, ApiError> {
    let record = deployments::find(&state, &access.project, KIND, &id).await?;
    Ok(Json(offered(record.status, &record.input.endpoints)))
}

/// The actions `POST …/actions/{action_id}` runs. (`access-*`, which the
/// listing offers, needs the platform's HTTP proxy, which this server does
/// not run: a 400.)
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ServiceActionId {
    /// Start a stopped service.
    Start,
    /// Stop a running service.
    Stop,
    /// Restart a service.
    Restart,
}

/// Starts, stops or restarts a service.
#[utoipa::path(post, path = "/projects/{project_id}/services/{service_id}/actions/{action_id}", tag = "services",
    params(("project_id" = ProjectIdText, Path), ("service_id" = DeploymentIdText, Path),
           ("action_id" = ServiceActionId, Path), WaitQuery),
    responses((status = 202, body = ActionAccepted),
              (status = 200, body = ActionAccepted, description = "Waited: the service is started, stopped or restarted"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn run_service_action(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    Path((_, id, action_id)): Path<(String, String, String)>,
    Query(query): Query<WaitQuery>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    let kind = match action_id.as_str() {
        "start" => DeploymentAction::Start,
        "stop" => DeploymentAction::Stop,
        "restart" => DeploymentAction::Restart(RestartPayload::default()),
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
    let record = deployments::find(&state, &access.project, KIND, &id).await?;
    let who = Requester::from(&access);
    // No parameters: a plain restart keeps the container as it is.
    let action = deployments::act_on(&state, who, &record, kind).await?;
    Ok(ActionAccepted::answer(&state, action, state.waits(query.wait)).await)
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
            ["stop", "restart", "access-8080", "access-9001ui"]
        );
    }
}
