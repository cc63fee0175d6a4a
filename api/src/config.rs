//! Settings of the `contaxy-api` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;

use contaxy_common::config::Config;
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
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            api_listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_max_body_bytes: 1024 * 1024,
        }
    }
}
