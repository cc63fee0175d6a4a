//! `/projects/{project_id}/networks`: the project's network as the workers
//! recorded it. The API never asks the runtime; the workers write what
//! they create, and their periodic sweep corrects the record of attached
//! deployments from the runtime.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use contaxy_common::store::networks::{self as store, ProjectNetwork};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{ProjectAccess, Read};
use crate::error::{ApiError, ErrorBody};
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;

/// A project's network.
#[derive(Debug, Serialize, ToSchema)]
pub struct Network {
    /// The runtime's name for it (`{namespace}-p-{project}-network`).
    pub name: String,
    /// The owning project.
    pub project_id: String,
    /// Its IPv4 subnet (CIDR), allocated from the configured pool.
    pub subnet: String,
    /// Its gateway address.
    pub gateway: String,
    /// `allocated` (the subnet is reserved; the runtime may not have the
    /// network yet), `ready` or `deleting`.
    pub status: String,
    /// Why it is in that status, when there is more to say (the last
    /// failure, for instance).
    pub status_detail: Option<String>,
    /// Ids of the deployments attached to it.
    pub deployments: Vec<String>,
    /// When its subnet was allocated.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<ProjectNetwork> for Network {
    fn from(found: ProjectNetwork) -> Self {
        let network = found.network;
        Self {
            name: network.name,
            project_id: network.project_id,
            subnet: network.subnet,
            gateway: network.gateway,
            status: network.status.as_str().to_owned(),
            status_detail: network.status_detail,
            deployments: found.deployments,
            created_at: network.created_at,
            updated_at: network.updated_at,
        }
    }
}

/// Lists the project's networks: one once something was deployed in it (or
/// `network.ensure` ran), none before. Needs `read` on the project.
#[utoipa::path(get, path = "/projects/{project_id}/networks", tag = "networks",
    params(("project_id" = ProjectIdText, Path, description = "The project")),
    responses((status = 200, body = Vec<Network>), (status = 404, body = ErrorBody)))]
pub async fn list_networks(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<Vec<Network>>, ApiError> {
    let found = store::list_for_project(&state.db, access.project.as_str()).await?;
    Ok(Json(found.into_iter().map(Network::from).collect()))
}
