//! Deployment logs over the broker (request/reply), so the API holds no
//! runtime credentials.
//!
//! The API declares a private, exclusive reply queue, publishes a
//! [`LogsRequest`] to the `{p}logs` queue with `reply_to` and a correlation
//! id, and reads replies: `start` (or `error`), then `chunk`s, then `end`.
//! Any worker with a free stream slot answers. When the API side goes away
//! (a client stops following) its reply queue disappears, the worker's next
//! mandatory publish (a chunk, or an empty chunk it sends as a heartbeat
//! while the output is quiet) comes back unrouted, and the worker stops
//! streaming.
//!
//! The API side holds a bounded amount: its consumer acknowledges each reply
//! as the HTTP body takes it, with at most [`REPLY_PREFETCH`] unacknowledged,
//! and the reply queue holds at most [`REPLY_QUEUE_MAX`] more; past that the
//! broker refuses the worker's publish and the stream ends (a client that
//! does not read is not buffered for).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};
use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::topology::Topology;

/// The header saying what a reply is.
pub const REPLY_HEADER: &str = "x-contaxy-logs";
/// Replies the API side takes from the broker before the HTTP body has
/// taken the earlier ones.
pub const REPLY_PREFETCH: u16 = 16;
/// Replies a reply queue holds beyond those; then the worker's publish is
/// refused and its stream ends.
pub const REPLY_QUEUE_MAX: i64 = 256;

/// What the API asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsRequest {
    /// The deployment's project (every lookup is scoped by it).
    pub project_id: String,
    /// The deployment.
    pub deployment_id: String,
    /// Only the last `lines` lines.
    pub lines: Option<u32>,
    /// Only output since this time.
    pub since: Option<DateTime<Utc>>,
    /// Keep streaming new output.
    pub follow: bool,
}

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub enum LogsReply {
    /// The deployment exists; chunks follow.
    Start,
    /// Some output.
    Chunk(Vec<u8>),
    /// No more output.
    End,
    /// The request failed.
    Error(LogsFailure),
}

/// Why a logs request failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsFailure {
    /// The deployment does not exist (in that project).
    pub not_found: bool,
    /// What happened.
    pub message: String,
}

impl LogsReply {
    /// The header value and body that carry this reply.
    pub fn encode(&self) -> (FieldTable, Vec<u8>) {
        let (kind, body) = match self {
            Self::Start => ("start", Vec::new()),
            Self::Chunk(bytes) => ("chunk", bytes.clone()),
            Self::End => ("end", Vec::new()),
            Self::Error(failure) => (
                "error",
                serde_json::to_vec(failure).expect("a failure always serializes"),
            ),
        };
        let mut headers = FieldTable::default();
        headers.insert(
            REPLY_HEADER.into(),
            AMQPValue::LongString(LongString::from(kind)),
        );
        (headers, body)
    }

    /// Reads a reply; `None` for something that is not one.
    pub fn decode(headers: Option<&FieldTable>, body: &[u8]) -> Option<Self> {
        let kind = match headers?.inner().get(REPLY_HEADER)? {
            AMQPValue::LongString(s) => s.to_string(),
            _ => return None,
        };
        match kind.as_str() {
            "start" => Some(Self::Start),
            "chunk" => Some(Self::Chunk(body.to_vec())),
            "end" => Some(Self::End),
            "error" => serde_json::from_slice(body).ok().map(Self::Error),
            _ => None,
        }
    }
}

/// Why the API could not get logs.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// Not connected to RabbitMQ.
    #[error("not connected to RabbitMQ")]
    NotConnected,
    /// No worker answered in time: each is streaming as many logs as it
    /// may, or none runs.
    #[error("no worker took the request within {} s", .0.as_secs())]
    NoWorker(Duration),
    /// The deployment does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The worker could not read the logs.
    #[error("{0}")]
    Failed(String),
    /// The broker failed.
    #[error("RabbitMQ failed: {0}")]
    Amqp(#[from] lapin::Error),
}

/// Log output as it arrives; dropping it tells the worker to stop.
pub type LogsStream = BoxStream<'static, Result<Vec<u8>, LogsError>>;

/// Asks a worker for logs and returns them as a stream, once a worker has
/// confirmed the deployment exists.
pub async fn request(
    broker: &Broker,
    topology: &Topology,
    request: &LogsRequest,
    answer_within: Duration,
) -> Result<LogsStream, LogsError> {
    let conn = broker.connection().ok_or(LogsError::NotConnected)?;
    let channel = conn.create_channel().await?;
    let mut bounded = FieldTable::default();
    bounded.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(REPLY_QUEUE_MAX),
    );
    bounded.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    let queue = channel
        .queue_declare(
            ShortString::from(""),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            bounded,
        )
        .await?;
    channel
        .basic_qos(REPLY_PREFETCH, BasicQosOptions::default())
        .await?;
    let mut replies = channel
        .basic_consume(
            queue.name().clone(),
            ShortString::from(""),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let properties = BasicProperties::default()
        .with_reply_to(queue.name().clone())
        .with_correlation_id(correlation_id.as_str().into())
        // A request nobody took before the API gave up is not served.
        .with_expiration(answer_within.as_millis().to_string().into());
    let body = serde_json::to_vec(request).expect("a logs request always serializes");
    channel
        .basic_publish(
            ShortString::from(""),
            topology.logs_queue().into(),
            BasicPublishOptions::default(),
            &body,
            properties,
        )
        .await?;

    let guard = ChannelGuard(channel);
    let first = tokio::time::timeout(answer_within, replies.next())
        .await
        .map_err(|_| LogsError::NoWorker(answer_within))?;
    let first = first.map(|delivery| {
        delivery.map(|delivery| {
            let reply = LogsReply::decode(delivery.properties.headers().as_ref(), &delivery.data);
            (reply, delivery.acker)
        })
    });
    if let Some(Ok((_, acker))) = &first {
        acker.ack(BasicAckOptions::default()).await?;
    }
    match first.map(|reply| reply.map(|(reply, _)| reply)) {
        Some(Ok(Some(LogsReply::Start))) => {}
        Some(Ok(Some(LogsReply::Error(failure)))) if failure.not_found => {
            return Err(LogsError::NotFound(failure.message));
        }
        Some(Ok(Some(LogsReply::Error(failure)))) => {
            return Err(LogsError::Failed(failure.message));
        }
        Some(Err(error)) => return Err(LogsError::Amqp(error)),
        _ => {
            return Err(LogsError::Failed(
                "the worker's reply was not understood".to_owned(),
            ));
        }
    }
    let stream =
        futures::stream::unfold((replies, Some(guard)), |(mut replies, guard)| async move {
            guard.as_ref()?;
            let item = match replies.next().await {
                Some(Ok(delivery)) => {
                    // Taken by the body: the broker may send one more.
                    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                        return Some((Err(LogsError::Amqp(error)), (replies, None)));
                    }
                    match LogsReply::decode(delivery.properties.headers().as_ref(), &delivery.data)
                    {
                        Some(LogsReply::Chunk(bytes)) => Some(Ok(bytes)),
                        Some(LogsReply::Error(failure)) => {
                            Some(Err(LogsError::Failed(failure.message)))
                        }
                        _ => None,
                    }
                }
                Some(Err(error)) => Some(Err(LogsError::Amqp(error))),
                None => None,
            };
            // After an error, end the stream on the next poll.
            let next_guard = match &item {
                Some(Ok(_)) => guard,
                _ => None,
            };
            item.map(|item| (item, (replies, next_guard)))
        })
        // Heartbeats carry nothing for the reader.
        .filter(|item| std::future::ready(!matches!(item, Ok(bytes) if bytes.is_empty())));
    Ok(stream.boxed())
}

/// Closes the request's channel when the stream is dropped, which deletes
/// the exclusive reply queue.
struct ChannelGuard(Channel);

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        let channel = self.0.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = channel.close(200, "logs request done".into()).await;
            });
        }
    }
}
