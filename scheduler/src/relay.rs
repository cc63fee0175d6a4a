//! The outbox relay: publishes actions that were recorded but never confirmed
//! by the broker (RabbitMQ was away when the API answered, or the message
//! came back unroutable), so an accepted action is never lost; and brings
//! back every other action that is not final and whose message is gone:
//! a `running` one whose worker stopped answering (lease run out), a
//! `retrying` one whose delayed copy is well overdue, a `queued` one
//! published long ago and never claimed ([`actions::take_lost`]). So every
//! non-final action is delivered again within a bounded time.
//!
//! Safe with several scheduler replicas without a leader: each pass locks the
//! rows it publishes with `FOR UPDATE SKIP LOCKED`, so two replicas never
//! publish the same row in the same pass. A row is published again only if
//! the broker never confirmed it; a duplicate delivery that results (publish
//! confirmed, then the commit lost) is a no-op for the worker's claim.

use std::time::Duration;

use contaxy_common::domain::action::ErrorClass;
use contaxy_common::publisher::{PublishError, Publisher};
use contaxy_common::store::actions;
use contaxy_common::topology::RETRY_DELAYS;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Metric: actions the relay published.
const RELAYED: &str = "contaxy_scheduler_relayed_actions_total";
/// Metric: actions recorded and not yet confirmed by the broker.
const OUTBOX_BACKLOG: &str = "contaxy_scheduler_outbox_backlog";
/// Metric: messages in the dead queue.
const DEAD_QUEUE: &str = "contaxy_scheduler_dead_queue_messages";

/// How the relay behaves.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Time between passes.
    pub interval: Duration,
    /// How old an unpublished row must be before the relay takes it (the API
    /// publishes on its own just after recording).
    pub min_age: Duration,
    /// Rows per pass at most.
    pub batch: i64,
    /// A `queued` action published this long ago and never claimed is
    /// published again.
    pub queued_lost_after: Duration,
    /// A `retrying` action whose retry is this overdue is published again.
    pub retry_lost_after: Duration,
}

/// Runs passes until `shutdown`.
pub async fn run(
    pool: PgPool,
    publisher: &Publisher,
    settings: RelaySettings,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match pass(&pool, publisher, &settings).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "The relay published actions the API could not."),
            Err(error) => {
                tracing::warn!(%error, "A relay pass failed; the next one will try again.")
            }
        }
        report_backlogs(&pool, publisher).await;
    }
}

/// Sets the outbox backlog and dead queue gauges; a failure leaves them as
/// they were (the relay's own failures are logged by the pass).
async fn report_backlogs(pool: &PgPool, publisher: &Publisher) {
    if let Ok(backlog) = actions::count_unpublished(pool).await {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(OUTBOX_BACKLOG).set(backlog as f64);
    }
    let dead = publisher.topology().dead_queue();
    if let Ok(length) = publisher.queue_length(&dead).await {
        metrics::gauge!(DEAD_QUEUE).set(f64::from(length));
    }
}

/// One pass: publishes what was never confirmed, and re-publishes actions
/// whose worker stopped answering (claimed, lease run out). Returns how many
/// actions it published.
pub async fn pass(
    pool: &PgPool,
    publisher: &Publisher,
    settings: &RelaySettings,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let mut rows = actions::lock_unpublished(&mut tx, settings.min_age, settings.batch).await?;
    let unpublished = rows.len();
    rows.extend(actions::requeue_stuck(&mut tx, settings.batch).await?);
    rows.extend(
        actions::take_lost(
            &mut tx,
            settings.queued_lost_after,
            settings.retry_lost_after,
            &RETRY_DELAYS,
            settings.batch,
        )
        .await?,
    );
    let mut published = 0;
    for (index, row) in rows.iter().enumerate() {
        let message = match row.message() {
            Ok(message) => message,
            Err(error) => {
                // Written by another version, or by hand: it can never be
                // published, so it ends here rather than blocking the batch.
                tracing::warn!(action_id = %row.id, kind = %row.kind, %error, "A recorded action cannot be read back; it is failed.");
                let reason = format!("the recorded action cannot be read back: {error}");
                actions::fail_unrun(&mut *tx, row.id, &reason, ErrorClass::Malformed).await?;
                continue;
            }
        };
        // On failure the whole pass rolls back: every row stays as it was
        // for the next pass. Rows already published go out again then; their
        // duplicates are no-ops at the worker's claim. An unroutable message
        // is the row's own problem (no queue bound for its kind): it is left
        // for a later pass without holding the others back.
        match publisher.publish_action(&message, 1).await {
            Ok(()) => {}
            Err(PublishError::Unroutable(target)) => {
                tracing::warn!(action_id = %row.id, kind = %row.kind, target, "An action came back unroutable; the relay tries again later.");
                continue;
            }
            Err(error) => return Err(error.into()),
        }
        if index < unpublished {
            actions::mark_published(&mut *tx, row.id).await?;
        }
        published += 1;
    }
    tx.commit().await?;
    metrics::counter!(RELAYED).increment(published as u64);
    Ok(published)
}
