//! `GET …/{id}/logs`: a deployment's output, read by a worker (the API
//! never talks to the runtime) and sent back over the broker.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use contaxy_common::domain::ProjectId;
use contaxy_common::domain::deployment::DeploymentType;
use contaxy_common::logs::{self, LogsError, LogsRequest};
use contaxy_common::topology::Topology;
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::deployments;
use crate::error::ApiError;
use crate::state::AppState;

/// Query of logs routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Only the last `lines` lines.
    pub lines: Option<u32>,
    /// Only output since this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Keep streaming new output.
    #[serde(default, deserialize_with = "crate::query::flag")]
    pub follow: bool,
}

/// A deployment's logs as `text/plain`: all at once, or streamed with
/// `follow`. 404 when it has no container; 503 when no worker answers.
pub async fn logs(
    state: &AppState,
    project: &ProjectId,
    kind: DeploymentType,
    id: &str,
    query: LogsQuery,
) -> Result<Response, ApiError> {
    let record = deployments::find(state, project, kind, id).await?;
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
