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
