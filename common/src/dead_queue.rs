//! Reading the dead queue without emptying it, and taking one letter out.
//!
//! Both take messages with `basic.get` on a channel of their own and never
//! acknowledge what they only look at: closing the channel gives every
//! unacknowledged message back to the queue, at its place (RabbitMQ keeps a
//! requeued message's position where it can). [`DeadQueue::take_out`]
//! acknowledges the one letter it looks for, which removes it.
//!
//! A letter being looked at is invisible to other readers for that moment,
//! and its `redelivered` flag is set afterwards; nothing is lost or copied.

use chrono::{DateTime, TimeZone, Utc};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, message::BasicGetMessage};
use serde::Serialize;
use uuid::Uuid;

use crate::broker::Broker;
use crate::message::headers;
use crate::publisher::PublishError;

/// One dead letter, as its headers describe it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeadLetter {
    /// The action it carried, when the message named one.
    pub action_id: Option<Uuid>,
    /// Its project, when named.
    pub project_id: Option<String>,
    /// The action's kind (the routing key it was published with).
    pub kind: Option<String>,
    /// Why it was dead-lettered.
    pub reason: Option<String>,
    /// The class of that failure (`transient`, `permanent`, `malformed`).
    pub class: Option<String>,
    /// The attempt it died on (0: refused before running).
    pub attempt: Option<u32>,
    /// When it was dead-lettered (for letters written since the time was
    /// recorded).
    pub dead_at: Option<DateTime<Utc>>,
    /// Its body's size in bytes.
    pub body_bytes: usize,
}

impl DeadLetter {
    fn read(message: &BasicGetMessage) -> Self {
        let empty = FieldTable::default();
        let table = message.properties.headers().as_ref().unwrap_or(&empty);
        let text = |name: &str| match table.inner().get(name) {
            Some(AMQPValue::LongString(value)) => Some(value.to_string()),
            Some(AMQPValue::ShortString(value)) => Some(value.to_string()),
            _ => None,
        };
        let attempt = match table.inner().get(headers::ATTEMPT) {
            Some(AMQPValue::LongUInt(n)) => Some(*n),
            Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).ok(),
            Some(AMQPValue::LongInt(n)) => u32::try_from(*n).ok(),
            Some(AMQPValue::ShortUInt(n)) => Some(u32::from(*n)),
            _ => None,
        };
        let dead_at = message
            .properties
            .timestamp()
            .and_then(|secs| i64::try_from(secs).ok())
            .and_then(|secs| Utc.timestamp_opt(secs, 0).single());
        Self {
            action_id: text(headers::ACTION_ID).and_then(|id| id.parse().ok()),
            project_id: text(headers::PROJECT_ID),
            kind: text(headers::ORIGINAL_ROUTING_KEY),
            reason: text(headers::REASON),
            class: text(headers::ERROR_CLASS),
            attempt,
            dead_at,
            body_bytes: message.data.len(),
        }
    }
}

/// The dead queue of one topology.
#[derive(Debug, Clone)]
pub struct DeadQueue {
    broker: Broker,
    queue: String,
}

impl DeadQueue {
    /// The queue named `queue` (the topology's dead queue) on `broker`.
    pub fn new(broker: Broker, queue: String) -> Self {
        Self { broker, queue }
    }

    /// The first `limit` letters, oldest first, left where they are.
    pub async fn peek(&self, limit: usize) -> Result<Vec<DeadLetter>, PublishError> {
        let channel = self.channel().await?;
        let mut letters = Vec::new();
        let read = async {
            while letters.len() < limit {
                match self.get(&channel).await? {
                    Some(message) => letters.push(DeadLetter::read(&message)),
                    None => break,
                }
            }
            Ok::<(), PublishError>(())
        }
        .await;
        close(&channel).await;
        read.map(|()| letters)
    }

    /// Removes the letter of `action_id`, looking at most at `scan` letters;
    /// true when it was there. The others stay where they were.
    pub async fn take_out(&self, action_id: Uuid, scan: usize) -> Result<bool, PublishError> {
        let channel = self.channel().await?;
        let found = async {
            for _ in 0..scan {
                let Some(message) = self.get(&channel).await? else {
                    return Ok(false);
                };
                if DeadLetter::read(&message).action_id == Some(action_id) {
                    channel
                        .basic_ack(message.delivery_tag, BasicAckOptions::default())
                        .await?;
                    return Ok(true);
                }
            }
            Ok::<bool, PublishError>(false)
        }
        .await;
        close(&channel).await;
        found
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let conn = self.broker.connection().ok_or(PublishError::NotConnected)?;
        Ok(conn.create_channel().await?)
    }

    async fn get(&self, channel: &Channel) -> Result<Option<BasicGetMessage>, PublishError> {
        Ok(channel
            .basic_get(
                ShortString::from(self.queue.as_str()),
                BasicGetOptions { no_ack: false },
            )
            .await?)
    }
}

/// Closes a reading channel: what it did not acknowledge goes back.
async fn close(channel: &Channel) {
    if channel.status().connected() {
        let _ = channel.close(200, "done".into()).await;
    }
}
