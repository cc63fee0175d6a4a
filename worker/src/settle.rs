//! Settling an attempt with PostgreSQL and the broker: success, a delayed
//! retry, or failure with a dead letter; and refusing a message outright.
//! The retry decision itself is [`crate::retry::decide`].

use contaxy_common::domain::action::ErrorClass;
use contaxy_common::message::ActionMessage;
use contaxy_common::publisher::action_headers;
use contaxy_common::store::actions::{self, Outcome};
use lapin::message::Delivery;

use crate::consumer::{ACTIONS_HANDLED, Consumer};
use crate::error::ActionError;
use crate::retry::{self, Decision};

/// How a delivery is settled with the broker.
pub(crate) enum Settled {
    /// Done with it (whatever the outcome, it is recorded).
    Ack,
    /// Give it back for another try.
    Requeue,
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
        if let Some(id) = ActionMessage::salvage_action_id(&delivery.data) {
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
        result: Result<(), ActionError>,
    ) -> Settled {
        let kind = message.kind().as_str();
        let error = match result {
            Ok(()) => {
                return match actions::finish(&self.pool, message.action_id, &Outcome::Succeeded)
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
                if let Err(e) = actions::finish(&self.pool, message.action_id, &outcome).await {
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
                if let Err(e) = actions::finish(&self.pool, message.action_id, &outcome).await {
                    tracing::warn!(error = %e, "Could not record the failure; requeueing.");
                    return Settled::Requeue;
                }
                self.dead_letter(message, &reason, class, attempt).await;
                metrics::counter!(ACTIONS_HANDLED, "kind" => kind, "outcome" => "failed")
                    .increment(1);
                Settled::Ack
            }
        }
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
