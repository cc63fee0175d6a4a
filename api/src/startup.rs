//! Building and running the API, the same way in `main` and in tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use contaxy_common::connections::Connections;
use contaxy_common::ops::{HttpServer, Readiness};
use contaxy_common::publisher::Publisher;
use contaxy_common::storage::ObjectStore;
use contaxy_common::store::changes::Changes;
use contaxy_common::submit::PublishMarks;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::config::ApiConfig;
use crate::files::FileLimits;
use crate::routes;
use crate::state::AppState;

/// A built API: its listener is bound, its dependencies are being reached in
/// the background.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    connections: Connections,
    shutdown: CancellationToken,
}

impl Application {
    /// Binds the listener and starts connecting to PostgreSQL and RabbitMQ.
    /// The API answers `/readyz` with 503 until both are reachable and the
    /// schema is migrated. Everything stops when `shutdown` is cancelled.
    pub async fn build(config: ApiConfig, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let connections = Connections::start(&config.common, "contaxy-api", &shutdown)?;
        let readiness = Readiness::new(
            connections.probes(),
            Duration::from_millis(config.common.probe_timeout_ms),
        );
        let auth = Auth::from_settings(&config.settings, shutdown.child_token())?;
        let file_limits = FileLimits::from_settings(&config.settings)?;
        let topology = config.common.topology();
        let state = AppState {
            db: connections.db.pool().clone(),
            auth: Arc::new(auth),
            publisher: Arc::new(Publisher::new(connections.broker.clone(), topology)),
            publish_marks: PublishMarks::start(connections.db.pool().clone()),
            broker: connections.broker.clone(),
            namespace: config.common.namespace.clone(),
            wait_timeout: Duration::from_secs(config.settings.api_wait_timeout_secs),
            changes: Changes::start(connections.db.pool(), shutdown.child_token()),
            recheck_interval: Duration::from_millis(config.settings.api_recheck_interval_ms.max(1)),
            wait_by_default: config.settings.api_wait_by_default,
            contaxy_statuses: config.settings.api_contaxy_statuses,
            logs_timeout: Duration::from_millis(config.settings.api_logs_timeout_ms),
            storage: ObjectStore::new(&config.common),
            file_limits,
            schedule_min_interval: Duration::from_secs(config.settings.schedule_min_interval_secs),
            quotas: config.common.quotas(),
            event_streams: Arc::new(tokio::sync::Semaphore::new(
                config.settings.api_max_event_streams as usize,
            )),
            event_stream_max: Duration::from_secs(config.settings.api_event_stream_max_secs),
        };
        let timeouts = config.settings.http_timeouts();
        let router = routes::router(
            state,
            readiness,
            config.settings.api_max_body_bytes,
            timeouts,
        );
        let server = HttpServer::bind(
            config.settings.api_listen_addr,
            "CONTAXY_API_LISTEN_ADDR",
            router,
        )
        .await?
        .with_head_timeout(timeouts.idle)
        .with_write_stall_timeout(timeouts.body_idle);
        Ok(Self {
            server,
            connections,
            shutdown,
        })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The database and broker this API uses.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Serves until the shutdown token is cancelled, then lets requests in
    /// flight finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "The API is listening.");
        self.server
            .serve(self.shutdown)
            .await
            .context("the API server failed")?;
        tracing::info!("The API has stopped.");
        Ok(())
    }
}
