//! The broker topology, declared in one place and applied idempotently at
//! start (and after every reconnect) by the api and the worker.
//!
//! ```text
//! {p}actions  (topic)  ── deployment.# ──► {p}deployment ─┐
//!                      ── network.#    ──► {p}network     │ workers consume
//!                      ── file.#       ──► {p}file        │ (manual ack)
//!                      ── project.#    ──► {p}project    ─┘
//! {p}retry    (direct) ── <family>.<delay> ──► {p}retry.<family>.<delay>
//!                         (message TTL = delay, then dead-lettered
//!                          straight back to the family's work queue)
//! {p}dead     (fanout) ──► {p}dead      (given-up messages, reason in headers)
//! {p}events   (topic)  ── deployment.<project>.<status> ──► whoever listens
//! {p}logs     (queue)  ◄── logs requests from the api (request/reply)
//! {p}images   (queue)  ◄── image configuration requests from the api (request/reply)
//! ```
//!
//! `{p}` is `CONTAXY_TOPOLOGY_PREFIX`, so installs and tests can share a
//! broker. A delay queue's name carries its delay, so a changed ladder makes
//! new queues instead of clashing with the old ones' arguments.
//!
//! `{p}dead` is bounded (`x-max-length`, `CONTAXY_DEAD_QUEUE_MAX_LENGTH`):
//! past the bound RabbitMQ drops the oldest dead letter (its default
//! overflow, `drop-head`). A dead letter is a copy for replay: the action's
//! row keeps its failure and reason. A dead queue declared before with
//! other arguments cannot be changed in place (RabbitMQ refuses the
//! declare); it is then used as it is, with a warning to bound it by a
//! policy or delete it.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ErrorKind, ExchangeKind};

use crate::domain::action::ActionFamily;

/// The delays between attempts, growing; attempts past the end reuse the
/// last one.
pub const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];

/// The dead queue's bound unless configured (`CONTAXY_DEAD_QUEUE_MAX_LENGTH`).
pub const DEFAULT_DEAD_QUEUE_MAX_LENGTH: u32 = 100_000;

/// Names of every exchange and queue, under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    dead_max_length: u32,
}

impl Topology {
    /// The topology under `prefix` (may be empty), the dead queue bounded
    /// at [`DEFAULT_DEAD_QUEUE_MAX_LENGTH`].
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            dead_max_length: DEFAULT_DEAD_QUEUE_MAX_LENGTH,
        }
    }

    /// The same topology with the dead queue bounded at `max_length`
    /// messages (0: unbounded). Every process of an installation must use
    /// the same bound (RabbitMQ refuses a declare with other arguments).
    pub fn with_dead_max_length(mut self, max_length: u32) -> Self {
        self.dead_max_length = max_length;
        self
    }

    /// The dead queue's bound (0: none).
    pub fn dead_max_length(&self) -> u32 {
        self.dead_max_length
    }

    fn name(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    /// Where actions are published (topic; routing key = action kind).
    pub fn actions_exchange(&self) -> String {
        self.name("actions")
    }

    /// Where status events are published (topic).
    pub fn events_exchange(&self) -> String {
        self.name("events")
    }

    /// Where messages waiting for another attempt are published.
    pub fn retry_exchange(&self) -> String {
        self.name("retry")
    }

    /// Where given-up messages are published.
    pub fn dead_exchange(&self) -> String {
        self.name("dead")
    }

    /// The queue of given-up messages.
    pub fn dead_queue(&self) -> String {
        self.name("dead")
    }

    /// The queue of logs requests (request/reply; any worker answers).
    pub fn logs_queue(&self) -> String {
        self.name("logs")
    }

    /// The queue of image configuration requests (request/reply; any
    /// worker answers).
    pub fn image_config_queue(&self) -> String {
        self.name("images")
    }

    /// The work queue of a family.
    pub fn work_queue(&self, family: ActionFamily) -> String {
        self.name(family.as_str())
    }

    /// The routing key on the retry exchange for `family` after `delay`.
    pub fn retry_routing_key(family: ActionFamily, delay: Duration) -> String {
        format!("{}.{}ms", family.as_str(), delay.as_millis())
    }

    /// The delay queue of `family` for `delay`.
    pub fn delay_queue(&self, family: ActionFamily, delay: Duration) -> String {
        self.name(&format!("retry.{}", Self::retry_routing_key(family, delay)))
    }

    /// Declares everything on `conn` (idempotent: redeclaring with the same
    /// arguments is a no-op for RabbitMQ).
    pub async fn declare(&self, conn: &Connection) -> lapin::Result<()> {
        let channel = conn.create_channel().await?;
        self.declare_on(&channel).await?;
        channel.close(200, "topology declared".into()).await?;
        self.declare_dead_queue(conn).await
    }

    /// The bounded dead queue, bound to the dead exchange; an existing one
    /// with other arguments is kept as it is (see the module documentation).
    async fn declare_dead_queue(&self, conn: &Connection) -> lapin::Result<()> {
        let queue = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let mut args = FieldTable::default();
        if self.dead_max_length > 0 {
            args.insert(
                "x-max-length".into(),
                AMQPValue::LongLongInt(i64::from(self.dead_max_length)),
            );
        }
        // A refused declare closes its channel: one of its own.
        let channel = conn.create_channel().await?;
        let dead = self.dead_queue();
        let exchange = self.dead_exchange();
        match declare_bound(&channel, &dead, &exchange, "", args, queue).await {
            Ok(()) => channel.close(200, "dead queue declared".into()).await,
            Err(error) if is_precondition_failed(&error) => {
                tracing::warn!(
                    queue = dead,
                    max_length = self.dead_max_length,
                    "The dead queue exists with other arguments and is used as it is; bound it with a policy (max-length) or delete it so that it is declared bounded."
                );
                let channel = conn.create_channel().await?;
                let passive = QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                };
                declare_bound(
                    &channel,
                    &dead,
                    &exchange,
                    "",
                    FieldTable::default(),
                    passive,
                )
                .await?;
                channel.close(200, "dead queue declared".into()).await
            }
            Err(error) => Err(error),
        }
    }

    /// Everything but the dead queue, on `channel`.
    async fn declare_on(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for (exchange, kind) in [
            (self.actions_exchange(), ExchangeKind::Topic),
            (self.events_exchange(), ExchangeKind::Topic),
            (self.retry_exchange(), ExchangeKind::Direct),
            (self.dead_exchange(), ExchangeKind::Fanout),
        ] {
            channel
                .exchange_declare(exchange.into(), kind, durable, FieldTable::default())
                .await?;
        }
        let queue = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        // Logs requests are published straight to their queue and expire on
        // their own (per-message TTL).
        channel
            .queue_declare(self.logs_queue().into(), queue, FieldTable::default())
            .await?;
        channel
            .queue_declare(
                self.image_config_queue().into(),
                queue,
                FieldTable::default(),
            )
            .await?;
        for family in ActionFamily::ALL {
            let work = self.work_queue(family);
            let pattern = format!("{}.#", family.as_str());
            declare_bound(
                channel,
                &work,
                &self.actions_exchange(),
                &pattern,
                FieldTable::default(),
                queue,
            )
            .await?;
            for delay in RETRY_DELAYS {
                let mut args = FieldTable::default();
                args.insert(
                    "x-message-ttl".into(),
                    AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
                );
                // Back to the work queue through the default exchange, so the
                // message keeps its family whatever its routing key.
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString("".into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(work.as_str().into()),
                );
                declare_bound(
                    channel,
                    &self.delay_queue(family, delay),
                    &self.retry_exchange(),
                    &Self::retry_routing_key(family, delay),
                    args,
                    queue,
                )
                .await?;
            }
        }
        Ok(())
    }
}

fn is_precondition_failed(error: &lapin::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ProtocolError(e)
            if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED))
    )
}

async fn declare_bound(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    routing_key: &str,
    args: FieldTable,
    options: QueueDeclareOptions,
) -> lapin::Result<()> {
    channel.queue_declare(queue.into(), options, args).await?;
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            ShortString::from(routing_key),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix_and_the_delay() {
        let t = Topology::new("t1.");
        assert_eq!(t.actions_exchange(), "t1.actions");
        assert_eq!(t.work_queue(ActionFamily::Deployment), "t1.deployment");
        assert_eq!(
            t.delay_queue(ActionFamily::Network, Duration::from_secs(5)),
            "t1.retry.network.5000ms"
        );
        assert_eq!(Topology::new("").dead_queue(), "dead");
    }

    #[test]
    fn delays_grow() {
        assert!(RETRY_DELAYS.windows(2).all(|w| w[0] < w[1]));
    }
}
