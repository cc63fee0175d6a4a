//! Answers image configuration requests from the API (see
//! `contaxy_common::image_config`): reads the image's configuration from
//! the runtime (the Docker backend pulls an image it does not have, as a
//! deploy would) and replies once. At most [`CONCURRENT`] lookups run at
//! once (the queue's prefetch); a request is acknowledged once answered,
//! and one the API gave up on expires in the queue.

use std::sync::Arc;
use std::time::Duration;

use contaxy_common::broker::Broker;
use contaxy_common::image_config::{ImageConfigReply, ImageConfigRequest};
use contaxy_common::publisher::Publisher;
use contaxy_common::topology::Topology;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::request_queue;
use crate::runtime::{Runtime, RuntimeError};

/// Lookups one worker runs at once.
pub const CONCURRENT: u16 = 4;

/// Consumes the image configuration queue until `shutdown`.
#[derive(Debug, Clone)]
pub struct ImageConfigResponder {
    pub(crate) broker: Broker,
    pub(crate) topology: Topology,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) publisher: Arc<Publisher>,
}

impl ImageConfigResponder {
    /// Answers requests until `shutdown`, reconnecting as needed.
    pub async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        while !shutdown.is_cancelled() {
            let conn = tokio::select! {
                () = shutdown.cancelled() => break,
                conn = self.broker.connected() => conn,
            };
            let queue = self.topology.image_config_queue();
            let consumer = request_queue::consume(&conn, &queue, CONCURRENT, "contaxy-images");
            let (channel, mut requests) = match consumer.await {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "Could not consume image configuration requests; retrying.");
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
                        tracker.spawn(async move {
                            this.answer(&delivery).await;
                            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                        });
                    }
                    _ => break,
                }
            }
            let _ = channel
                .close(200, "image configuration responder stopping".into())
                .await;
        }
        tracker.close();
        tracker.wait().await;
    }

    async fn answer(&self, delivery: &Delivery) {
        let properties = &delivery.properties;
        let (Some(reply_to), Some(correlation_id)) = (
            properties.reply_to().as_ref(),
            properties.correlation_id().as_ref(),
        ) else {
            tracing::warn!(
                "An image configuration request without reply_to or correlation_id is ignored."
            );
            return;
        };
        let reply = match serde_json::from_slice::<ImageConfigRequest>(&delivery.data) {
            Err(error) => {
                ImageConfigReply::Failed(format!("bad image configuration request: {error}"))
            }
            Ok(request) => match self.runtime.image_config(&request.image).await {
                Ok(config) => ImageConfigReply::Found(config),
                Err(
                    error @ (RuntimeError::ImageUnavailable { .. } | RuntimeError::NotFound { .. }),
                ) => ImageConfigReply::NotFound(error.to_string()),
                Err(error) => ImageConfigReply::Failed(error.to_string()),
            },
        };
        let body = match serde_json::to_vec(&reply) {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(%error, "Could not encode an image configuration reply.");
                return;
            }
        };
        let sent = self
            .publisher
            .publish_reply(
                reply_to.as_str(),
                correlation_id.as_str(),
                FieldTable::default(),
                &body,
            )
            .await;
        if !matches!(sent, Ok(true)) {
            tracing::debug!("The image configuration requester went away.");
        }
    }
}
