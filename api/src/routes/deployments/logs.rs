//! `GET …/{id}/logs`: a deployment's output, read by a worker (the API
//! never talks to the runtime) and sent back over the broker.
//!
//! The answer is a JSON string, as contaxy answers (its clients call
//! `response.json()`), unless the request's `Accept` asks for `text/plain`
//! (or `text/*`) and not for JSON: then the output as it is. With `follow`
//! the output is streamed as `text/plain` whatever `Accept` says: a stream
//! that never ends cannot be one JSON value.
//!
//! A job whose container the TTL cleanup removed answers from its archived
//! logs (`contaxy_common::storage::logs_archive`) instead, the same way.
//!
//! Live output is streamed in both cases, never collected whole (the JSON
//! string piece by piece, [`super::json_string`]): once a worker has
//! confirmed the deployment (404 and 503 are answered before), the status is
//! 200, and a failure later ends the body early. 503 when no worker takes
//! the request in time: each is streaming as many logs as it may
//! (`CONTAXY_WORKER_MAX_LOG_STREAMS`), or none runs.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use contaxy_common::domain::ProjectId;
use contaxy_common::domain::deployment::DeploymentType;
use contaxy_common::logs::{self, LogsError, LogsRequest, LogsStream};
use contaxy_common::storage::StorageError;
use contaxy_common::topology::Topology;
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::json_string::JsonStringEncoder;
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

/// A deployment's logs: all at once (a JSON string, or `text/plain` when
/// `headers` ask for it), or streamed as `text/plain` with `follow`. 404
/// when it has no container; 503 when no worker answers.
pub async fn logs(
    state: &AppState,
    project: &ProjectId,
    kind: DeploymentType,
    id: &str,
    query: LogsQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let record = deployments::find(state, project, kind, id).await?;
    if record.archived_at.is_some() {
        let archived = archived(state, &record.project_id, &record.id, query.lines).await?;
        if wants_text(headers) || query.follow {
            let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
            return Ok((text, archived).into_response());
        }
        return Ok(Json(String::from_utf8_lossy(&archived)).into_response());
    }
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
            LogsError::NoWorker(waited) => ApiError::Unavailable(format!(
                "No worker took the logs request within {} s: each is streaming as many logs \
                 as it may, or none is running. Try again later.",
                waited.as_secs()
            )),
            other => ApiError::Unavailable(format!("The logs could not be read: {other}.")),
        })?;
    if query.follow || wants_text(headers) {
        let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        let body = Body::from_stream(stream.map(|chunk| chunk.map_err(std::io::Error::other)));
        return Ok((text, body).into_response());
    }
    let json = [(header::CONTENT_TYPE, "application/json")];
    Ok((json, Body::from_stream(json_string(stream))).into_response())
}

/// `output` as the pieces of one JSON string.
fn json_string(output: LogsStream) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    let open = futures::stream::once(async { Ok(JsonStringEncoder::OPEN.to_vec()) });
    let pieces = futures::stream::unfold(
        Some((output, JsonStringEncoder::default())),
        |state| async move {
            let (mut output, mut encoder) = state?;
            match output.next().await {
                Some(Ok(piece)) => Some((Ok(encoder.push(&piece)), Some((output, encoder)))),
                Some(Err(error)) => Some((Err(std::io::Error::other(error)), None)),
                None => Some((Ok(encoder.finish()), None)),
            }
        },
    );
    open.chain(pieces)
}

/// The archived output of a job whose container the TTL cleanup removed
/// (its last `lines` lines when asked; `since` cannot apply, the archive
/// has no times, so all of it is sent).
async fn archived(
    state: &AppState,
    project_id: &str,
    id: &str,
    lines: Option<u32>,
) -> Result<Vec<u8>, ApiError> {
    let text = state
        .storage
        .logs_archive(project_id, id)
        .await
        .map_err(|error| match error {
            StorageError::NotFound(_) => ApiError::NotFound(format!(
                "The archived logs of `{id}` are gone (the storage was emptied)."
            )),
            other => {
                ApiError::Unavailable(format!("The archived logs could not be read: {other}."))
            }
        })?;
    Ok(match lines {
        Some(lines) => last_lines(&text, lines as usize).to_vec(),
        None => text,
    })
}

/// The last `count` lines of `text` (a final newline ends the last line).
fn last_lines(text: &[u8], count: usize) -> &[u8] {
    if count == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(count - 1)
        .map_or(0, |(i, _)| i + 1);
    &text[start..]
}

/// Does `Accept` ask for `text/plain` (or `text/*`) and not for JSON? No
/// `Accept`, `*/*` or JSON get a JSON string.
fn wants_text(headers: &HeaderMap) -> bool {
    let accepted: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|range| {
            range
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let names = |wanted: &[&str]| accepted.iter().any(|a| wanted.contains(&a.as_str()));
    names(&["text/plain", "text/*"]) && !names(&["application/json"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(header::ACCEPT, value.parse().expect("header"));
        }
        wants_text(&headers)
    }

    #[test]
    fn the_last_lines_of_an_archive() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 1), b"c");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
        assert_eq!(last_lines(b"", 3), b"");
    }

    #[test]
    fn text_only_when_asked_for_and_json_is_not() {
        assert!(accept(Some("text/plain")));
        assert!(accept(Some("text/plain; charset=utf-8, */*;q=0.1")));
        assert!(accept(Some("Text/*")));
        assert!(!accept(None));
        assert!(!accept(Some("*/*")));
        assert!(!accept(Some("application/json")));
        assert!(!accept(Some("application/json, text/plain")));
    }
}
