//! Settings of the `contaxy-api` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;
use std::time::Duration;

use contaxy_common::config::Config;
use secrecy::SecretString;
use serde::Deserialize;

/// The whole configuration of the API binary.
pub type ApiConfig = Config<ApiSettings>;

/// Settings only the API has.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ApiSettings {
    /// Address the REST API listens on (`CONTAXY_API_LISTEN_ADDR`); it also
    /// serves `/healthz`, `/readyz` and `/metrics`. Port 0 picks a free port.
    pub api_listen_addr: SocketAddr,
    /// Largest request body accepted, in bytes (`CONTAXY_API_MAX_BODY_BYTES`);
    /// larger bodies get 413.
    pub api_max_body_bytes: usize,
    /// The bootstrap admin token (`CONTAXY_ADMIN_TOKEN`), at least 32
    /// characters. Whoever presents it acts as `users/admin` with `*#admin`,
    /// so a fresh installation can create its first projects and tokens.
    /// Unset (the default): no admin token exists and only tokens already in
    /// the database work. Never logged.
    pub admin_token: Option<SecretString>,
    /// The secret project tokens are derived from (`CONTAXY_TOKEN_SECRET`),
    /// at least 32 characters. Unset: derived from `CONTAXY_ADMIN_TOKEN`;
    /// with neither set, `GET /projects/{id}/token` answers 503. Changing it
    /// makes the next call for each project token mint a new one (the old
    /// ones stay valid until revoked). Never logged.
    pub token_secret: Option<SecretString>,
    /// Requests per second one token may make, sustained
    /// (`CONTAXY_API_RATE_LIMIT_PER_SECOND`); 0 turns rate limiting off.
    pub api_rate_limit_per_second: u32,
    /// Requests one token may make in a burst above that rate
    /// (`CONTAXY_API_RATE_LIMIT_BURST`); at least 1.
    pub api_rate_limit_burst: u32,
    /// Unknown tokens one client address may present a minute, sustained
    /// (`CONTAXY_API_UNKNOWN_TOKENS_PER_MINUTE`); past it the address is
    /// refused (429) before any token lookup until it may try again. 0 turns
    /// this limit off.
    pub api_unknown_tokens_per_minute: u32,
    /// Unknown tokens one address may present in a burst above that rate
    /// (`CONTAXY_API_UNKNOWN_TOKENS_BURST`); at least 1.
    pub api_unknown_tokens_burst: u32,
    /// Longest a `wait=true` request waits for its action to end, in seconds
    /// (`CONTAXY_API_WAIT_TIMEOUT_SECS`); then it answers 202 as without.
    pub api_wait_timeout_secs: u64,
    /// Whether a mutation of a deployment (deploy, update, start, stop,
    /// restart, delete) waits for its outcome when the client does not say
    /// (`CONTAXY_API_WAIT_BY_DEFAULT`, default off): on, a request without
    /// `wait` answers as with `wait=true`, as contaxy's synchronous server
    /// did; `wait=false` still answers at once.
    pub api_wait_by_default: bool,
    /// Longest a waiting request (`wait=true`) or an event stream goes
    /// without reading PostgreSQL again, in milliseconds
    /// (`CONTAXY_API_RECHECK_INTERVAL_MS`, at least 1). Both wake when
    /// PostgreSQL announces a change (LISTEN/NOTIFY); this re-read is the
    /// safety net for an announcement lost while the API's listening
    /// connection was down.
    pub api_recheck_interval_ms: u64,
    /// Whether deployments are answered with contaxy's statuses only
    /// (`CONTAXY_API_CONTAXY_STATUSES`, default off): on, a cancelled job
    /// shows `stopped` (its `status_detail` still says it was cancelled),
    /// since contaxy's clients refuse a status their enum lacks.
    pub api_contaxy_statuses: bool,
    /// Longest a logs request waits for a worker to answer, in milliseconds
    /// (`CONTAXY_API_LOGS_TIMEOUT_MS`); then it answers 503.
    pub api_logs_timeout_ms: u64,
    /// Event streams (`GET /projects/{id}/events`) one API process serves
    /// at once (`CONTAXY_API_MAX_EVENT_STREAMS`); past it, 503.
    pub api_max_event_streams: u32,
    /// Longest one event stream stays open, in seconds
    /// (`CONTAXY_API_EVENT_STREAM_MAX_SECS`); the client reconnects with its
    /// last event id and misses nothing.
    pub api_event_stream_max_secs: u64,
    /// Largest file one upload through the API may carry, in bytes
    /// (`CONTAXY_API_MAX_UPLOAD_BYTES`); a larger one gets 413. At most
    /// 10,000 times `CONTAXY_API_UPLOAD_PART_BYTES` (S3 takes at most
    /// 10,000 parts). Uploads are exempt from `CONTAXY_API_MAX_BODY_BYTES`.
    pub api_max_upload_bytes: u64,
    /// Size of the parts an upload is streamed to the object storage in, in
    /// bytes (`CONTAXY_API_UPLOAD_PART_BYTES`); at least 5 MiB (S3's
    /// smallest part). Each upload in flight holds about two parts in
    /// memory (one being read from the client, one on its way to S3); a
    /// file no larger than one part is written in one call.
    pub api_upload_part_bytes: usize,
    /// Longest a connection may take to send a complete request head, in
    /// seconds (`CONTAXY_API_IDLE_TIMEOUT_SECS`, at least 1): counted from
    /// when the server waits for one, so it closes both a client sending
    /// its headers slowly and a keep-alive connection left idle.
    pub api_idle_timeout_secs: u64,
    /// Longest from a request's head to its answer's head, in seconds
    /// (`CONTAXY_API_REQUEST_TIMEOUT_SECS`), on every route but the files
    /// routes; then 408 with a problem body. It covers reading the (small)
    /// body and the handler, not a streamed answer (logs). At least
    /// `CONTAXY_API_WAIT_TIMEOUT_SECS` + 5, which it is raised to.
    pub api_request_timeout_secs: u64,
    /// Longest a body may stall, either way, in seconds
    /// (`CONTAXY_API_BODY_IDLE_TIMEOUT_SECS`, at least 1): an upload whose
    /// next piece does not come that long is ended (400), and a client that
    /// reads nothing of an answer (a download, a log follow) that long is
    /// cut off, however long the transfer has run; one that makes progress
    /// is never cut, and a quiet log follow (nothing to send) neither.
    pub api_body_idle_timeout_secs: u64,
    /// The shortest time allowed between two slots of a schedule, in
    /// seconds (`CONTAXY_SCHEDULE_MIN_INTERVAL_SECS`); a cron expression
    /// that fires more often is refused with 400 naming `cron`.
    pub schedule_min_interval_secs: u64,
}

/// The time limits of the API's HTTP server (see their settings).
#[derive(Debug, Clone, Copy)]
pub struct HttpTimeouts {
    /// `CONTAXY_API_IDLE_TIMEOUT_SECS`.
    pub idle: Duration,
    /// `CONTAXY_API_REQUEST_TIMEOUT_SECS`, raised to the wait timeout + 5 s.
    pub request: Duration,
    /// `CONTAXY_API_BODY_IDLE_TIMEOUT_SECS`.
    pub body_idle: Duration,
}

impl ApiSettings {
    /// The server's time limits from these settings.
    pub fn http_timeouts(&self) -> HttpTimeouts {
        HttpTimeouts {
            idle: Duration::from_secs(self.api_idle_timeout_secs.max(1)),
            request: Duration::from_secs(
                self.api_request_timeout_secs
                    .max(self.api_wait_timeout_secs.saturating_add(5)),
            ),
            body_idle: Duration::from_secs(self.api_body_idle_timeout_secs.max(1)),
        }
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            api_listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_max_body_bytes: 1024 * 1024,
            admin_token: None,
            token_secret: None,
            api_rate_limit_per_second: 20,
            api_rate_limit_burst: 50,
            api_unknown_tokens_per_minute: 60,
            api_unknown_tokens_burst: 20,
            api_wait_timeout_secs: 60,
            api_wait_by_default: false,
            api_recheck_interval_ms: 2000,
            api_contaxy_statuses: false,
            api_logs_timeout_ms: 10_000,
            api_max_event_streams: 256,
            api_event_stream_max_secs: 3600,
            api_max_upload_bytes: 5 * 1024 * 1024 * 1024,
            api_upload_part_bytes: 8 * 1024 * 1024,
            api_idle_timeout_secs: 30,
            api_request_timeout_secs: 90,
            api_body_idle_timeout_secs: 60,
            schedule_min_interval_secs: 60,
        }
    }
}
