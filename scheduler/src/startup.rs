//! Building and running the scheduler, the same way in `main` and in tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use contaxy_common::connections::Connections;
use contaxy_common::ops::{self, HttpServer, Readiness};
use contaxy_common::publisher::Publisher;
use contaxy_common::store::quotas::Quotas;
use contaxy_common::topology::Topology;
use tokio_util::sync::CancellationToken;

use crate::cleanup::{self, CleanupContext, CleanupSettings};
use crate::config::SchedulerConfig;
use crate::cron::CronSettings;
use crate::leader::{CRON_LEASE, Clock, CronLoop, Leadership, SystemClock};
use crate::relay::{self, RelaySettings};

/// A built scheduler: its ops listener is bound, its dependencies are being
/// reached in the background.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    connections: Connections,
    relay: RelaySettings,
    cron: CronSettings,
    tick: Duration,
    lease: chrono::TimeDelta,
    namespace: String,
    quotas: Quotas,
    clock: Arc<dyn Clock>,
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
            queued_lost_after: Duration::from_secs(config.settings.relay_queued_lost_secs),
            retry_lost_after: Duration::from_secs(config.settings.relay_retry_lost_secs),
        };
        let cron = CronSettings {
            on_time: chrono::TimeDelta::seconds(
                i64::try_from(config.settings.schedule_on_time_secs).unwrap_or(i64::MAX / 1000),
            ),
            batch: i64::from(config.settings.schedule_batch.max(1)),
            batches_at_once: usize::from(config.settings.schedule_batches_at_once.max(1)),
            read_ahead: i64::from(config.settings.schedule_read_ahead),
            ..CronSettings::default()
        };
        let lease = chrono::TimeDelta::milliseconds(
            i64::try_from(config.settings.scheduler_lease_ms).unwrap_or(i64::MAX / 1000),
        );
        Ok(Self {
            server,
            connections,
            relay,
            cron,
            tick: Duration::from_millis(config.settings.scheduler_tick_ms.max(1)),
            lease,
            namespace: config.common.namespace.clone(),
            quotas: config.common.quotas(),
            clock: Arc::new(SystemClock),
            cleanup: config.settings.cleanup(),
            topology: config.common.topology(),
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

    /// Reads the time from `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs until the shutdown token is cancelled.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "The scheduler is running.");
        let db = self.connections.db.clone();
        let publisher = Arc::new(Publisher::new(
            self.connections.broker.clone(),
            self.topology.clone(),
        ));
        let relay_settings = self.relay;
        let relay_shutdown = self.shutdown.clone();
        let relay_publisher = publisher.clone();
        let relay_db = db.clone();
        let relay = tokio::spawn(async move {
            tokio::select! {
                () = relay_shutdown.cancelled() => {}
                () = relay_db.schema_ready() => {
                    relay::run(relay_db.pool().clone(), &relay_publisher, relay_settings, relay_shutdown).await;
                }
            }
        });
        let holder = format!("scheduler-{}", uuid::Uuid::new_v4().simple());
        let leadership = Leadership::new(db.pool().clone(), CRON_LEASE, &holder, self.lease);
        let leading = leadership.leading();
        let cleanup = self.cleanup.map(|settings| {
            let db = self.connections.db.clone();
            let publisher = Arc::clone(&publisher);
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
                        // Only the replica holding the cron lease cleans up.
                        cleanup::run(ctx, move || leading.load(Ordering::Acquire), shutdown).await;
                    }
                }
            })
        });
        let cron_loop = CronLoop {
            leadership,
            clock: self.clock,
            settings: self.cron,
            namespace: self.namespace,
            quotas: self.quotas,
        };
        let cron_shutdown = self.shutdown.clone();
        let tick = self.tick;
        let cron = tokio::spawn(async move {
            tokio::select! {
                () = cron_shutdown.cancelled() => return,
                () = db.schema_ready() => {}
            }
            // Outside the select, so that a shutdown lets it give the lease up.
            cron_loop.run(&publisher, tick, cron_shutdown).await;
        });
        let served = self.server.serve(self.shutdown).await;
        relay.await.context("the relay task failed")?;
        cron.await.context("the cron task failed")?;
        if let Some(cleanup) = cleanup {
            cleanup.await.context("the cleanup task failed")?;
        }
        served.context("the scheduler's ops server failed")?;
        tracing::info!("The scheduler has stopped.");
        Ok(())
    }
}
