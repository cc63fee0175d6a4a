//! The two services every binary stands on: PostgreSQL and RabbitMQ.

use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::config::CommonConfig;
use crate::ops::Probe;
use crate::store::{Database, StoreError};

/// PostgreSQL (migrated in the background) and a supervised RabbitMQ
/// connection, both started without waiting for the services to answer.
#[derive(Debug, Clone)]
pub struct Connections {
    /// The database pool and schema state.
    pub db: Database,
    /// The broker connection.
    pub broker: Broker,
}

impl Connections {
    /// Starts both; `name` identifies this process to RabbitMQ.
    pub fn start(
        config: &CommonConfig,
        name: &'static str,
        shutdown: &CancellationToken,
    ) -> Result<Self, StoreError> {
        crate::telemetry::record_build_info(name);
        Ok(Self {
            db: Database::start(config, shutdown.child_token())?,
            broker: Broker::start(
                &config.amqp_url,
                name,
                config.topology(),
                shutdown.child_token(),
            ),
        })
    }

    /// The `/readyz` probes for both.
    pub fn probes(&self) -> Vec<Probe> {
        vec![self.db.probe(), self.broker.probe()]
    }
}

/// The pauses between tries to reach a lost dependency again (the broker's
/// supervisor, the change listener): from 100 ms, doubling to at most 5 s,
/// with jitter, for as long as it takes (the caller stops on shutdown).
pub fn reconnect_backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(std::time::Duration::from_millis(100))
        .with_max_delay(std::time::Duration::from_secs(5))
        .without_max_times()
}
