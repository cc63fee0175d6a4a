//! `GET /projects/{project_id}/events`: a project's deployment status
//! changes as Server-Sent Events, for a dashboard or a script that would
//! otherwise poll every deployment.
//!
//! Each change the worker announces is also written to the
//! `deployment_events` table ([`events`]); a stream reads the project's
//! changes from there in the order of their ids, which are the events' ids.
//! A client that reconnects sends the last id it saw (`Last-Event-ID`, as
//! browsers do, or `?after=`) and misses nothing still kept
//! (`CONTAXY_STATUS_EVENTS_RETENTION_SECS`); if what it asks for was already
//! pruned, the stream begins with a `gap` event and the client should read
//! the deployments afresh. Without either, the stream begins with the
//! changes from now on.
//!
//! Streams are bounded: at most `CONTAXY_API_MAX_EVENT_STREAMS` at once per
//! API process (then 503), each open at most
//! `CONTAXY_API_EVENT_STREAM_MAX_SECS` (then it ends, and the client
//! reconnects with its last id).
//!
//! A stream does not look on a timer: PostgreSQL announces each recorded
//! change of the project (migration 0020, [`Change::ProjectEvent`]), and
//! the stream reads once the change's settle window ([`events::SETTLE`])
//! has passed ([`Settling`]); a read at least every
//! `CONTAXY_API_RECHECK_INTERVAL_MS` catches an announcement that was lost.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use contaxy_common::store::changes::{Change, Watch};
use contaxy_common::store::events::{self, StatusEventRow};
use futures::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{ProjectAccess, Read};
use crate::error::{ApiError, ErrorBody};
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;

mod settling;

use self::settling::Settling;

/// The gauge of streams open now.
pub const EVENT_STREAMS: &str = "contaxy_api_event_streams";

/// How many changes one look takes at most.
const BATCH: i64 = 100;
/// How long a client waits before it reconnects (the `retry` field).
const RECONNECT: Duration = Duration::from_secs(2);
/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Where to begin.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header does; the
    /// header wins). Without either, the stream begins now.
    pub after: Option<i64>,
}

/// The data of a `status` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusEvent {
    /// The event's id (also the SSE `id`).
    pub id: i64,
    /// The service or job.
    pub deployment_id: String,
    /// Its new status (`pending`, `running`, `succeeded`, `failed`,
    /// `stopped`, …).
    pub status: String,
    /// The exit code of a finished container.
    pub exit_code: Option<i32>,
    /// When the change was seen.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl From<StatusEventRow> for StatusEvent {
    fn from(row: StatusEventRow) -> Self {
        Self {
            id: row.id,
            deployment_id: row.deployment_id,
            status: row.status,
            exit_code: row.exit_code,
            at: row.at,
        }
    }
}

/// The data of the `ready` event that begins every stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyEvent {
    /// The stream gives the changes after this id (also the event's id).
    pub after: i64,
}

/// The data of a `gap` event: changes after `after` up to `first` were
/// pruned, so read the deployments afresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct GapEvent {
    /// The id the client asked to resume after.
    pub after: i64,
    /// The oldest id still kept.
    pub first: i64,
}

/// The project's deployment status changes, as Server-Sent Events
/// (`text/event-stream`): first `event: ready` (a [`ReadyEvent`], its id
/// where the stream begins); `event: gap` (a [`GapEvent`]) when the asked
/// resume point was pruned; then `event: status` with a [`StatusEvent`] per
/// change, its id in `id`. Reconnect with `Last-Event-ID` to resume.
#[utoipa::path(get, path = "/projects/{project_id}/events", tag = "projects",
    params(("project_id" = ProjectIdText, Path), EventsQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = StatusEvent),
              (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 503, description = "Too many streams open; retry later", body = ErrorBody)))]
pub async fn project_events(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    ApiError::Invalid("Last-Event-ID must be an event id (a whole number)".into())
                })?,
        ),
        None => query.after,
    };
    if resume.is_some_and(|id| id < 0) {
        return Err(ApiError::Invalid("after must not be negative".into()));
    }
    let Ok(permit) = Arc::clone(&state.event_streams).try_acquire_owned() else {
        return Err(ApiError::Unavailable(
            "too many event streams are open on this server; retry later".into(),
        ));
    };
    // Watching begins before the first read, so that no change recorded
    // after it goes unannounced; one recorded just before it is read when
    // the first settle window has passed.
    let watch = state
        .changes
        .watch(Change::ProjectEvent(access.project.to_string()));
    let settling = Settling::new(Instant::now());
    let cursor = match resume {
        Some(after) => after,
        None => events::last_id(&state.db).await?,
    };
    // Every stream begins by saying where it is, so that a client that
    // reconnects before any change resumes there and misses none.
    let mut first = vec![ready_event(cursor)];
    if resume.is_some() {
        let oldest = events::first_id(&state.db).await?;
        if let Some(oldest) = oldest.filter(|oldest| *oldest > cursor + 1) {
            first.push(gap_event(cursor, oldest));
        }
    }
    metrics::gauge!(EVENT_STREAMS).increment(1.0);
    let follow = Follow {
        pool: state.db.clone(),
        project: access.project.to_string(),
        cursor,
        ready: first.into(),
        until: Instant::now() + state.event_stream_max,
        watch,
        settling,
        recheck: state.recheck_interval,
        _permit: permit,
    };
    Ok(Sse::new(follow.into_stream())
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// One open stream: where it is, and its place among the open ones.
struct Follow {
    pool: PgPool,
    project: String,
    cursor: i64,
    ready: std::collections::VecDeque<Event>,
    until: Instant,
    /// Wakes when PostgreSQL announces a recorded change of the project.
    watch: Watch,
    /// When announced changes become readable.
    settling: Settling,
    /// Longest the stream goes without reading when nothing is announced.
    recheck: Duration,
    /// Held while the stream is open; dropped with it.
    _permit: OwnedSemaphorePermit,
}

impl Drop for Follow {
    fn drop(&mut self) {
        metrics::gauge!(EVENT_STREAMS).decrement(1.0);
    }
}

impl Follow {
    fn into_stream(self) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
        stream::unfold(self, |mut follow| async move {
            loop {
                if let Some(event) = follow.ready.pop_front() {
                    return Some((Ok(event), follow));
                }
                let now = Instant::now();
                if now >= follow.until {
                    return None;
                }
                // This read takes every change settled by now.
                follow.settling.read_at(now);
                match events::after(&follow.pool, &follow.project, follow.cursor, BATCH).await {
                    Ok(rows) if !rows.is_empty() => {
                        for row in rows {
                            follow.cursor = row.id;
                            follow.ready.push_back(status_event(row));
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        // The client reconnects with its last id; a database
                        // away for a moment costs it nothing.
                        tracing::warn!(%error, project = %follow.project, "event stream ends: the database failed");
                        return None;
                    }
                }
                settling::until_next_read(
                    &mut follow.watch,
                    &mut follow.settling,
                    follow.recheck,
                    follow.until,
                )
                .await;
            }
        })
    }
}

fn status_event(row: StatusEventRow) -> Event {
    let id = row.id;
    let data = StatusEvent::from(row);
    Event::default()
        .event("status")
        .id(id.to_string())
        .retry(RECONNECT)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().comment("unserializable event"))
}

fn ready_event(cursor: i64) -> Event {
    Event::default()
        .event("ready")
        .id(cursor.to_string())
        .retry(RECONNECT)
        .json_data(ReadyEvent { after: cursor })
        .unwrap_or_else(|_| Event::default().comment("unserializable event"))
}

fn gap_event(after: i64, first: i64) -> Event {
    // Its id is the one before the oldest kept: a client that reconnects
    // after it resumes there, not at the pruned point again.
    Event::default()
        .event("gap")
        .id((first - 1).to_string())
        .retry(RECONNECT)
        .json_data(GapEvent { after, first })
        .unwrap_or_else(|_| Event::default().comment("unserializable event"))
}
