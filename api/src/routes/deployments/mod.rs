//! Services and jobs share one implementation; `services.rs` and `jobs.rs`
//! are the documented routes, each a thin call into here.
//!
//! Every mutation records its action (and the deployment row) in one
//! transaction, then publishes, then answers `202 Accepted` with the action
//! id; `wait=true` waits (bounded) for the action's outcome.

pub mod jobs;
pub mod services;

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use contaxy_common::domain::ProjectId;
use contaxy_common::domain::action::{Action, ActionKind, ActionOrigin, DeploymentAction};
use contaxy_common::domain::deployment::{
    DeploymentInput, DeploymentType, check_capacity, deployment_id,
};
use contaxy_common::domain::payload::{DeletePayload, DeployPayload, RestartPayload};
use contaxy_common::logs::{self, LogsError, LogsRequest};
use contaxy_common::store::actions::{self, ActionRecord, NewAction, Recorded};
use contaxy_common::store::capacity;
use contaxy_common::store::deployments::{self, DeploymentRecord, NewDeployment};
use contaxy_common::topology::Topology;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::submit;

/// Query of create routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// Wait (bounded) for the deploy action to end before answering.
    #[serde(default)]
    pub wait: bool,
    /// contaxy's choice of deploy action; only the default is supported.
    pub action_id: Option<String>,
}

/// Query of delete routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Also delete the deployment's volume (its data is lost).
    #[serde(default)]
    pub delete_volumes: bool,
}

/// Query of logs routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Only the last `lines` lines.
    pub lines: Option<u32>,
    /// Only output since this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Keep streaming new output.
    #[serde(default)]
    pub follow: bool,
}

/// An accepted action.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Follow it at `GET /projects/{project_id}/actions/{action_id}`.
    pub action_id: Uuid,
}

/// Several accepted actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedMany {
    /// One per deployment.
    pub action_ids: Vec<Uuid>,
}

/// The header a client may send so that a retried request does not act
/// twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A deployment as the API shows it: contaxy's Service/Job shape (the input's
/// fields plus the ones below).
pub fn render(record: &DeploymentRecord, action: Option<&ActionRecord>) -> Value {
    let mut out = serde_json::to_value(&record.spec.0).unwrap_or_else(|_| json!({}));
    let extra = json!({
        "id": record.id,
        "internal_id": record.id,
        "project_id": record.project_id,
        "deployment_type": record.deployment_type,
        "status": record.status,
        "status_detail": record.status_detail,
        "exit_code": record.exit_code,
        "is_stopped": record.status.is_final(),
        "started_at": record.started_at,
        "stopped_at": record.stopped_at,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
    });
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
        if let Some(action) = action {
            out.insert("action_id".to_owned(), json!(action.id));
            out.insert("action_status".to_owned(), json!(action.status));
            if let Some(error) = &action.last_error {
                out.insert("action_error".to_owned(), json!(error));
            }
        }
    }
    out
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()))
        .ok_or_else(|| {
            ApiError::Invalid(
                "Idempotency-Key must be 1 to 255 visible ASCII characters.".to_owned(),
            )
        })?;
    Ok(Some(key.to_owned()))
}

fn short_suffix() -> String {
    // Six base-36 characters from a fresh random id: enough that repeats of
    // one job name do not clash.
    let mut n = Uuid::new_v4().as_u128();
    (0..6)
        .map(|_| {
            let digit = (n % 36) as u32;
            n /= 36;
            char::from_digit(digit, 36).unwrap_or('0')
        })
        .collect()
}

/// Refuses `min_*` requests no host can meet (when a worker has reported
/// its host; otherwise the worker checks and fails the action).
pub async fn check_host_capacity(
    state: &AppState,
    input: &DeploymentInput,
) -> Result<(), ApiError> {
    if let Some(host) = capacity::largest(&state.db, &state.namespace).await? {
        check_capacity(&input.compute, &host)?;
    }
    Ok(())
}

/// Creates a service or job: validate, record deployment + action, publish.
pub async fn create(
    state: &AppState,
    project: &ProjectId,
    caller: &Caller,
    kind: DeploymentType,
    query: CreateQuery,
    headers: &HeaderMap,
    input: DeploymentInput,
) -> Result<Response, ApiError> {
    if query
        .action_id
        .is_some_and(|a| !a.is_empty() && a != "default")
    {
        return Err(ApiError::Invalid(
            "Only the default deploy action is supported; leave action_id out.".to_owned(),
        ));
    }
    input.validate(kind)?;
    check_host_capacity(state, &input).await?;
    let key = idempotency_key(headers)?;
    let display_name = input.display_name.clone().unwrap_or_default();
    let id = deployment_id(
        &state.namespace,
        project.as_str(),
        kind,
        &display_name,
        &short_suffix(),
    );
    let by = caller.subject.to_string();

    let mut tx = state.db.begin().await?;
    let deploy = Action::Deployment {
        deployment_id: id.clone(),
        action: DeploymentAction::Deploy(Box::new(DeployPayload {
            deployment_type: kind,
            input: input.clone(),
        })),
    };
    let mut action = NewAction::new(project.as_str(), deploy, ActionOrigin::Api);
    action.idempotency_key = key;
    action.requested_by = Some(by.clone());
    let recorded = actions::record(&mut tx, &action).await?;
    let (record, action) = match recorded {
        Recorded::Existing(existing) => {
            // A repeat of an earlier request: answer as the first time.
            drop(tx);
            let resource = existing.resource_id.clone().unwrap_or_default();
            let record = deployments::get(&state.db, project.as_str(), kind, &resource)
                .await?
                .ok_or_else(|| {
                    ApiError::Conflict(
                        "This Idempotency-Key was used for another request.".to_owned(),
                    )
                })?;
            return Ok((StatusCode::OK, Json(render(&record, Some(&existing)))).into_response());
        }
        Recorded::New(action) => {
            let new = NewDeployment {
                id: &id,
                project_id: project.as_str(),
                deployment_type: kind,
                spec: &input,
                created_by: Some(&by),
            };
            let Some(record) = deployments::insert(&mut tx, &new).await? else {
                return Err(ApiError::Conflict(format!(
                    "A {kind} with the id `{id}` exists already; choose another display_name."
                )));
            };
            tx.commit().await?;
            (record, action)
        }
    };
    submit::publish(state, &action).await;
    respond_after(state, project, &record, action, query.wait, kind).await
}

async fn respond_after(
    state: &AppState,
    project: &ProjectId,
    record: &DeploymentRecord,
    action: ActionRecord,
    wait: bool,
    kind: DeploymentType,
) -> Result<Response, ApiError> {
    if !wait {
        return Ok((StatusCode::ACCEPTED, Json(render(record, Some(&action)))).into_response());
    }
    let action = submit::wait_for_outcome(state, project.as_str(), action.id, state.wait_timeout)
        .await
        .unwrap_or(action);
    let status = if action.status.is_final() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let record = deployments::get(&state.db, project.as_str(), kind, &record.id)
        .await?
        .unwrap_or_else(|| record.clone());
    Ok((status, Json(render(&record, Some(&action)))).into_response())
}

/// One deployment, or 404.
pub async fn find(
    state: &AppState,
    project: &ProjectId,
    kind: DeploymentType,
    id: &str,
) -> Result<DeploymentRecord, ApiError> {
    deployments::get(&state.db, project.as_str(), kind, id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "The {kind} `{id}` was not found in project `{project}`."
            ))
        })
}

/// Lists a project's deployments of one kind.
pub async fn list(
    state: &AppState,
    project: &ProjectId,
    kind: DeploymentType,
) -> Result<Json<Vec<Value>>, ApiError> {
    let records = deployments::list(&state.db, project.as_str(), kind).await?;
    Ok(Json(records.iter().map(|r| render(r, None)).collect()))
}

/// Records and publishes one action on an existing deployment.
pub async fn act_on(
    state: &AppState,
    project: &ProjectId,
    caller: &Caller,
    record: &DeploymentRecord,
    kind: ActionKind,
    payload: Value,
) -> Result<ActionRecord, ApiError> {
    let typed = Action::parse(kind, Some(&record.id), &payload)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut action = NewAction::new(project.as_str(), typed, ActionOrigin::Api);
    action.requested_by = Some(caller.subject.to_string());
    let mut conn = state.db.acquire().await?;
    let recorded = actions::record(&mut conn, &action).await?;
    drop(conn);
    let action = recorded.record().clone();
    submit::publish(state, &action).await;
    Ok(action)
}

/// Deletes one deployment.
pub async fn delete_one(
    state: &AppState,
    project: &ProjectId,
    caller: &Caller,
    kind: DeploymentType,
    id: &str,
    query: DeleteQuery,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let record = find(state, project, kind, id).await?;
    let payload = json!(DeletePayload {
        delete_volumes: query.delete_volumes
    });
    let action = act_on(
        state,
        project,
        caller,
        &record,
        ActionKind::DeploymentDelete,
        payload,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            action_id: action.id,
        }),
    ))
}

/// Deletes several deployments.
pub async fn delete_many(
    state: &AppState,
    project: &ProjectId,
    caller: &Caller,
    records: Vec<DeploymentRecord>,
) -> Result<(StatusCode, Json<AcceptedMany>), ApiError> {
    let mut action_ids = Vec::with_capacity(records.len());
    for record in &records {
        let payload = json!(DeletePayload {
            delete_volumes: true
        });
        action_ids.push(
            act_on(
                state,
                project,
                caller,
                record,
                ActionKind::DeploymentDelete,
                payload,
            )
            .await?
            .id,
        );
    }
    Ok((StatusCode::ACCEPTED, Json(AcceptedMany { action_ids })))
}

/// Restarts a service with a changed input (PATCH): the container is made
/// anew from the merged input, its volume kept.
pub async fn recreate(
    state: &AppState,
    project: &ProjectId,
    caller: &Caller,
    record: &DeploymentRecord,
) -> Result<ActionRecord, ApiError> {
    let payload = json!(RestartPayload { recreate: true });
    act_on(
        state,
        project,
        caller,
        record,
        ActionKind::DeploymentRestart,
        payload,
    )
    .await
}

/// A deployment's logs, from a worker over the broker.
pub async fn logs(
    state: &AppState,
    project: &ProjectId,
    kind: DeploymentType,
    id: &str,
    query: LogsQuery,
) -> Result<Response, ApiError> {
    let record = find(state, project, kind, id).await?;
    let request = LogsRequest {
        project_id: project.as_str().to_owned(),
        deployment_id: record.id,
        lines: query.lines,
        since: query.since,
        follow: query.follow,
    };
    let topology = Topology::clone(state.publisher.topology());
    let stream = logs::request(&state.broker, &topology, &request, state.logs_timeout)
        .await
        .map_err(|error| match error {
            LogsError::NotFound(_) => ApiError::NotFound(format!(
                "The {kind} `{}` has no container (yet, or any more), so it has no logs.",
                request.deployment_id
            )),
            other => ApiError::Unavailable(format!("The logs could not be read: {other}.")),
        })?;
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if query.follow {
        let body = Body::from_stream(stream.map(|chunk| chunk.map_err(std::io::Error::other)));
        return Ok((text, body).into_response());
    }
    let chunks: Vec<Result<Vec<u8>, LogsError>> = stream.collect().await;
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend(
            chunk
                .map_err(|e| ApiError::Unavailable(format!("The logs could not be read: {e}.")))?,
        );
    }
    Ok((text, out).into_response())
}

/// Merges a PATCH into an input: absent fields stay; in `parameters` and
/// `metadata`, `null` removes a key.
pub fn merge(mut input: DeploymentInput, patch: Value) -> Result<DeploymentInput, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::Invalid(
            "The body must be a JSON object.".to_owned(),
        ));
    };
    let mut base = serde_json::to_value(&input).map_err(|e| ApiError::Internal(e.into()))?;
    let Value::Object(base_map) = &mut base else {
        unreachable!("an input serializes to an object")
    };
    for (key, value) in patch {
        match (key.as_str(), value) {
            ("parameters" | "metadata", Value::Object(changes)) => {
                let target = base_map.entry(key.clone()).or_insert_with(|| json!({}));
                let mut map: BTreeMap<String, Value> =
                    serde_json::from_value(target.clone()).unwrap_or_default();
                for (k, v) in changes {
                    if v.is_null() {
                        map.remove(&k);
                    } else {
                        map.insert(k, v);
                    }
                }
                *target = json!(map);
            }
            (_, value) => {
                base_map.insert(key, value);
            }
        }
    }
    input = crate::json::from_value(base)?;
    Ok(input)
}
