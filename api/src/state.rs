//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use contaxy_common::broker::Broker;
use contaxy_common::publisher::Publisher;
use contaxy_common::storage::ObjectStore;
use contaxy_common::store::changes::Changes;
use contaxy_common::store::quotas::Quotas;
use contaxy_common::submit::PublishMarks;
use sqlx::PgPool;

use crate::auth::Auth;
use crate::files::FileLimits;

/// Shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: PgPool,
    /// Token checks, the admin token, the rate limiter.
    pub auth: Arc<Auth>,
    /// Publishes recorded actions (confirmed).
    pub publisher: Arc<Publisher>,
    /// Notes the broker's confirms in the background, many per statement.
    pub publish_marks: PublishMarks,
    /// The broker connection (logs requests).
    pub broker: Broker,
    /// The installation's namespace (first part of deployment ids).
    pub namespace: String,
    /// Longest `wait=true` waits for an action's outcome.
    pub wait_timeout: Duration,
    /// Wakes a waiting request or event stream when PostgreSQL announces
    /// that its row changed.
    pub changes: Changes,
    /// Longest a waiting request or event stream goes without reading its
    /// rows again when no change was announced
    /// (`CONTAXY_API_RECHECK_INTERVAL_MS`).
    pub recheck_interval: Duration,
    /// Whether a mutation waits when its client does not say
    /// (`CONTAXY_API_WAIT_BY_DEFAULT`).
    pub wait_by_default: bool,
    /// Whether deployments show contaxy's statuses only
    /// (`CONTAXY_API_CONTAXY_STATUSES`).
    pub contaxy_statuses: bool,
    /// Longest a logs request waits for a worker to answer.
    pub logs_timeout: Duration,
    /// The object storage of project files (and of the archived logs of
    /// jobs whose container is gone).
    pub storage: ObjectStore,
    /// How large an upload may be and the part size it is streamed in.
    pub file_limits: FileLimits,
    /// The shortest time allowed between two slots of a schedule.
    pub schedule_min_interval: Duration,
    /// Per-tenant limits (deployments and running ones per project,
    /// projects per user).
    pub quotas: Quotas,
    /// The event streams open now, bounded (`CONTAXY_API_MAX_EVENT_STREAMS`).
    pub event_streams: Arc<tokio::sync::Semaphore>,
    /// Longest one event stream stays open.
    pub event_stream_max: Duration,
}

impl AppState {
    /// Whether a request waits: as it asked, or the server's default.
    pub fn waits(&self, asked: Option<bool>) -> bool {
        asked.unwrap_or(self.wait_by_default)
    }
}
