//! An image's own configuration, over the broker (request/reply), so the
//! API can suggest a deployment's input from it (contaxy's
//! `…/services:suggest-config`) while holding no runtime credentials.
//!
//! The API declares a private, exclusive reply queue, publishes an
//! [`ImageConfigRequest`] to the `{p}images` queue with `reply_to` and a
//! correlation id and an expiration (a request nobody took in time is not
//! served), and waits for one reply: an [`ImageConfigReply`]. Any worker
//! answers, from its runtime (the Docker backend inspects the image,
//! pulling it first if it is not in the local store).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use lapin::BasicProperties;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::topology::Topology;

/// What the API asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfigRequest {
    /// The image reference (validated by the API).
    pub image: String,
}

/// What an image says about itself (its `Config` in the Engine's terms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Exposed ports as the image writes them (`8080/tcp`).
    pub exposed_ports: Vec<String>,
    /// Paths it declares as volumes.
    pub volumes: Vec<String>,
    /// Its environment.
    pub env: BTreeMap<String, String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its ENTRYPOINT.
    pub entrypoint: Vec<String>,
    /// Its CMD.
    pub cmd: Vec<String>,
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageConfigReply {
    /// The image's configuration.
    Found(ImageConfig),
    /// The image is not there and could not be pulled.
    NotFound(String),
    /// The lookup failed otherwise.
    Failed(String),
}

/// Why the API could not get an image's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ImageConfigError {
    /// Not connected to RabbitMQ.
    #[error("not connected to RabbitMQ")]
    NotConnected,
    /// No worker answered in time.
    #[error("no worker answered within {} s", .0.as_secs())]
    NoWorker(Duration),
    /// The image is not there and could not be pulled.
    #[error("{0}")]
    NotFound(String),
    /// The worker could not read the image.
    #[error("{0}")]
    Failed(String),
    /// The broker failed.
    #[error("RabbitMQ failed: {0}")]
    Amqp(#[from] lapin::Error),
}

/// Asks a worker for `image`'s configuration; waits at most `answer_within`.
pub async fn request(
    broker: &Broker,
    topology: &Topology,
    request: &ImageConfigRequest,
    answer_within: Duration,
) -> Result<ImageConfig, ImageConfigError> {
    let conn = broker.connection().ok_or(ImageConfigError::NotConnected)?;
    let channel = conn.create_channel().await?;
    let asked = async {
        let queue = channel
            .queue_declare(
                ShortString::from(""),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
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
            .with_expiration(answer_within.as_millis().to_string().into());
        let body =
            serde_json::to_vec(request).map_err(|e| ImageConfigError::Failed(e.to_string()))?;
        channel
            .basic_publish(
                ShortString::from(""),
                topology.image_config_queue().into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await?;
        let reply = tokio::time::timeout(answer_within, replies.next())
            .await
            .map_err(|_| ImageConfigError::NoWorker(answer_within))?;
        let delivery = match reply {
            Some(Ok(delivery)) => delivery,
            Some(Err(error)) => return Err(error.into()),
            None => {
                return Err(ImageConfigError::Failed(
                    "the reply queue closed".to_owned(),
                ));
            }
        };
        delivery.acker.ack(BasicAckOptions::default()).await?;
        match serde_json::from_slice(&delivery.data) {
            Ok(ImageConfigReply::Found(config)) => Ok(config),
            Ok(ImageConfigReply::NotFound(message)) => Err(ImageConfigError::NotFound(message)),
            Ok(ImageConfigReply::Failed(message)) => Err(ImageConfigError::Failed(message)),
            Err(_) => Err(ImageConfigError::Failed(
                "the worker's reply was not understood".to_owned(),
            )),
        }
    };
    let answer = asked.await;
    // Closing the channel deletes the exclusive reply queue.
    let _ = channel.close(200, "image config request done".into()).await;
    answer
}
