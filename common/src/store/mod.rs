//! PostgreSQL: the pool, the migrations, and the queries, as plain functions
//! over `&PgPool` or a transaction: [`projects`], [`members`], [`tokens`],
//! [`actions`], [`deployments`], [`events`] (status changes kept for
//! followers), [`allowed_images`] (the image allow-list), [`networks`],
//! [`schedules`] (and [`schedule_fires`], the multi-row statements of a
//! batch of fires), [`quotas`]
//! (per-tenant limits), [`cleanup`]
//! (what the scheduler's cleanup passes find due); [`refusal`] tells the
//! database away from the data refused; [`changes`] wakes a waiter when
//! PostgreSQL announces that its row changed (LISTEN/NOTIFY).
//!
//! Every binary applies the migrations at start. sqlx's migrator takes a
//! PostgreSQL advisory lock, so three binaries starting at once apply each
//! migration exactly once. A binary whose database is not reachable yet keeps
//! trying in the background and reports "not ready" on `/readyz` meanwhile.

pub mod actions;
pub mod allowed_images;
pub mod capacity;
pub mod changes;
pub mod cleanup;
pub mod deployments;
pub mod events;

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub mod members;
pub mod networks;
pub mod projects;
pub mod quotas;
pub mod refusal;
pub mod schedule_fires;
pub mod schedules;
pub mod tokens;

use crate::config::CommonConfig;
use crate::ops::Probe;

/// The project's migrations (the `migrations/` folder), embedded at build
/// time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Why the database could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `CONTAXY_DATABASE_URL` is not a PostgreSQL URL.
    #[error("CONTAXY_DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(#[source] sqlx::Error),
}

/// The pool plus whether the schema is up to date.
#[derive(Debug, Clone)]
pub struct Database {
    pool: PgPool,
    schema_ready: watch::Receiver<bool>,
}

impl Database {
    /// Opens a lazy pool (no connection is made yet) and starts applying the
    /// migrations in the background, retrying while PostgreSQL is away, until
    /// `shutdown` is cancelled.
    pub fn start(config: &CommonConfig, shutdown: CancellationToken) -> Result<Self, StoreError> {
        let options: PgConnectOptions = config
            .database_url
            .expose_secret()
            .parse()
            .map_err(StoreError::BadUrl)?;
        let pool = PgPoolOptions::new()
            .max_connections(config.database_max_connections)
            .acquire_timeout(Duration::from_millis(config.database_acquire_timeout_ms))
            .connect_lazy_with(options);
        let (ready_tx, schema_ready) = watch::channel(false);
        tokio::spawn(migrate_until_done(pool.clone(), ready_tx, shutdown));
        Ok(Self { pool, schema_ready })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Waits until the migrations have been applied.
    pub async fn schema_ready(&self) {
        let mut ready = self.schema_ready.clone();
        // An error means the migrating task ended without success; the caller
        // stays not-ready, which `/readyz` reports.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// The `/readyz` probe: PostgreSQL answers and the schema is current.
    pub fn probe(&self) -> Probe {
        let db = self.clone();
        Probe::new("postgres", move || {
            let db = db.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&db.pool)
                    .await
                    .map_err(|e| format!("query failed: {e}"))?;
                if *db.schema_ready.borrow() {
                    Ok(())
                } else {
                    Err("reachable, but the migrations are not applied yet".to_owned())
                }
            }
        })
    }
}

async fn migrate_until_done(pool: PgPool, ready: watch::Sender<bool>, shutdown: CancellationToken) {
    let attempt = || async { MIGRATOR.run(&pool).await };
    let retrying = attempt
        .retry(
            ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .without_max_times(),
        )
        .when(is_transient)
        .notify(|error, delay| {
            tracing::warn!(%error, ?delay, "Could not apply migrations yet; retrying.");
        });
    tokio::select! {
        result = retrying => match result {
            Ok(()) => {
                tracing::info!("Database migrations are applied.");
                ready.send_replace(true);
            }
            Err(error) => {
                tracing::error!(%error, "Database migrations failed; this process stays not ready.");
            }
        },
        () = shutdown.cancelled() => {}
    }
}

/// Connection trouble is worth waiting out; a broken or diverged migration
/// history is not.
fn is_transient(error: &MigrateError) -> bool {
    match error {
        MigrateError::Execute(e) => {
            matches!(
                e,
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)
            ) || e
                .as_database_error()
                .and_then(|d| d.code())
                // 57P03: the database system is starting up.
                .is_some_and(|code| code == "57P03")
        }
        _ => false,
    }
}
