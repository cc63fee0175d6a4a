//! Building and running the scheduler, the same way in `main` and in tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use contaxy_common::connections::Connections;
use contaxy_common::ops::{self, HttpServer, Readiness};
use contaxy_common::publisher::Publisher;
use contaxy_common::topology::Topology;
use tokio_util::sync::CancellationToken;

use crate::cleanup::{self, CleanupContext, CleanupSettings};
use crate::config::SchedulerConfig;
use crate::relay::{self, RelaySettings};

/// A built scheduler: its ops listener is bound, its dependencies are being
/// reached in the background.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    connections: Connections,
    relay: RelaySettings,
    cleanup: Option<CleanupSettings>,
    topology: Topology,
    shutdown: CancellationToken,
}

impl Application {
    /// Binds the ops listener and starts connecting to PostgreSQL and
    /// RabbitMQ. Everything stops when `shutdown` is cancelled.
    pub async fn build(
        config: SchedulerConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let connections = Connections::start(&config.common, "contaxy-scheduler", &shutdown)?;
        let readiness = Readiness::new(
            connections.probes(),
            Duration::from_millis(config.common.probe_timeout_ms),
        );
        let server = HttpServer::bind(
            config.settings.scheduler_listen_addr,
            "CONTAXY_SCHEDULER_LISTEN_ADDR",
            ops::router(readiness),
        )
        .await?;
        let relay = RelaySettings {
            interval: Duration::from_millis(config.settings.relay_interval_ms),
            min_age: Duration::from_millis(config.settings.relay_min_age_ms),
            batch: 100,
        };
        Ok(Self {
            server,
            connections,
            relay,
            cleanup: config.settings.cleanup(),
            topology: Topology::new(&config.common.topology_prefix),
            shutdown,
        })
    }

    /// The address of the ops server (`/healthz`, `/readyz`, `/metrics`).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The database and broker this scheduler uses.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Runs until the shutdown token is cancelled.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "The scheduler is running.");
        let db = self.connections.db.clone();
        let publisher = Publisher::new(self.connections.broker.clone(), self.topology.clone());
        let relay_settings = self.relay;
        let relay_shutdown = self.shutdown.clone();
        let relay = tokio::spawn(async move {
            tokio::select! {
                () = relay_shutdown.cancelled() => {}
                () = db.schema_ready() => {
                    relay::run(db.pool().clone(), &publisher, relay_settings, relay_shutdown).await;
                }
            }
        });
        let cleanup = self.cleanup.map(|settings| {
            let db = self.connections.db.clone();
            let publisher = Arc::new(Publisher::new(
                self.connections.broker.clone(),
                self.topology.clone(),
            ));
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = db.schema_ready() => {
                        let ctx = CleanupContext {
                            pool: db.pool().clone(),
                            publisher,
                            settings,
                        };
                        // The leader hook: every replica acts for now (each
                        // action is submitted once whatever the number of
                        // replicas, by its idempotency key); with leader
                        // election, only the leader.
                        cleanup::run(ctx, || true, shutdown).await;
                    }
                }
            })
        });
        let served = self.server.serve(self.shutdown).await;
        relay.await.context("the relay task failed")?;
        if let Some(cleanup) = cleanup {
            cleanup.await.context("the cleanup task failed")?;
        }
        served.context("the scheduler's ops server failed")?;
        tracing::info!("The scheduler has stopped.");
        Ok(())
    }
}
