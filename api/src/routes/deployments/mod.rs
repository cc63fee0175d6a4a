//! `/projects/{project_id}/services` and `/projects/{project_id}/jobs`:
//! the documented routes ([`services`], [`jobs`]), thin calls into the
//! deployment service ([`crate::deployments`]).
//!
//! - [`input`]: the schemas of what they accept (`ServiceInput`,
//!   `JobInput`, `ServicePatch`).
//! - [`wire`]: the [`Deployment`](wire::Deployment) they answer.
//! - [`logs`]: a deployment's output, from a worker over the broker;
//!   [`json_string`] streams it as one JSON string.
//! - [`offers`]: the deploy actions and job actions contaxy's clients ask
//!   for.
//! - [`suggest`]: an input suggested from an image's own configuration,
//!   which a worker reads over the broker.
//!
//! Every change answers `202 Accepted` as soon as its action is recorded
//! (and published, or left to the relay); with `wait=true` (or, when the
//! client does not say, `CONTAXY_API_WAIT_BY_DEFAULT`) a deploy, update,
//! start, stop, restart or delete waits, bounded by
//! `CONTAXY_API_WAIT_TIMEOUT_SECS`, until the change is done
//! ([`crate::actions::wait_until_done`]): 200 then, 202 when the wait ran
//! out. A deployment whose delete is accepted is gone from reads at once.

pub mod input;
pub mod jobs;
pub mod json_string;
pub mod logs;
pub mod offers;
pub mod services;
pub mod suggest;
pub mod wire;

use axum::Json;
use axum::http::StatusCode;
use contaxy_common::domain::deployment::DeploymentType;
use contaxy_common::store::deployments as store;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::actions;
use crate::deployments::Changed;
use crate::error::ApiError;
use crate::state::AppState;
use wire::Deployment;

/// Query of create routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// Wait (bounded) until the deployment runs before answering; left
    /// out, the server's default (`CONTAXY_API_WAIT_BY_DEFAULT`).
    #[serde(default, deserialize_with = "crate::query::optional_flag")]
    #[param(value_type = Option<bool>)]
    pub wait: Option<bool>,
    /// contaxy's choice of deploy action; only `default` is supported.
    #[param(inline, value_type = DeployActionName, required = false)]
    pub action_id: Option<String>,
}

/// The deploy actions this server offers.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DeployActionName {
    /// The one deploy action.
    Default,
}

impl CreateQuery {
    /// Refuses a deploy action other than the default.
    pub fn check(&self) -> Result<(), ApiError> {
        if self
            .action_id
            .as_deref()
            .is_some_and(|a| !a.is_empty() && a != "default")
        {
            return Err(ApiError::Invalid(
                "Only the default deploy action is supported; leave action_id out.".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Query of delete routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Also delete the deployment's volume (its data is lost).
    #[serde(default, deserialize_with = "crate::query::flag")]
    pub delete_volumes: bool,
    /// Wait (bounded) until the deployment is removed before answering;
    /// left out, the server's default (`CONTAXY_API_WAIT_BY_DEFAULT`).
    #[serde(default, deserialize_with = "crate::query::optional_flag")]
    #[param(value_type = Option<bool>)]
    pub wait: Option<bool>,
}

/// Query of the other changes (update, start, stop, restart).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Wait (bounded) until the change is done before answering; left
    /// out, the server's default (`CONTAXY_API_WAIT_BY_DEFAULT`).
    #[serde(default, deserialize_with = "crate::query::optional_flag")]
    #[param(value_type = Option<bool>)]
    pub wait: Option<bool>,
}

/// A deployment id with a `:verb` after it, on a route that takes none:
/// 405 (as for any other method a route does not have).
pub(crate) fn no_verb(id: &str) -> Result<(), ApiError> {
    if id.contains(':') {
        return Err(ApiError::MethodNotAllowed {
            message: "The route exists, but not for this method.".to_owned(),
            allow: "POST",
        });
    }
    Ok(())
}

/// Refuses (405) a path whose last segment has a `:verb`, before the body
/// is read: for a route with a body whose path also serves verbs.
#[derive(Debug)]
pub struct NoVerb;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for NoVerb {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let last = parts.uri.path().rsplit('/').next().unwrap_or_default();
        no_verb(last)?;
        Ok(Self)
    }
}

/// The answer to a create (or a PATCH): the deployment with its action;
/// with `wait`, once the change is done (200) or the wait ran out (202). A
/// repeated `Idempotency-Key` answers 200 with what the first request made.
pub async fn respond(
    state: &AppState,
    kind: DeploymentType,
    changed: Changed,
    wait: bool,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    let Changed {
        record,
        action,
        repeat,
    } = changed;
    if repeat {
        return Ok((
            StatusCode::OK,
            Json(Deployment::answer(state, record, Some(&action))),
        ));
    }
    if !wait {
        return Ok((
            StatusCode::ACCEPTED,
            Json(Deployment::answer(state, record, Some(&action))),
        ));
    }
    let waited = actions::wait_until_done(state, action).await;
    let status = if waited.done {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let record = store::get(&state.db, &record.project_id, kind, &record.id)
        .await?
        .unwrap_or(record);
    Ok((
        status,
        Json(Deployment::answer(state, record, Some(&waited.action))),
    ))
}
