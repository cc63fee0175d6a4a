//! Building and running the worker, the same way in `main` and in tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use contaxy_common::connections::Connections;
use contaxy_common::ops::{self, HttpServer, Readiness};
use contaxy_common::publisher::Publisher;
use contaxy_common::storage::ObjectStore;
use contaxy_common::store::capacity;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::WorkerConfig;
use crate::consumer::{Consumer, ConsumerSettings};
use crate::context::{ActionContext, DeploymentSettings, NetworkSettings};
use crate::image_config::ImageConfigResponder;
use crate::logs::{LogsLimits, LogsResponder};
use crate::network_sweep::NetworkSweeper;
use crate::orphan_sweep::OrphanSweeper;
use crate::runtime::{self, Runtime, RuntimeConfig};
use crate::status::StatusWatcher;

/// A built worker: its ops listener is bound, its dependencies are being
/// reached in the background.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    connections: Connections,
    config: WorkerConfig,
    shutdown: CancellationToken,
    /// Closes the connections (when dropped): only once the work has
    /// drained, so attempts finishing after SIGTERM can still settle.
    connections_stop: DropGuard,
    /// A runtime given by the caller instead of the configured one (see
    /// [`Application::with_runtime`]).
    runtime: Option<Arc<dyn Runtime>>,
}

impl Application {
    /// Binds the ops listener, checks the runtime's settings and starts
    /// connecting to PostgreSQL and RabbitMQ. Everything stops when
    /// `shutdown` is cancelled: the work first (drained within
    /// `CONTAXY_WORKER_DRAIN_TIMEOUT_SECS`), the connections after it.
    pub async fn build(config: WorkerConfig, shutdown: CancellationToken) -> anyhow::Result<Self> {
        // Not a child of `shutdown`: the broker must outlive the drain.
        let connections_stop = CancellationToken::new();
        let connections = Connections::start(&config.common, "contaxy-worker", &connections_stop)?;
        let runtime_probe = runtime::probe(&config.settings.runtime(&config.common.namespace))?;
        config.settings.subnet_pool().map_err(|error| {
            anyhow::anyhow!("CONTAXY_NETWORK_POOL / CONTAXY_NETWORK_PREFIX_LEN: {error}")
        })?;
        let mut probes = connections.probes();
        probes.push(runtime_probe);
        let readiness = Readiness::new(
            probes,
            Duration::from_millis(config.common.probe_timeout_ms),
        );
        let server = HttpServer::bind(
            config.settings.worker_listen_addr,
            "CONTAXY_WORKER_LISTEN_ADDR",
            ops::router(readiness),
        )
        .await?;
        Ok(Self {
            server,
            connections,
            config,
            shutdown,
            connections_stop: connections_stop.drop_guard(),
            runtime: None,
        })
    }

    /// Runs with `runtime` instead of the backend the configuration names
    /// (whose readiness probe stays). For programs that embed the worker
    /// around a runtime of their own, such as the engine benchmark's
    /// in-memory one; the shipped binary never calls it.
    #[must_use]
    pub fn with_runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The address of the ops server (`/healthz`, `/readyz`, `/metrics`).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The database and broker this worker uses.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Runs until the shutdown token is cancelled: consumes actions, follows
    /// runtime events, answers logs requests, serves the ops routes. On
    /// shutdown it stops taking deliveries, finishes those in hand (or
    /// hands them back at the drain deadline), and only then closes its
    /// connections.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "The worker is running.");
        let work = tokio::spawn(run_work(
            self.connections.clone(),
            self.config.clone(),
            self.runtime.clone(),
            self.shutdown.clone(),
        ));
        let served = self.server.serve(self.shutdown).await;
        let worked = work.await;
        drop(self.connections_stop);
        worked.context("the worker's tasks failed")?;
        served.context("the worker's ops server failed")?;
        tracing::info!("The worker has stopped.");
        Ok(())
    }
}

/// Waits for the runtime and the schema, then runs the consumer, the status
/// watcher, the network sweep and the logs responder until `shutdown`.
async fn run_work(
    connections: Connections,
    config: WorkerConfig,
    given: Option<Arc<dyn Runtime>>,
    shutdown: CancellationToken,
) {
    let runtime_config = config.settings.runtime(&config.common.namespace);
    let runtime = match given {
        Some(runtime) => runtime,
        None => tokio::select! {
            () = shutdown.cancelled() => return,
            runtime = runtime::build(&runtime_config) => match runtime {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "Cannot use the runtime; this worker executes nothing.");
                    return;
                }
            },
        },
    };
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = connections.db.schema_ready() => {}
    }
    let pool = connections.db.pool().clone();
    record_capacity(&pool, &config, &runtime_config, runtime.capacity()).await;
    let topology = config.common.topology();
    let publisher = Arc::new(Publisher::new(connections.broker.clone(), topology.clone()));
    let deployment = DeploymentSettings {
        base_url: config.settings.container_base_url.clone(),
        api_endpoint: config.settings.container_api_endpoint.clone(),
    };
    let network = NetworkSettings {
        pool: match config.settings.subnet_pool() {
            Ok(pool) => pool,
            // Checked in `Application::build`.
            Err(error) => {
                tracing::error!(%error, "The network pool is invalid; this worker executes nothing.");
                return;
            }
        },
        namespace: config.common.namespace.clone(),
    };
    let reconcile_every =
        Duration::from_secs(config.settings.worker_reconcile_interval_secs.max(1));
    let sweeper = NetworkSweeper {
        pool: pool.clone(),
        runtime: Arc::clone(&runtime),
        every: reconcile_every,
    };
    let orphans = OrphanSweeper {
        pool: pool.clone(),
        runtime: Arc::clone(&runtime),
        every: reconcile_every,
    };
    let concurrency = config.settings.worker_concurrency.max(1);
    let consumer = Arc::new(Consumer {
        pool: pool.clone(),
        broker: connections.broker.clone(),
        publisher: Arc::clone(&publisher),
        topology: topology.clone(),
        context: Arc::new(ActionContext {
            pool: pool.clone(),
            runtime: Arc::clone(&runtime),
            storage: ObjectStore::new(&config.common),
            deployment,
            network,
            publisher: Arc::clone(&publisher),
            quotas: config.common.quotas(),
        }),
        settings: ConsumerSettings {
            concurrency,
            max_attempts: config.settings.worker_max_attempts.max(1),
            max_redeliveries: config.settings.worker_max_redeliveries,
            attempt_timeout: Duration::from_secs(
                config.settings.worker_attempt_timeout_secs.max(1),
            ),
            // At least 3 s, so the heartbeat (a third of it) is not a spin.
            lease: Duration::from_secs(config.settings.worker_lease_secs.max(3)),
            drain_timeout: Duration::from_secs(config.settings.worker_drain_timeout_secs),
        },
        slots: Arc::new(tokio::sync::Semaphore::new(usize::from(concurrency))),
    });
    let watcher = StatusWatcher {
        pool,
        runtime: Arc::clone(&runtime),
        publisher: Arc::clone(&publisher),
        reconcile_every,
    };
    let images = ImageConfigResponder {
        broker: connections.broker.clone(),
        topology: topology.clone(),
        runtime: Arc::clone(&runtime),
        publisher: Arc::clone(&publisher),
    };
    let logs = LogsResponder {
        broker: connections.broker.clone(),
        topology,
        runtime,
        publisher,
        limits: LogsLimits {
            max_streams: config.settings.worker_max_log_streams.max(1),
            max_duration: Duration::from_secs(
                config.settings.worker_log_stream_max_secs.clamp(1, 1500),
            ),
            heartbeat: LogsLimits::HEARTBEAT,
        },
    };
    tokio::join!(
        consumer.run(shutdown.clone()),
        watcher.run(shutdown.clone()),
        sweeper.run(shutdown.clone()),
        orphans.run(shutdown.clone()),
        images.run(shutdown.clone()),
        logs.run(shutdown),
    );
}

/// Records what this worker's runtime host offers, so the API can refuse
/// requests no host can meet.
async fn record_capacity(
    pool: &sqlx::PgPool,
    config: &WorkerConfig,
    runtime: &RuntimeConfig,
    host: contaxy_common::domain::HostCapacity,
) {
    if let Err(error) = capacity::record(
        pool,
        &config.common.namespace,
        runtime.address(),
        runtime.backend().as_str(),
        host,
    )
    .await
    {
        tracing::warn!(%error, "Could not record the host's capacity; the API will not check min_* requests.");
    }
}
