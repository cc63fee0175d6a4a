//! Settings of the `contaxy-api` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;

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
    /// Longest a logs request waits for a worker to answer, in milliseconds
    /// (`CONTAXY_API_LOGS_TIMEOUT_MS`); then it answers 503.
    pub api_logs_timeout_ms: u64,
    /// The shortest time allowed between two slots of a schedule, in
    /// seconds (`CONTAXY_SCHEDULE_MIN_INTERVAL_SECS`); a cron expression
    /// that fires more often is refused with 400 naming `cron`.
    pub schedule_min_interval_secs: u64,
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
            api_logs_timeout_ms: 10_000,
            schedule_min_interval_secs: 60,
        }
    }
}
