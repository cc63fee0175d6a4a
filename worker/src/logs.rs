//! Answers logs requests from the API (see `contaxy_common::logs`): reads the
//! deployment's output from the runtime and streams it back in chunks, until
//! the output ends or the requester goes away.

use std::sync::Arc;
use std::time::Duration;

use contaxy_common::broker::Broker;
use contaxy_common::logs::{LogsFailure, LogsReply, LogsRequest};
use contaxy_common::publisher::Publisher;
use contaxy_common::topology::Topology;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::runtime::{DeploymentRef, LogOptions, Runtime, RuntimeError};

/// Logs requests one worker streams at once.
const CONCURRENT_REQUESTS: u16 = 32;

/// Consumes the logs queue until `shutdown`.
#[derive(Debug, Clone)]
pub struct LogsResponder {
    pub(crate) broker: Broker,
    pub(crate) topology: Topology,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) publisher: Arc<Publisher>,
}

impl LogsResponder {
    /// Answers requests until `shutdown`, reconnecting as needed. Streams in
    /// progress end with the shutdown (a follower sees its stream end).
    pub async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        while !shutdown.is_cancelled() {
            let conn = tokio::select! {
                () = shutdown.cancelled() => break,
                conn = self.broker.connected() => conn,
            };
            let consumer = async {
                let channel = conn.create_channel().await?;
                channel
                    .basic_qos(CONCURRENT_REQUESTS, BasicQosOptions::default())
                    .await?;
                let consumer = channel
                    .basic_consume(
                        self.topology.logs_queue().into(),
                        format!("contaxy-logs-{}", uuid::Uuid::new_v4().simple()).into(),
                        BasicConsumeOptions {
                            no_ack: true,
                            ..BasicConsumeOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await?;
                Ok::<_, lapin::Error>((channel, consumer))
            };
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
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => break,
                    next = requests.next() => next,
                };
                match next {
                    Some(Ok(delivery)) => {
                        let this = self.clone();
                        let stop = shutdown.child_token();
                        tracker.spawn(async move { this.answer(delivery, stop).await });
                    }
                    _ => break,
                }
            }
            let _ = channel.close(200, "logs responder stopping".into()).await;
        }
        tracker.close();
        tracker.wait().await;
    }

    async fn answer(&self, delivery: Delivery, stop: CancellationToken) {
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
            return;
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
                return;
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
                return;
            }
        };
        if !reply(LogsReply::Start).await {
            return;
        }
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => break,
                next = output.next() => next,
            };
            let delivered = match next {
                Some(Ok(chunk)) => reply(LogsReply::Chunk(chunk.bytes)).await,
                Some(Err(error)) => {
                    reply(LogsReply::Error(LogsFailure {
                        not_found: false,
                        message: error.to_string(),
                    }))
                    .await;
                    return;
                }
                None => break,
            };
            if !delivered {
                tracing::debug!("The logs requester went away; stopping.");
                return;
            }
        }
        reply(LogsReply::End).await;
    }
}
