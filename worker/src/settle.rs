//! Settling an attempt with PostgreSQL and the broker: success, a delayed
//! retry, or failure with a dead letter; and refusing a message outright.
//! The retry decision itself is [`crate::retry::decide`].

use std::time::Duration;

use contaxy_common::domain::action::{ActionKind, ErrorClass};
use contaxy_common::message::{ActionMessage, headers};
use contaxy_common::publisher::action_headers;
use contaxy_common::store::actions::{self, ActionRecord, Outcome};
use contaxy_common::store::refusal;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable};
use uuid::Uuid;

use crate::consumer::{ACTIONS_HANDLED, Consumer};
use crate::dispatch::Report;
use crate::error::ActionError;
use crate::retry::{self, Decision};

/// How a delivery is settled with the broker.
pub(crate) enum Settled {
    /// Done with it (whatever the outcome, it is recorded).
    Ack,
    /// Give it back for another try, uncounted: something every message
    /// needs (PostgreSQL, the broker) is away, which is not this message's
    /// fault.
    Requeue,
    /// Give it back at once, uncounted: this worker is stopping and the
    /// attempt did not end within the drain deadline (its claim is
    /// released), or it was never started.
    HandBack,
    /// Give it back for another try, counted in its
    /// [`headers::REDELIVERIES`] header: something went wrong that is
    /// neither the message's data nor a dependency away, and might be the
    /// message. Past `max_redeliveries` it is dead-lettered, so no message
    /// loops for ever.
    Redeliver {
        /// What it does (its queue, its routing key in a dead letter).
        kind: ActionKind,
        /// The action it carries.
        action_id: Uuid,
        /// What went wrong, for the dead letter.
        reason: String,
    },
}

/// How many times a delivery was given back, counted, so far.
fn redeliveries(headers: &FieldTable) -> u32 {
    let count = match headers.inner().get(headers::REDELIVERIES) {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortUInt(n)) => i64::from(*n),
        _ => 0,
    };
    u32::try_from(count.max(0)).unwrap_or(u32::MAX)
}

impl Consumer {
    pub(crate) async fn dead_letter_malformed(
        &self,
        delivery: &Delivery,
        routing_key: &str,
        reason: &str,
    ) -> Settled {
        tracing::warn!(%reason, routing_key, "A malformed message goes to the dead-letter queue.");
        let headers = delivery.properties.headers().clone().unwrap_or_default();
        if let Err(error) = self
            .publisher
            .publish_dead(
                &delivery.data,
                routing_key,
                reason,
                ErrorClass::Malformed,
                headers,
            )
            .await
        {
            tracing::warn!(%error, "Could not dead-letter a malformed message; requeueing it.");
            return Settled::Requeue;
        }
        // A recorded action whose own message cannot be read (written by a
        // newer or broken producer) would be republished for ever: fail it.
        // A well-formed recorded action is not the source of this message,
        // whatever id the message borrows, and is left alone.
        if let Some(id) = ActionMessage::salvage_action_id(&delivery.data)
            && let Ok(Some(record)) = actions::by_id(&self.pool, id).await
            && record.message().is_err()
        {
            let _ = actions::fail_unrun(&self.pool, id, reason, ErrorClass::Malformed).await;
        }
        metrics::counter!(ACTIONS_HANDLED, "kind" => "unknown", "outcome" => "malformed")
            .increment(1);
        Settled::Ack
    }

    pub(crate) async fn settle_attempt(
        &self,
        message: &ActionMessage,
        attempt: u32,
        result: Result<Report, ActionError>,
    ) -> Settled {
        let kind = message.kind().as_str();
        let claim = i32::try_from(attempt).unwrap_or(i32::MAX);
        let error = match result {
            Ok(result) => {
                return match actions::finish(
                    &self.pool,
                    message.action_id,
                    claim,
                    &Outcome::Succeeded { result },
                )
                .await
                {
                    Ok(_) => {
                        tracing::info!(attempt, "The action succeeded.");
                        metrics::counter!(ACTIONS_HANDLED, "kind" => kind, "outcome" => "succeeded").increment(1);
                        Settled::Ack
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Could not record success; requeueing.");
                        Settled::Requeue
                    }
                };
            }
            Err(ActionError::Superseded(reason)) => {
                let outcome = Outcome::Cancelled { reason };
                return match actions::finish(&self.pool, message.action_id, claim, &outcome).await {
                    Ok(_) => {
                        tracing::info!(attempt, "The action was overtaken; it ends cancelled.");
                        metrics::counter!(ACTIONS_HANDLED, "kind" => kind, "outcome" => "cancelled").increment(1);
                        Settled::Ack
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Could not record the cancel; requeueing.");
                        Settled::Requeue
                    }
                };
            }
            Err(error) => error,
        };
        let class = error.class();
        match retry::decide(class, attempt, self.settings.max_attempts) {
            Decision::RetryAfter(delay) => {
                tracing::info!(attempt, %error, ?delay, "The attempt failed transiently; it will be retried.");
                if let Err(e) = self
                    .publisher
                    .publish_retry(message, delay, attempt + 1)
                    .await
                {
                    tracing::warn!(error = %e, "Could not schedule the retry; requeueing.");
                    return Settled::Requeue;
                }
                let outcome = Outcome::Retrying {
                    error: error.to_string(),
                };
                if let Err(e) =
                    actions::finish(&self.pool, message.action_id, claim, &outcome).await
                {
                    tracing::warn!(error = %e, "Could not record the retry; the delayed copy will run it.");
                }
                metrics::counter!(ACTIONS_HANDLED, "kind" => kind, "outcome" => "retrying")
                    .increment(1);
                Settled::Ack
            }
            Decision::GiveUp => {
                let reason = if class == ErrorClass::Transient {
                    format!("gave up after {attempt} attempts: {error}")
                } else {
                    error.to_string()
                };
                tracing::warn!(attempt, %reason, "The action failed.");
                let outcome = Outcome::Failed {
                    error: reason.clone(),
                    class,
                };
                match actions::finish(&self.pool, message.action_id, claim, &outcome).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Another worker's claim now: its attempt decides.
                        tracing::warn!(
                            "The claim ran out meanwhile; the failure is not this worker's to record."
                        );
                        return Settled::Ack;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Could not record the failure; requeueing.");
                        return Settled::Requeue;
                    }
                }
                self.dead_letter(message, &reason, class, attempt).await;
                metrics::counter!(ACTIONS_HANDLED, "kind" => kind, "outcome" => "failed")
                    .increment(1);
                Settled::Ack
            }
        }
    }

    /// Settles a message whose recording or claiming (`what`: "recorded",
    /// "claimed") failed: data PostgreSQL refuses is dead-lettered at once
    /// (it is refused again every time), the database away is waited out,
    /// anything else is given back, counted.
    pub(crate) async fn store_failed(
        &self,
        message: &ActionMessage,
        what: &str,
        error: &sqlx::Error,
    ) -> Settled {
        if let Some(reason) = refusal::data_refused(error) {
            tracing::warn!(%error, %reason, "PostgreSQL refuses the action's data.");
            metrics::counter!(ACTIONS_HANDLED, "kind" => message.kind().as_str(), "outcome" => "refused")
                .increment(1);
            return self.give_up_unclaimed(message, &reason).await;
        }
        if refusal::is_unavailable(error) {
            tracing::warn!(%error, "PostgreSQL is unavailable; requeueing.");
            return Settled::Requeue;
        }
        tracing::warn!(%error, "The action could not be {what}; giving the message back, counted.");
        Settled::Redeliver {
            kind: message.kind(),
            action_id: message.action_id,
            reason: format!(
                "the action could not be {what} ({})",
                refusal::describe(error)
            ),
        }
    }

    /// Gives a delivery back to its work queue with its redelivery count
    /// one higher (a confirmed copy, then the original is acknowledged), or
    /// dead-letters it once the count has reached `max_redeliveries`.
    pub(crate) async fn redeliver(
        &self,
        delivery: &Delivery,
        kind: ActionKind,
        action_id: Uuid,
        reason: &str,
    ) -> Settled {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        let given_back = redeliveries(&headers);
        if given_back >= self.settings.max_redeliveries {
            let reason = format!("given up after {} deliveries: {reason}", given_back + 1);
            tracing::warn!(%reason, "A message goes to the dead-letter queue instead of looping.");
            if let Err(error) = self
                .publisher
                .publish_dead(
                    &delivery.data,
                    kind.as_str(),
                    &reason,
                    ErrorClass::Transient,
                    headers,
                )
                .await
            {
                tracing::warn!(%error, "Could not dead-letter the message; requeueing it.");
                return Settled::Requeue;
            }
            let _ =
                actions::fail_unrun(&self.pool, action_id, &reason, ErrorClass::Transient).await;
            metrics::counter!(ACTIONS_HANDLED, "kind" => kind.as_str(), "outcome" => "failed")
                .increment(1);
            return Settled::Ack;
        }
        // Not spinning on it: the pause paces the loop a bad message makes.
        tokio::time::sleep(Duration::from_secs(1)).await;
        headers.insert(
            headers::REDELIVERIES.into(),
            AMQPValue::LongLongInt(i64::from(given_back) + 1),
        );
        let queue = self.topology.work_queue(kind.family());
        match self
            .publisher
            .publish_to_queue(&queue, &delivery.data, headers)
            .await
        {
            Ok(()) => Settled::Ack,
            Err(error) => {
                tracing::warn!(%error, "Could not give the message back, counted; requeueing it.");
                Settled::Requeue
            }
        }
    }

    /// Dead-letters an action the claim found with its attempts used up
    /// (and failed): its workers stopped without an outcome each time.
    pub(crate) async fn give_up_exhausted(
        &self,
        message: &ActionMessage,
        row: &ActionRecord,
    ) -> Settled {
        let reason = row.last_error.as_deref().unwrap_or("gave up");
        let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        tracing::warn!(attempts, %reason, "The action failed.");
        self.dead_letter(message, reason, ErrorClass::Transient, attempts)
            .await;
        metrics::counter!(ACTIONS_HANDLED, "kind" => message.kind().as_str(), "outcome" => "failed")
            .increment(1);
        Settled::Ack
    }

    /// An action whose turn has not come (an older action on its resource
    /// has not ended): back through the shortest delay queue, to be claimed
    /// again then. Its attempts are untouched.
    pub(crate) async fn wait_turn(&self, message: &ActionMessage, older: Uuid) -> Settled {
        tracing::debug!(%older, "An older action on the same resource has not ended; waiting for it.");
        let delay = contaxy_common::topology::RETRY_DELAYS[0];
        match self.publisher.publish_retry(message, delay, 0).await {
            Ok(()) => {
                metrics::counter!(ACTIONS_HANDLED, "kind" => message.kind().as_str(), "outcome" => "waiting")
                    .increment(1);
                Settled::Ack
            }
            Err(error) => {
                tracing::warn!(%error, "Could not put the waiting action back; requeueing.");
                Settled::Requeue
            }
        }
    }

    /// Fails and dead-letters an action that was recorded but refused at
    /// acceptance (see `crate::accept`): its row keeps the reason.
    pub(crate) async fn refuse_accepted(&self, message: &ActionMessage, reason: &str) -> Settled {
        if let Err(error) =
            actions::fail_unrun(&self.pool, message.action_id, reason, ErrorClass::Permanent).await
        {
            return self.store_failed(message, "refused", &error).await;
        }
        metrics::counter!(ACTIONS_HANDLED, "kind" => message.kind().as_str(), "outcome" => "refused")
            .increment(1);
        self.give_up_unclaimed(message, reason).await
    }

    pub(crate) async fn give_up_unclaimed(&self, message: &ActionMessage, reason: &str) -> Settled {
        tracing::warn!(%reason, "The message is refused.");
        self.dead_letter(message, reason, ErrorClass::Permanent, 0)
            .await;
        Settled::Ack
    }

    /// Dead-letters a message whose failure is already recorded; the action
    /// row holds the reason even if this publish fails.
    async fn dead_letter(
        &self,
        message: &ActionMessage,
        reason: &str,
        class: ErrorClass,
        attempt: u32,
    ) {
        if let Err(error) = self
            .publisher
            .publish_dead(
                &message.to_body(),
                message.kind().as_str(),
                reason,
                class,
                action_headers(message, attempt),
            )
            .await
        {
            tracing::error!(%error, "Could not dead-letter a failed action; its row records the failure.");
        }
    }
}
