//! Building and running the worker, the same way in `main` and in tests.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use contaxy_common::backbone::Backbone;
use contaxy_common::ops::{self, HttpServer, Readiness};
use tokio_util::sync::CancellationToken;

use crate::config::WorkerConfig;
use crate::runtime;

/// A built worker: its ops listener is bound, its dependencies are being
/// reached in the background.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    backbone: Backbone,
    shutdown: CancellationToken,
}

impl Application {
    /// Binds the ops listener, opens the Docker client and starts connecting
    /// to PostgreSQL and RabbitMQ. Everything stops when `shutdown` is
    /// cancelled.
    pub async fn build(config: WorkerConfig, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let backbone = Backbone::start(&config.common, "contaxy-worker", &shutdown)?;
        let docker = runtime::connect_docker(&config.own.docker_host)?;
        let mut probes = backbone.probes();
        probes.push(runtime::docker_probe(docker));
        let readiness = Readiness::new(
            probes,
            Duration::from_millis(config.common.probe_timeout_ms),
        );
        let server = HttpServer::bind(
            config.own.worker_listen_addr,
            "CONTAXY_WORKER_LISTEN_ADDR",
            ops::router(readiness),
        )
        .await?;
        Ok(Self {
            server,
            backbone,
            shutdown,
        })
    }

    /// The address of the ops server (`/healthz`, `/readyz`, `/metrics`).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The database and broker this worker uses.
    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// Runs until the shutdown token is cancelled.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "The worker is running.");
        self.server
            .serve(self.shutdown)
            .await
            .context("the worker's ops server failed")?;
        tracing::info!("The worker has stopped.");
        Ok(())
    }
}
