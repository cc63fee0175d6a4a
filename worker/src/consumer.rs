//! Consuming actions: one channel, one consumer per family queue, manual
//! acks, at most `concurrency` deliveries handled at once across them (a
//! semaphore: RabbitMQ's prefetch counts per consumer, so it alone would
//! allow one `concurrency` per family).
//!
//! A delivery is acknowledged only after its outcome is committed to
//! PostgreSQL (and, for a retry, after the delayed copy is confirmed by the
//! broker). Nothing holds a delivery for longer than one attempt takes: a
//! job that runs for hours is followed through runtime events, not through
//! an open delivery.
//!
//! Stopping drains: on shutdown the consumers are cancelled (deliveries not
//! yet started go straight back to their queues), attempts in flight run on
//! with the connection still open, so their outcomes, retries and acks go
//! through; an attempt still running at the drain deadline is handed back
//! (claim released, delivery requeued) for another worker. The broker
//! connection closes only after this (see `startup`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use contaxy_common::broker::Broker;
use contaxy_common::domain::action::ActionFamily;
use contaxy_common::message::ActionMessage;
use contaxy_common::publisher::Publisher;
use contaxy_common::store::actions::{self, ActionRecord, Claim, NewAction};
use contaxy_common::submit::{self, Submitted};
use contaxy_common::topology::Topology;
use futures::StreamExt;
use futures::stream::select_all;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::accept::BrokerResource;
use crate::context::ActionContext;
use crate::dispatch;
use crate::drain::stop_consuming;
use crate::error::ActionError;
use crate::settle::Settled;

/// Metric: actions handled, by kind and outcome.
pub(crate) const ACTIONS_HANDLED: &str = "contaxy_worker_actions_total";
/// Metric: seconds one attempt took, by kind.
const ATTEMPT_SECONDS: &str = "contaxy_worker_attempt_seconds";

/// How the consumer behaves.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Deliveries handled at once by this worker, across all family queues
    /// (also each family consumer's prefetch).
    pub concurrency: u16,
    /// Attempts before a transiently failing action is given up.
    pub max_attempts: u32,
    /// Times one message is given back to its queue, counted, before it is
    /// dead-lettered (see [`Settled::Redeliver`]).
    pub max_redeliveries: u32,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// How long a claim holds without renewal; renewed every third of it
    /// while the attempt runs, so a dead worker's claim runs out within one
    /// lease.
    pub lease: Duration,
    /// How long attempts in flight may run on after shutdown before they
    /// are handed back.
    pub drain_timeout: Duration,
}

/// Everything a delivery's handling needs.
#[derive(Debug)]
pub struct Consumer {
    pub(crate) pool: PgPool,
    pub(crate) broker: Broker,
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) topology: Topology,
    pub(crate) context: Arc<ActionContext>,
    pub(crate) settings: ConsumerSettings,
    /// One permit per delivery handled at once: `settings.concurrency` in
    /// all, across the family queues.
    pub(crate) slots: Arc<Semaphore>,
}

impl Consumer {
    /// Consumes until `shutdown`, reconnecting when the connection drops.
    /// On shutdown it stops taking deliveries and lets those in hand finish.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        // Cancelled at the drain deadline: attempts still running then are
        // handed back.
        let hand_back = CancellationToken::new();
        let deadline = tokio::spawn({
            let (shutdown, hand_back) = (shutdown.clone(), hand_back.clone());
            let drain = self.settings.drain_timeout;
            async move {
                shutdown.cancelled().await;
                tokio::time::sleep(drain).await;
                hand_back.cancel();
            }
        });
        while !shutdown.is_cancelled() {
            let conn = tokio::select! {
                () = shutdown.cancelled() => break,
                conn = self.broker.connected() => conn,
            };
            match self.open(&conn).await {
                Ok((channel, streams)) => {
                    tracing::info!("Consuming actions.");
                    let tags: Vec<_> = streams.iter().map(lapin::Consumer::tag).collect();
                    let mut deliveries = select_all(streams);
                    loop {
                        // The bound on attempts at once, whichever queue
                        // they come from: a delivery is taken only with a
                        // permit in hand (the prefetch is per consumer, and
                        // there is one consumer per family).
                        let permit = tokio::select! {
                            () = shutdown.cancelled() => break,
                            permit = Arc::clone(&self.slots).acquire_owned() => permit,
                        };
                        let Ok(permit) = permit else { break };
                        let next = tokio::select! {
                            () = shutdown.cancelled() => break,
                            next = deliveries.next() => next,
                        };
                        match next {
                            Some(Ok(delivery)) => {
                                let this = Arc::clone(&self);
                                let hand_back = hand_back.clone();
                                tracker.spawn(async move {
                                    this.handle(delivery, &hand_back).await;
                                    drop(permit);
                                });
                            }
                            Some(Err(error)) => {
                                tracing::warn!(%error, "The consumer failed; reconnecting.");
                                break;
                            }
                            None => break,
                        }
                    }
                    if shutdown.is_cancelled() {
                        stop_consuming(&channel, &tags, &mut deliveries).await;
                        tracing::info!(
                            in_flight = tracker.len(),
                            "Stopped taking actions; draining those in hand."
                        );
                    }
                    // Unacked deliveries of a closed channel are requeued by
                    // RabbitMQ. Let ours finish (or be handed back) first.
                    tracker.close();
                    tracker.wait().await;
                    tracker.reopen();
                    let _ = channel.close(200, "consumer stopping".into()).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "Could not start consuming; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        tracker.close();
        tracker.wait().await;
        deadline.abort();
    }

    async fn open(
        &self,
        conn: &lapin::Connection,
    ) -> lapin::Result<(Channel, Vec<lapin::Consumer>)> {
        let channel = conn.create_channel().await?;
        channel
            .basic_qos(self.settings.concurrency, BasicQosOptions::default())
            .await?;
        let mut streams = Vec::new();
        for family in ActionFamily::ALL {
            let queue = self.topology.work_queue(family);
            let consumer = channel
                .basic_consume(
                    queue.as_str().into(),
                    format!(
                        "contaxy-worker-{}-{}",
                        family.as_str(),
                        uuid::Uuid::new_v4().simple()
                    )
                    .into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            streams.push(consumer);
        }
        Ok((channel, streams))
    }

    async fn handle(&self, delivery: Delivery, hand_back: &CancellationToken) {
        let routing_key = delivery.routing_key.to_string();
        let settled = match ActionMessage::parse(&delivery.data) {
            Err(malformed) => {
                self.dead_letter_malformed(&delivery, &routing_key, &malformed.to_string())
                    .await
            }
            Ok(message) => {
                let span = tracing::info_span!(
                    "action",
                    action_id = %message.action_id,
                    project_id = %message.project_id,
                    kind = %message.kind(),
                );
                let publisher = delivery
                    .properties
                    .user_id()
                    .as_ref()
                    .map(ToString::to_string);
                self.handle_action(&message, publisher, delivery.redelivered, hand_back)
                    .instrument(span)
                    .await
            }
        };
        let settled = match settled {
            Settled::Redeliver {
                kind,
                action_id,
                reason,
            } => self.redeliver(&delivery, kind, action_id, &reason).await,
            other => other,
        };
        let acked = match settled {
            Settled::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
            Settled::HandBack => {
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
            Settled::Requeue | Settled::Redeliver { .. } => {
                // Something we need (PostgreSQL, the broker) is away; give
                // the message back after a pause rather than spinning on it.
                tokio::time::sleep(Duration::from_secs(1)).await;
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
        };
        if let Err(error) = acked {
            tracing::warn!(%error, "Could not settle a delivery; RabbitMQ will redeliver it.");
        }
    }

    /// Records, claims, executes and settles one action. `redelivered`: the
    /// broker gave the delivery back from a consumer that went away.
    async fn handle_action(
        &self,
        message: &ActionMessage,
        broker_user: Option<String>,
        redelivered: bool,
        hand_back: &CancellationToken,
    ) -> Settled {
        // A message from another system may have no row yet: accept it as
        // the API would have (see `accept`).
        let accepted = submit::record(
            &self.pool,
            NewAction {
                broker_user,
                ..NewAction::from_message(message)
            },
            BrokerResource {
                message,
                quotas: &self.context.quotas,
            },
        )
        .await;
        match accepted {
            Ok(Submitted::Repeat(row)) if row.project_id != message.project_id => {
                let reason = "the action id belongs to another project";
                return self.give_up_unclaimed(message, reason).await;
            }
            Ok(Submitted::Repeat(row)) if row.id != message.action_id => {
                // Said, not dropped: the producer sent one request twice.
                let reason = format!(
                    "a duplicate: action {} was accepted with the same idempotency key",
                    row.id
                );
                metrics::counter!(ACTIONS_HANDLED, "kind" => message.kind().as_str(), "outcome" => "duplicate")
                    .increment(1);
                return self.give_up_unclaimed(message, &reason).await;
            }
            Ok(Submitted::Repeat(row)) if !same_action(&row, message) => {
                // The message is executed, not the row: they must agree.
                let reason = "the action id belongs to another action";
                return self.give_up_unclaimed(message, reason).await;
            }
            Ok(Submitted::New {
                row: Err(reason), ..
            }) => {
                return self.refuse_accepted(message, &reason).await;
            }
            Ok(_) => {}
            Err(error) => return self.store_failed(message, "recorded", &error).await,
        }
        let mut claim = self.claim(message).await;
        if let Ok(Claim::Held(until)) = &claim
            && redelivered
        {
            // Given back by a consumer that went away: most likely the
            // worker holding the claim died, and its lease, no longer
            // renewed, runs out within one lease. Wait that long (bounded,
            // whatever the clocks say) and claim again; a live holder has
            // renewed it by then, and this is a duplicate after all.
            let left = (*until - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(self.settings.lease);
            tokio::select! {
                () = tokio::time::sleep(left + Duration::from_millis(500)) => {}
                () = hand_back.cancelled() => return Settled::HandBack,
            }
            claim = self.claim(message).await;
        }
        let claimed = match claim {
            Ok(Claim::Claimed(row)) => row,
            Ok(Claim::Exhausted(row)) => return self.give_up_exhausted(message, &row).await,
            Ok(Claim::Waiting(older)) => return self.wait_turn(message, older).await,
            Ok(Claim::Held(_) | Claim::NotClaimable) => {
                tracing::debug!("The action is finished or held by another worker; a duplicate.");
                metrics::counter!(ACTIONS_HANDLED, "kind" => message.kind().as_str(), "outcome" => "duplicate")
                    .increment(1);
                return Settled::Ack;
            }
            Err(error) => return self.store_failed(message, "claimed", &error).await,
        };
        let attempt = u32::try_from(claimed.attempts).unwrap_or(u32::MAX);
        let started = std::time::Instant::now();
        let attempt_run = tokio::time::timeout(
            self.settings.attempt_timeout,
            dispatch::execute(&self.context, message),
        );
        let result = tokio::select! {
            finished = attempt_run => match finished {
                Ok(result) => result,
                Err(_) => Err(ActionError::TimedOut(self.settings.attempt_timeout)),
            },
            never = self.heartbeat(message, claimed.attempts) => match never {},
            () = hand_back.cancelled() => return self.hand_back(message, claimed.attempts).await,
        };
        metrics::histogram!(ATTEMPT_SECONDS, "kind" => message.kind().as_str())
            .record(started.elapsed().as_secs_f64());
        self.settle_attempt(message, attempt, result).await
    }
}

impl Consumer {
    async fn claim(&self, message: &ActionMessage) -> sqlx::Result<Claim> {
        actions::claim(
            &self.pool,
            message.action_id,
            self.settings.lease,
            self.settings.max_attempts,
        )
        .await
    }

    /// Renews the claim of attempt `attempt` every third of a lease, for as
    /// long as it is polled (while the attempt runs).
    async fn heartbeat(&self, message: &ActionMessage, attempt: i32) -> Infallible {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match actions::renew(&self.pool, message.action_id, attempt, self.settings.lease).await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    "The claim ran out and another worker took the action over; this attempt's outcome will not be recorded."
                ),
                Err(error) => tracing::warn!(%error, "Could not renew the claim; trying again."),
            }
        }
    }
}

/// Whether a recorded row is the action the message carries: a message that
/// reuses another action's id must not run in its name.
fn same_action(row: &ActionRecord, message: &ActionMessage) -> bool {
    row.message()
        .is_ok_and(|recorded| recorded.action == message.action)
}
