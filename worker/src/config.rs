//! Settings of the `contaxy-worker` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;

use contaxy_common::config::Config;
use serde::Deserialize;

/// The whole configuration of the worker binary.
pub type WorkerConfig = Config<WorkerSettings>;

/// Settings only the worker has.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// Address of the worker's small HTTP server for `/healthz`, `/readyz`
    /// and `/metrics` (`CONTAXY_WORKER_LISTEN_ADDR`). Port 0 picks a free
    /// port.
    pub worker_listen_addr: SocketAddr,
    /// Docker Engine address (`CONTAXY_DOCKER_HOST`): `unix:///path/to.sock`
    /// or `tcp://host:port`.
    pub docker_host: String,
    /// How many actions one worker executes at once
    /// (`CONTAXY_WORKER_CONCURRENCY`); also its RabbitMQ prefetch.
    pub worker_concurrency: u16,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            worker_listen_addr: SocketAddr::from(([127, 0, 0, 1], 9101)),
            docker_host: "unix:///var/run/docker.sock".to_owned(),
            worker_concurrency: 8,
        }
    }
}
