//! A stopping worker's side of the drain (see `consumer`): the consumers
//! cancelled and the deliveries not yet started given back at once, and an
//! attempt still running at the drain deadline handed back.

use std::time::Duration;

use contaxy_common::message::ActionMessage;
use contaxy_common::store::actions;
use futures::StreamExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicNackOptions};

use crate::consumer::{ACTIONS_HANDLED, Consumer};
use crate::settle::Settled;

impl Consumer {
    /// Gives up attempt `attempt` of a stopping worker at the drain
    /// deadline: the claim is released so that the requeued delivery is
    /// taken over at once, not after the lease runs out.
    pub(crate) async fn hand_back(&self, message: &ActionMessage, attempt: i32) -> Settled {
        match actions::release(&self.pool, message.action_id, attempt).await {
            Ok(true) => tracing::warn!(
                "The attempt did not end within the drain deadline; handed back for another worker."
            ),
            Ok(false) => tracing::warn!(
                "The attempt did not end within the drain deadline and its claim had run out; handed back."
            ),
            Err(error) => tracing::warn!(
                %error,
                "Could not release the claim at the drain deadline; another worker takes the action over once the lease runs out."
            ),
        }
        metrics::counter!(ACTIONS_HANDLED, "kind" => message.kind().as_str(), "outcome" => "handed_back")
            .increment(1);
        Settled::HandBack
    }
}

/// Stops the broker from sending more deliveries, and gives back at once
/// those it sent that were not started (rather than holding them until the
/// channel closes after the drain).
pub(crate) async fn stop_consuming(
    channel: &Channel,
    tags: &[lapin::types::ShortString],
    deliveries: &mut (impl futures::Stream<Item = lapin::Result<Delivery>> + Unpin),
) {
    for tag in tags {
        if let Err(error) = channel
            .basic_cancel(tag.clone(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(%error, "Could not cancel a consumer; its deliveries return when the channel closes.");
        }
    }
    let requeue = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    while let Ok(Some(Ok(delivery))) =
        tokio::time::timeout(Duration::from_millis(100), deliveries.next()).await
    {
        let _ = delivery.acker.nack(requeue).await;
    }
}
