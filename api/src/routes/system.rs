//! `/system/health` and `/system/info`: contaxy's `SystemClient` asks
//! these. Like every API route they need a valid token (contaxy's client
//! sends one); the unauthenticated probes are `/healthz` and `/readyz`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// What this installation is (contaxy's `SystemInfo`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemInfo {
    /// The API's version.
    pub version: String,
    /// The installation's namespace (the first part of deployment ids).
    pub namespace: String,
    /// Always `running`: this server needs no initialization step.
    pub system_state: String,
    /// Nothing yet.
    pub metadata: BTreeMap<String, String>,
}

/// 204 when the API can reach its database, else 503.
#[utoipa::path(get, path = "/system/health", tag = "system",
    responses((status = 204, description = "The API and its database answer"),
              (status = 503, body = ErrorBody)))]
pub async fn health(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<StatusCode, ApiError> {
    sqlx::query("SELECT 1")
        .execute(&state.db)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "health: the database does not answer");
            ApiError::Unavailable("The database does not answer.".to_owned())
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The installation's version and namespace.
#[utoipa::path(get, path = "/system/info", tag = "system",
    responses((status = 200, body = SystemInfo)))]
pub async fn info(State(state): State<AppState>, _caller: Caller) -> Json<SystemInfo> {
    Json(SystemInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        namespace: state.namespace.clone(),
        system_state: "running".to_owned(),
        metadata: BTreeMap::new(),
    })
}
