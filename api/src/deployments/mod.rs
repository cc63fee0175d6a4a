//! The deployment service: what the services and jobs routes do, without
//! HTTP. It validates an input, chooses the deployment's id, checks it
//! against the largest host, merges a PATCH, and hands every change to
//! [`crate::actions::submit`] with the deployment row to write.
//!
//! - [`merge`]: a PATCH applied to a recorded input.
//! - [`rows`]: the deployment rows written in an action's transaction.

pub mod merge;
pub mod rows;

use contaxy_common::domain::ProjectId;
use contaxy_common::domain::action::{Action, ActionOrigin, DeploymentAction};
use contaxy_common::domain::deployment::{
    DeploymentInput, DeploymentType, check_capacity, deployment_id,
};
use contaxy_common::domain::payload::{DeletePayload, DeployPayload, RestartPayload};
use contaxy_common::domain::validation::FieldErrors;
use contaxy_common::store::actions::{ActionRecord, NewAction};
use contaxy_common::store::capacity;
use contaxy_common::store::deployments::{self, DeploymentRecord};
use uuid::Uuid;

use crate::actions::{self, Submitted};
use crate::auth::{Caller, ProjectAccess};
use crate::error::ApiError;
use crate::state::AppState;

/// Who asks, in which project: what every change needs.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The project, from the authorization extractor.
    pub project: &'a ProjectId,
    /// The authenticated caller.
    pub caller: &'a Caller,
}

impl<'a, L> From<&'a ProjectAccess<L>> for Requester<'a> {
    fn from(access: &'a ProjectAccess<L>) -> Self {
        Self {
            project: &access.project,
            caller: &access.caller,
        }
    }
}

impl Requester<'_> {
    /// A new API action on deployment `deployment_id`, requested by the
    /// caller.
    fn action(&self, deployment_id: &str, action: DeploymentAction) -> NewAction {
        let typed = Action::Deployment {
            deployment_id: deployment_id.to_owned(),
            action,
        };
        let mut action = NewAction::new(self.project.as_str(), typed, ActionOrigin::Api);
        action.requested_by = Some(self.caller.subject.to_string());
        action
    }
}

/// A deployment and the action that concerns it.
#[derive(Debug)]
pub struct Changed {
    /// The deployment row.
    pub record: DeploymentRecord,
    /// The action that creates or changes it.
    pub action: ActionRecord,
    /// Whether an earlier request with the same `Idempotency-Key` did this.
    pub repeat: bool,
}

/// Creates a service or job: validate, choose its id, check capacity, then
/// record the deployment row with its `deployment.deploy` action.
pub async fn create(
    state: &AppState,
    who: Requester<'_>,
    kind: DeploymentType,
    input: DeploymentInput,
    idempotency_key: Option<String>,
) -> Result<Changed, ApiError> {
    input.validate(kind)?;
    check_host_capacity(state, &input).await?;
    let display_name = input.display_name.clone().unwrap_or_default();
    let id = deployment_id(
        &state.namespace,
        who.project.as_str(),
        kind,
        &display_name,
        &short_suffix(),
    );
    let mut action = who.action(
        &id,
        DeploymentAction::Deploy(Box::new(DeployPayload {
            deployment_type: kind,
            input: input.clone(),
        })),
    );
    action.idempotency_key = idempotency_key;
    let by = who.caller.subject.to_string();
    let row = rows::Insert {
        id: &id,
        project: who.project,
        kind,
        input: &input,
        by: &by,
        quotas: &state.quotas,
    };
    match actions::submit(state, action, row).await? {
        Submitted::New { action, row } => Ok(Changed {
            record: row,
            action,
            repeat: false,
        }),
        Submitted::Repeat(action) => {
            // Answer as the first time, with the deployment it created.
            let resource = action.resource_id.clone().unwrap_or_default();
            let record = deployments::get(&state.db, who.project.as_str(), kind, &resource)
                .await?
                .ok_or_else(|| {
                    ApiError::Conflict(
                        "This Idempotency-Key was used for another request.".to_owned(),
                    )
                })?;
            Ok(Changed {
                record,
                action,
                repeat: true,
            })
        }
    }
}

/// Applies a PATCH to a service: merge, validate, check capacity, then
/// record the new input with a `deployment.restart` that recreates the
/// container from it (its volume kept).
pub async fn update(
    state: &AppState,
    who: Requester<'_>,
    kind: DeploymentType,
    id: &str,
    patch: serde_json::Value,
) -> Result<Changed, ApiError> {
    let record = find(state, who.project, kind, id).await?;
    // The id comes from the display name: changing it is refused, as
    // contaxy refuses it (the same name again is harmless).
    if let Some(name) = patch.get("display_name")
        && name.as_str() != Some(record.display_name.as_str())
    {
        let mut errors = FieldErrors::default();
        errors.push(
            "display_name",
            "cannot be changed: the deployment's id comes from it",
        );
        return Err(errors.into());
    }
    let merged = merge::merge(record.input.0.clone(), patch)?;
    merged.validate(kind)?;
    check_host_capacity(state, &merged).await?;
    let action = who.action(
        &record.id,
        DeploymentAction::Restart(RestartPayload { recreate: true }),
    );
    let by = who.caller.subject.to_string();
    let row = rows::UpdateInput {
        id: &record.id,
        project: who.project,
        kind,
        input: &merged,
        by: &by,
    };
    match actions::submit(state, action, row).await? {
        Submitted::New { action, row } => Ok(Changed {
            record: row,
            action,
            repeat: false,
        }),
        Submitted::Repeat(action) => Ok(Changed {
            record,
            action,
            repeat: true,
        }),
    }
}

/// Records and publishes one action on an existing deployment (delete,
/// start, stop, restart). A start or restart must find room among the
/// project's running deployments (409 naming the limit).
pub async fn act_on(
    state: &AppState,
    who: Requester<'_>,
    record: &DeploymentRecord,
    action: DeploymentAction,
) -> Result<ActionRecord, ApiError> {
    let starts = matches!(
        action,
        DeploymentAction::Start | DeploymentAction::Restart(_)
    );
    let action = who.action(&record.id, action);
    let submitted = if starts {
        let room = rows::StartRoom {
            id: &record.id,
            project: who.project,
            action_id: action.id,
            quotas: &state.quotas,
        };
        actions::submit(state, action, room).await?
    } else {
        actions::submit(state, action, ()).await?
    };
    Ok(submitted.action().clone())
}

/// Deletes each of `records`, with its volume; the actions in order.
pub async fn delete_all(
    state: &AppState,
    who: Requester<'_>,
    records: &[DeploymentRecord],
) -> Result<Vec<ActionRecord>, ApiError> {
    let mut action_ids = Vec::with_capacity(records.len());
    for record in records {
        let delete = DeploymentAction::Delete(DeletePayload {
            delete_volumes: true,
            ..DeletePayload::default()
        });
        action_ids.push(act_on(state, who, record, delete).await?);
    }
    Ok(action_ids)
}

/// One deployment, or 404 (also once its delete was accepted). Finding a service notes the access: what its
/// `idle_timeout` counts from (at most one write a second per service).
pub async fn find(
    state: &AppState,
    project: &ProjectId,
    kind: DeploymentType,
    id: &str,
) -> Result<DeploymentRecord, ApiError> {
    let record = deployments::get_visible(&state.db, project.as_str(), kind, id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "The {kind} `{id}` was not found in project `{project}`."
            ))
        })?;
    if kind == DeploymentType::Service && record.input.idle_timeout.is_some() {
        deployments::touch(&state.db, project.as_str(), id).await?;
    }
    Ok(record)
}

/// Refuses `min_*` requests no host can meet (when a worker has reported
/// its host; otherwise the worker checks and fails the action).
pub(crate) async fn check_host_capacity(
    state: &AppState,
    input: &DeploymentInput,
) -> Result<(), ApiError> {
    if let Some(host) = capacity::largest(&state.db, &state.namespace).await? {
        check_capacity(&input.compute, &host)?;
    }
    Ok(())
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
