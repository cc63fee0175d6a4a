//! Settings of the `contaxy-scheduler` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;

use contaxy_common::config::Config;
use serde::Deserialize;

/// The whole configuration of the scheduler binary.
pub type SchedulerConfig = Config<SchedulerSettings>;

/// Settings only the scheduler has.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SchedulerSettings {
    /// Address of the scheduler's small HTTP server for `/healthz`, `/readyz`
    /// and `/metrics` (`CONTAXY_SCHEDULER_LISTEN_ADDR`). Port 0 picks a free
    /// port.
    pub scheduler_listen_addr: SocketAddr,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            scheduler_listen_addr: SocketAddr::from(([127, 0, 0, 1], 9102)),
        }
    }
}
