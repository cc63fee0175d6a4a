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
//! ```
//!
//! `{p}` is `CONTAXY_TOPOLOGY_PREFIX`, so installs and tests can share a
//! broker. A delay queue's name carries its delay, so a changed ladder makes
//! new queues instead of clashing with the old ones' arguments.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

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

/// Names of every exchange and queue, under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    /// The topology under `prefix` (may be empty).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
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

    /// Declares everything (idempotent: redeclaring with the same arguments
    /// is a no-op for RabbitMQ).
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
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
        declare_bound(
            channel,
            &self.dead_queue(),
            &self.dead_exchange(),
            "",
            FieldTable::default(),
            queue,
        )
        .await?;
        // Logs requests are published straight to their queue and expire on
        // their own (per-message TTL).
        channel
            .queue_declare(self.logs_queue().into(), queue, FieldTable::default())
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
