//! Publishing with publisher confirms: a publish returns only once RabbitMQ
//! has taken responsibility for the message (persistent, routed), or fails.
//!
//! Actions are published `mandatory`: a message no queue is bound for comes
//! back (`basic.return`, then the confirm) and counts as not published
//! ([`PublishError::Unroutable`]), so its row stays unpublished for the
//! relay instead of being noted as confirmed while it went nowhere.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};
use tokio::sync::Mutex;

use crate::broker::Broker;
use crate::domain::action::{ActionFamily, ErrorClass};
use crate::message::{ActionMessage, headers};
use crate::topology::Topology;

/// Metric: messages published to the dead-letter queue, by error class.
pub const DEAD_LETTERS: &str = "contaxy_dead_letters_total";

/// Metric: mandatory publishes that came back unrouted.
pub const UNROUTABLE: &str = "contaxy_unroutable_publishes_total";

/// How long a publish may wait for RabbitMQ's confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a publish did not go through. Always worth retrying later.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No connection to RabbitMQ right now.
    #[error("not connected to RabbitMQ")]
    NotConnected,
    /// The broker or the channel failed.
    #[error("RabbitMQ refused the publish: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker did not confirm in time.
    #[error("RabbitMQ did not confirm within {} s", CONFIRM_TIMEOUT.as_secs())]
    Timeout,
    /// The broker said it could not take the message.
    #[error("RabbitMQ nacked the message")]
    Nacked,
    /// A mandatory message came back: no queue is bound for its routing key
    /// (a topology not declared, a binding removed by hand).
    #[error("RabbitMQ returned the message: no queue is bound for `{0}`")]
    Unroutable(String),
}

/// Whether a publish must reach a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routing {
    /// Unrouted is an error ([`PublishError::Unroutable`]).
    Mandatory,
    /// Unrouted is fine (an event nobody listens to).
    Optional,
}

/// Publishes to the topology's exchanges over one confirmed channel,
/// reopened after any failure.
#[derive(Debug)]
pub struct Publisher {
    broker: Broker,
    topology: Topology,
    channel: Mutex<Option<Channel>>,
}

impl Publisher {
    /// A publisher over `broker`'s connection.
    pub fn new(broker: Broker, topology: Topology) -> Self {
        Self {
            broker,
            topology,
            channel: Mutex::new(None),
        }
    }

    /// The topology it publishes into.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Publishes an action to the `actions` exchange (routing key = kind).
    pub async fn publish_action(
        &self,
        message: &ActionMessage,
        attempt: u32,
    ) -> Result<(), PublishError> {
        let headers = action_headers(message, attempt);
        self.publish(
            &self.topology.actions_exchange(),
            message.kind().as_str(),
            &message.to_body(),
            headers,
            Routing::Mandatory,
        )
        .await
    }

    /// Publishes an action to wait `delay` in its family's delay queue.
    pub async fn publish_retry(
        &self,
        message: &ActionMessage,
        delay: Duration,
        attempt: u32,
    ) -> Result<(), PublishError> {
        let family: ActionFamily = message.kind().family();
        self.publish(
            &self.topology.retry_exchange(),
            &Topology::retry_routing_key(family, delay),
            &message.to_body(),
            action_headers(message, attempt),
            Routing::Mandatory,
        )
        .await
    }

    /// Publishes a given-up message body to the `dead` exchange with the
    /// reason in its headers.
    pub async fn publish_dead(
        &self,
        body: &[u8],
        original_routing_key: &str,
        reason: &str,
        class: ErrorClass,
        mut headers: FieldTable,
    ) -> Result<(), PublishError> {
        insert_str(&mut headers, headers::REASON, reason);
        insert_str(&mut headers, headers::ERROR_CLASS, class_name(class));
        insert_str(
            &mut headers,
            headers::ORIGINAL_ROUTING_KEY,
            original_routing_key,
        );
        self.publish(
            &self.topology.dead_exchange(),
            original_routing_key,
            body,
            headers,
            // Not mandatory: a dead letter that could not be routed would be
            // requeued and tried again for ever.
            Routing::Optional,
        )
        .await?;
        metrics::counter!(DEAD_LETTERS, "class" => class_name(class)).increment(1);
        Ok(())
    }

    /// Publishes a message straight back to a work queue (through the
    /// default exchange, so no other binding of `actions` sees it again),
    /// with `headers` as given: how a consumer gives back a delivery it
    /// counts.
    pub async fn publish_to_queue(
        &self,
        queue: &str,
        body: &[u8],
        headers: FieldTable,
    ) -> Result<(), PublishError> {
        self.publish("", queue, body, headers, Routing::Mandatory)
            .await
    }

    /// Publishes an event to the `events` exchange.
    pub async fn publish_event(&self, routing_key: &str, body: &[u8]) -> Result<(), PublishError> {
        self.publish(
            &self.topology.events_exchange(),
            routing_key,
            body,
            FieldTable::default(),
            Routing::Optional,
        )
        .await
    }

    /// Publishes a reply straight to the queue `reply_to` (mandatory,
    /// transient). Returns false when that queue no longer exists (the
    /// requester went away), so a streaming responder knows to stop.
    pub async fn publish_reply(
        &self,
        reply_to: &str,
        correlation_id: &str,
        headers: FieldTable,
        body: &[u8],
    ) -> Result<bool, PublishError> {
        let properties = BasicProperties::default()
            .with_correlation_id(correlation_id.into())
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let routed = self.send("", reply_to, body, options, properties).await?;
        Ok(routed)
    }

    /// How many messages `queue` holds now (a passive declare on a channel
    /// of its own: one for a missing queue closes its channel).
    pub async fn queue_length(&self, queue: &str) -> Result<u32, PublishError> {
        let conn = self.broker.connection().ok_or(PublishError::NotConnected)?;
        let channel = conn.create_channel().await?;
        let declared = channel
            .queue_declare(
                ShortString::from(queue),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..lapin::options::QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        if channel.status().connected() {
            let _ = channel.close(200, "done".into()).await;
        }
        Ok(declared?.message_count())
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        headers: FieldTable,
        routing: Routing,
    ) -> Result<(), PublishError> {
        // When it was published (seconds): a dead letter's time of death.
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
        let properties = BasicProperties::default()
            .with_timestamp(now)
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: routing == Routing::Mandatory,
            ..BasicPublishOptions::default()
        };
        let routed = self
            .send(exchange, routing_key, body, options, properties)
            .await?;
        if routed {
            Ok(())
        } else {
            metrics::counter!(UNROUTABLE).increment(1);
            Err(PublishError::Unroutable(format!(
                "{exchange}/{routing_key}"
            )))
        }
    }

    /// Publishes and waits for the confirm; true when the message was
    /// routed (only a mandatory publish can come back unrouted).
    async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        options: BasicPublishOptions,
        properties: BasicProperties,
    ) -> Result<bool, PublishError> {
        let mut slot = self.channel.lock().await;
        let channel = match slot.as_ref() {
            Some(channel) if channel.status().connected() => channel.clone(),
            _ => {
                let conn = self.broker.connection().ok_or(PublishError::NotConnected)?;
                let channel = conn.create_channel().await?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                *slot = Some(channel.clone());
                channel
            }
        };
        drop(slot);
        let confirmed = async {
            channel
                .basic_publish(
                    ShortString::from(exchange),
                    ShortString::from(routing_key),
                    options,
                    body,
                    properties,
                )
                .await?
                .await
        };
        let result = match tokio::time::timeout(CONFIRM_TIMEOUT, confirmed).await {
            Err(_) => Err(PublishError::Timeout),
            Ok(Err(e)) => Err(PublishError::Amqp(e)),
            Ok(Ok(confirmation)) if confirmation.is_ack() => {
                Ok(confirmation.take_message().is_none())
            }
            Ok(Ok(_)) => Err(PublishError::Nacked),
        };
        if result.is_err() {
            // Start afresh next time: the channel may be closed or confused.
            *self.channel.lock().await = None;
        }
        result
    }
}

/// Headers every action message carries.
pub fn action_headers(message: &ActionMessage, attempt: u32) -> FieldTable {
    let mut headers = FieldTable::default();
    insert_str(
        &mut headers,
        headers::ACTION_ID,
        &message.action_id.to_string(),
    );
    insert_str(&mut headers, headers::PROJECT_ID, &message.project_id);
    headers.insert(headers::ATTEMPT.into(), AMQPValue::LongUInt(attempt));
    headers
}

fn insert_str(headers: &mut FieldTable, key: &str, value: &str) {
    headers.insert(
        ShortString::from(key),
        AMQPValue::LongString(LongString::from(value)),
    );
}

fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Transient => "transient",
        ErrorClass::Permanent => "permanent",
        ErrorClass::Malformed => "malformed",
    }
}
