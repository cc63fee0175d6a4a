//! A test's own view of RabbitMQ, under its topology prefix: queue lengths,
//! taking messages off a queue, publishing raw bodies as another system
//! would, and removing the test's exchanges and queues at the end.

use std::time::Duration;

use contaxy_common::domain::action::ActionFamily;
use contaxy_common::topology::{RETRY_DELAYS, Topology};
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// Where the tests reach RabbitMQ: `CONTAXY_TEST_AMQP_URL`, else the loopback
/// broker's virtual host `contaxy-test`, which `scripts/test.sh` empties at the
/// start of every run (see `scripts/provision.sh`).
pub fn amqp_url() -> String {
    std::env::var("CONTAXY_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/contaxy-test".to_owned())
}

/// A connection to RabbitMQ for assertions on one topology.
#[derive(Debug)]
pub struct TestBroker {
    conn: Connection,
    topology: Topology,
}

impl TestBroker {
    /// Connects to the broker the tests use.
    pub async fn connect(topology: Topology) -> Self {
        let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("cannot reach RabbitMQ ({e}); run scripts/provision.sh"));
        Self { conn, topology }
    }

    /// The topology it looks at.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// A fresh channel: a failed passive declare closes its channel, so
    /// every helper uses its own.
    async fn channel(&self) -> Channel {
        self.conn.create_channel().await.expect("open a channel")
    }

    /// A private queue bound to `exchange` with `pattern`, consumed without
    /// acks: every message published there from now on.
    pub async fn subscribe(&self, exchange: &str, pattern: &str) -> lapin::Consumer {
        let channel = self.channel().await;
        let private = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        let queue = channel
            .queue_declare(ShortString::from(""), private, FieldTable::default())
            .await
            .expect("declare a private queue");
        channel
            .queue_bind(
                queue.name().clone(),
                ShortString::from(exchange),
                ShortString::from(pattern),
                lapin::options::QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind it");
        let no_ack = lapin::options::BasicConsumeOptions {
            no_ack: true,
            ..lapin::options::BasicConsumeOptions::default()
        };
        channel
            .basic_consume(
                queue.name().clone(),
                ShortString::from(""),
                no_ack,
                FieldTable::default(),
            )
            .await
            .expect("consume it")
    }

    /// The number of ready messages in `queue` (passive declare). `None`
    /// when the queue does not exist.
    pub async fn queue_len(&self, queue: &str) -> Option<u32> {
        let channel = self.channel().await;
        let declared = channel
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .ok()?;
        let _ = channel.close(200, "done".into()).await;
        Some(declared.message_count())
    }

    /// Takes one message off `queue` (acknowledged), if there is one.
    pub async fn get(&self, queue: &str) -> Option<BasicGetMessage> {
        let channel = self.channel().await;
        let message = channel
            .basic_get(ShortString::from(queue), BasicGetOptions::default())
            .await
            .expect("basic.get")?;
        message
            .delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
        let _ = channel.close(200, "done".into()).await;
        Some(message)
    }

    /// Takes every message now in the `dead` queue.
    pub async fn drain_dead(&self) -> Vec<BasicGetMessage> {
        let queue = self.topology.dead_queue();
        let mut out = Vec::new();
        while let Some(message) = self.get(&queue).await {
            out.push(message);
        }
        out
    }

    /// Publishes `body` to the actions exchange with `routing_key`,
    /// persistent and confirmed, as another system would.
    pub async fn publish_action(&self, routing_key: &str, body: &[u8]) {
        self.publish_action_as(routing_key, body, None).await;
    }

    /// Like [`Self::publish_action`], with the AMQP `user_id` property set
    /// (RabbitMQ refuses one that is not the connection's user).
    pub async fn publish_action_as(&self, routing_key: &str, body: &[u8], user_id: Option<&str>) {
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        if let Some(user_id) = user_id {
            properties = properties.with_user_id(user_id.into());
        }
        let channel = self.channel().await;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        let confirm = channel
            .basic_publish(
                ShortString::from(self.topology.actions_exchange()),
                ShortString::from(routing_key),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .expect("publish")
            .await
            .expect("the broker confirms");
        assert!(confirm.is_ack(), "the broker nacked the publish");
        assert!(
            confirm.take_message().is_none(),
            "the publish to {routing_key} was not routed to any queue"
        );
        let _ = channel.close(200, "done".into()).await;
    }

    /// Deletes every exchange and queue of the topology.
    pub async fn delete_topology(&self) -> lapin::Result<()> {
        let channel = self.channel().await;
        let t = &self.topology;
        let mut queues = vec![t.dead_queue(), t.logs_queue(), t.image_config_queue()];
        for family in ActionFamily::ALL {
            queues.push(t.work_queue(family));
            queues.extend(RETRY_DELAYS.iter().map(|d| t.delay_queue(family, *d)));
        }
        for queue in queues {
            channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await?;
        }
        for exchange in [
            t.actions_exchange(),
            t.events_exchange(),
            t.retry_exchange(),
            t.dead_exchange(),
        ] {
            channel
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await?;
        }
        channel.close(200, "done".into()).await
    }
}

/// A header of a message as text (long strings and short strings alike).
pub fn header(message: &BasicGetMessage, name: &str) -> Option<String> {
    let headers = message.delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        AMQPValue::ShortString(value) => Some(value.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Removes a test's topology from a thread of its own (for `Drop`).
pub fn delete_topology_blocking(topology: Topology) {
    let deleted = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let broker = tokio::time::timeout(
                Duration::from_secs(10),
                TestBroker::connect(topology.clone()),
            )
            .await?;
            broker.delete_topology().await?;
            Ok::<_, anyhow::Error>(())
        })
    })
    .join();
    if let Ok(Err(error)) = deleted {
        eprintln!("could not delete the test's broker topology: {error}");
    }
}
