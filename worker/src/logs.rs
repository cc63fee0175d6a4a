//! Answers logs requests from the API (see `contaxy_common::logs`): reads the
//! deployment's output from the runtime and streams it back in chunks, until
//! the output ends or the requester goes away.
//!
//! Every stream is bounded:
//! - in number: at most `max_streams` at once, which is also this worker's
//!   prefetch on the logs queue; a request is acknowledged when its stream
//!   ends, so RabbitMQ hands requests only to workers with a free slot (the
//!   others wait in the queue, and the API answers 503 if none frees in
//!   time);
//! - in time: a stream ends (`end`) after `max_duration`, whatever it is
//!   doing, which also keeps its unacknowledged request below RabbitMQ's
//!   consumer timeout;
//! - in a gone requester: a quiet stream sends an empty chunk (a heartbeat)
//!   every `heartbeat`; the API's reply queue goes with its client, so the
//!   mandatory publish comes back unrouted and the stream, the runtime's
//!   log connection and the task end within one heartbeat, output or not.
//!   A requester too slow to read fills its bounded reply queue, the publish
//!   is refused, and the stream ends the same way.

use std::sync::Arc;
use std::time::Duration;

use contaxy_common::broker::Broker;
use contaxy_common::logs::{LogsFailure, LogsReply, LogsRequest};
use contaxy_common::publisher::Publisher;
use contaxy_common::topology::Topology;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::request_queue;
use crate::runtime::{DeploymentRef, LogOptions, Runtime, RuntimeError};

/// Metric (gauge): logs streams this worker runs now.
pub const LOG_STREAMS: &str = "contaxy_worker_log_streams";
/// Metric: logs streams ended, by why (`end`, `gone`, `cap`, `error`,
/// `stopped`).
const LOG_STREAMS_ENDED: &str = "contaxy_worker_log_streams_ended_total";

/// How a worker bounds its logs streams.
#[derive(Debug, Clone)]
pub struct LogsLimits {
    /// Streams at once (and the logs queue prefetch).
    pub max_streams: u16,
    /// Longest one stream lasts.
    pub max_duration: Duration,
    /// Longest a stream stays quiet before it checks its requester is
    /// still there.
    pub heartbeat: Duration,
}

impl LogsLimits {
    /// The heartbeat of a quiet stream.
    pub const HEARTBEAT: Duration = Duration::from_secs(2);
}

/// Consumes the logs queue until `shutdown`.
#[derive(Debug, Clone)]
pub struct LogsResponder {
    pub(crate) broker: Broker,
    pub(crate) topology: Topology,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) limits: LogsLimits,
}

/// Counts a stream in [`LOG_STREAMS`] while it lives.
struct StreamCount;

impl StreamCount {
    fn start() -> Self {
        metrics::gauge!(LOG_STREAMS).increment(1.0);
        Self
    }
}

impl Drop for StreamCount {
    fn drop(&mut self) {
        metrics::gauge!(LOG_STREAMS).decrement(1.0);
    }
}

impl LogsResponder {
    /// Answers requests until `shutdown`, reconnecting as needed. Streams in
    /// progress end with the shutdown (a follower sees its stream end), and
    /// with their channel (their requests go back to the queue for another
    /// worker, which starts afresh).
    pub async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        metrics::gauge!(LOG_STREAMS).set(0.0);
        while !shutdown.is_cancelled() {
            let conn = tokio::select! {
                () = shutdown.cancelled() => break,
                conn = self.broker.connected() => conn,
            };
            let queue = self.topology.logs_queue();
            let consumer = request_queue::consume(
                &conn,
                &queue,
                self.limits.max_streams.max(1),
                "contaxy-logs",
            );
            let (channel, mut requests) = match consumer.await {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "Could not consume logs requests; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            // The streams of this channel: their acks need it.
            let on_channel = shutdown.child_token();
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => break,
                    next = requests.next() => next,
                };
                match next {
                    Some(Ok(delivery)) => {
                        let this = self.clone();
                        let stop = on_channel.child_token();
                        tracker.spawn(async move {
                            let _counted = StreamCount::start();
                            let ended = this.answer(&delivery, stop).await;
                            metrics::counter!(LOG_STREAMS_ENDED, "why" => ended).increment(1);
                            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                        });
                    }
                    _ => break,
                }
            }
            on_channel.cancel();
            let _ = channel.close(200, "logs responder stopping".into()).await;
        }
        tracker.close();
        tracker.wait().await;
    }

    /// Streams one request's output; returns why the stream ended.
    async fn answer(&self, delivery: &Delivery, stop: CancellationToken) -> &'static str {
        let (Some(reply_to), Some(correlation_id)) = (
            delivery
                .properties
                .reply_to()
                .as_ref()
                .map(|s| s.to_string()),
            delivery
                .properties
                .correlation_id()
                .as_ref()
                .map(|s| s.to_string()),
        ) else {
            tracing::warn!("A logs request without reply_to or correlation_id is ignored.");
            return "error";
        };
        let reply = |reply: LogsReply| {
            let reply_to = reply_to.clone();
            let correlation_id = correlation_id.clone();
            async move {
                let (headers, body) = reply.encode();
                self.publisher
                    .publish_reply(&reply_to, &correlation_id, headers, &body)
                    .await
                    .unwrap_or(false)
            }
        };
        let request: LogsRequest = match serde_json::from_slice(&delivery.data) {
            Ok(request) => request,
            Err(error) => {
                let failure = LogsFailure {
                    not_found: false,
                    message: format!("bad logs request: {error}"),
                };
                reply(LogsReply::Error(failure)).await;
                return "error";
            }
        };
        let target = DeploymentRef::new(&request.project_id, &request.deployment_id);
        let options = LogOptions {
            lines: request.lines,
            since: request.since,
            follow: request.follow,
            timestamps: false,
        };
        let mut output = match self.runtime.logs(&target, options).await {
            Ok(output) => output,
            Err(error) => {
                let not_found = matches!(error, RuntimeError::NotFound { .. });
                reply(LogsReply::Error(LogsFailure {
                    not_found,
                    message: error.to_string(),
                }))
                .await;
                return "error";
            }
        };
        if !reply(LogsReply::Start).await {
            return "gone";
        }
        let cap = tokio::time::sleep(self.limits.max_duration);
        tokio::pin!(cap);
        let ended = loop {
            let next = tokio::select! {
                () = stop.cancelled() => break "stopped",
                () = &mut cap => break "cap",
                next = tokio::time::timeout(self.limits.heartbeat, output.next()) => next,
            };
            let delivered = match next {
                // Quiet: is anyone still reading? An empty chunk says
                // nothing to the reader and bounces when it is gone.
                Err(_) => reply(LogsReply::Chunk(Vec::new())).await,
                Ok(Some(Ok(chunk))) => reply(LogsReply::Chunk(chunk.bytes)).await,
                Ok(Some(Err(error))) => {
                    reply(LogsReply::Error(LogsFailure {
                        not_found: false,
                        message: error.to_string(),
                    }))
                    .await;
                    return "error";
                }
                Ok(None) => break "end",
            };
            if !delivered {
                tracing::debug!("The logs requester went away; stopping.");
                return "gone";
            }
        };
        reply(LogsReply::End).await;
        ended
    }
}
