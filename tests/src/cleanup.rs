//! The scheduler's cleanup passes, run by a test on a [`Stack`]'s database
//! and broker with the clock the test chooses.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use contaxy_common::broker::Broker;
use contaxy_common::publisher::Publisher;
use contaxy_scheduler::cleanup::{CleanupContext, CleanupSettings};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::DEADLINE;
use crate::db::migrated_pool;
use crate::stack::Stack;

/// A cleanup context on the stack's database and topology; its broker
/// connection stops when the returned guard drops.
pub async fn cleanup_context(stack: &Stack, settings: CleanupSettings) -> Cleanup {
    let pool = migrated_pool(stack.common.database_url.expose_secret(), 4).await;
    let shutdown = CancellationToken::new();
    let broker = Broker::start(
        &stack.common.amqp_url,
        "contaxy-test-cleanup",
        stack.topology().clone(),
        shutdown.clone(),
    );
    tokio::time::timeout(DEADLINE, broker.connected())
        .await
        .expect("RabbitMQ is reachable");
    let ctx = CleanupContext {
        pool: pool.clone(),
        publisher: Arc::new(Publisher::new(broker, stack.topology().clone())),
        settings,
    };
    Cleanup {
        ctx,
        pool,
        _stop: shutdown.drop_guard(),
    }
}

/// A [`CleanupContext`] and the test's pool on the same database.
#[derive(Debug)]
pub struct Cleanup {
    /// What the passes take.
    pub ctx: CleanupContext,
    /// The test's own pool.
    pub pool: PgPool,
    _stop: tokio_util::sync::DropGuard,
}

/// The database's clock now (what `deadline_at` and `stopped_at` are
/// written with), moved by `seconds`.
pub async fn db_now_plus(pool: &PgPool, seconds: i64) -> DateTime<Utc> {
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(pool)
        .await
        .expect("the database's clock");
    now + chrono::Duration::seconds(seconds)
}
