//! Cleanup: passes on a timer that find what is due and have it done.
//!
//! The scheduler decides, the worker acts: a pass that removes something
//! from the runtime submits an action (`deployment.cancel`,
//! `deployment.delete`, `deployment.stop`) through the same record-then-
//! publish path as the API ([`submit`]), with an idempotency key naming the
//! occasion, so a pass repeated before the action ran (or run by a second
//! scheduler) submits nothing twice. Only rows with no runtime side
//! (expired tokens, old status events) are deleted here directly.
//!
//! One module per rule, each a `run_once(&CleanupContext, now)` that logs
//! and counts what it did and returns a [`Report`]; `now` is a parameter so
//! tests move time instead of waiting:
//!
//! - [`deadlines`]: jobs past their `deadline_seconds` → `deployment.cancel`
//!   (reason `deadline`: they end `failed`).
//! - [`job_ttl`]: finished jobs past their TTL → `deployment.delete` with
//!   `archive_logs` (logs archived, container and volume removed, record
//!   kept); archived records past the retention → `deployment.delete`.
//! - [`idle_services`]: running services idle past their `idle_timeout`
//!   → `deployment.stop`.
//! - [`expired_tokens`]: tokens expired longer than a grace period → deleted.
//! - [`status_events`]: recorded status changes past their retention →
//!   deleted.
//!
//! Not here, because they already exist: actions stuck in `running` after
//! their worker died are requeued by the relay once their lease ran out
//! (`crate::relay`, `CONTAXY_WORKER_LEASE_SECS`), and rows never published
//! are published by it too. Orphaned networks are swept by the workers
//! (they alone see the runtime).

pub mod deadlines;
pub mod expired_tokens;
pub mod idle_services;
pub mod job_ttl;
pub mod status_events;
pub mod submit;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contaxy_common::publisher::Publisher;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Metric: what the cleanup passes did, by `pass` and `outcome`
/// (`submitted`, `already_submitted`, `deleted`, `failed`).
pub const CLEANUP_ITEMS: &str = "contaxy_scheduler_cleanup_items_total";
/// Metric: cleanup passes run, by `pass` and `outcome` (`ok`, `error`).
pub const CLEANUP_PASSES: &str = "contaxy_scheduler_cleanup_passes_total";

/// What the passes read and write with.
#[derive(Debug, Clone)]
pub struct CleanupContext {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Publishes the actions the passes submit.
    pub publisher: Arc<Publisher>,
    /// The rules' settings.
    pub settings: CleanupSettings,
}

/// The rules' settings (from `SchedulerSettings`).
#[derive(Debug, Clone)]
pub struct CleanupSettings {
    /// Time between two rounds of every pass.
    pub interval: Duration,
    /// How long a finished job's container is kept when the job sets no
    /// `ttl_seconds_after_finished`.
    pub job_ttl: Duration,
    /// How long a job's record (and archived logs) is kept after its
    /// container was removed; `None`: for ever.
    pub job_record_retention: Option<Duration>,
    /// How long after expiry a token's row is deleted.
    pub token_grace: Duration,
    /// How long a recorded status change is kept for event followers.
    pub events_retention: Duration,
    /// Items one pass handles at most (the next round takes the rest).
    pub batch: i64,
}

impl Default for CleanupSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            job_ttl: Duration::from_secs(24 * 3600),
            job_record_retention: Some(Duration::from_secs(30 * 24 * 3600)),
            token_grace: Duration::from_secs(24 * 3600),
            events_retention: Duration::from_secs(24 * 3600),
            batch: 100,
        }
    }
}

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The pass (a bounded metric label).
    pub pass: &'static str,
    /// Actions submitted now, as (project, deployment).
    pub submitted: Vec<(String, String)>,
    /// Items whose action an earlier round already submitted.
    pub already_submitted: usize,
    /// Rows deleted directly.
    pub deleted: u64,
    /// Items that failed (left for the next round).
    pub failed: usize,
}

impl Report {
    /// An empty report of `pass`.
    pub fn new(pass: &'static str) -> Self {
        Self {
            pass,
            ..Self::default()
        }
    }

    /// Logs and counts what the pass did, once, at its end.
    pub fn emit(&self) {
        let outcomes = [
            ("submitted", self.submitted.len() as u64),
            ("already_submitted", self.already_submitted as u64),
            ("deleted", self.deleted),
            ("failed", self.failed as u64),
        ];
        for (outcome, count) in outcomes {
            if count > 0 {
                metrics::counter!(CLEANUP_ITEMS, "pass" => self.pass, "outcome" => outcome)
                    .increment(count);
            }
        }
        if !self.submitted.is_empty() || self.deleted > 0 || self.failed > 0 {
            tracing::info!(
                pass = self.pass,
                submitted = self.submitted.len(),
                already_submitted = self.already_submitted,
                deleted = self.deleted,
                failed = self.failed,
                "A cleanup pass acted."
            );
        }
    }
}

/// Runs every pass once, as of `now`; the reports of those that ran (a
/// pass that failed is logged and counted, and the others still run).
pub async fn run_all_once(ctx: &CleanupContext, now: DateTime<Utc>) -> Vec<Report> {
    let results = [
        (deadlines::PASS, deadlines::run_once(ctx, now).await),
        (job_ttl::PASS, job_ttl::run_once(ctx, now).await),
        (job_ttl::PRUNE_PASS, job_ttl::prune_once(ctx, now).await),
        (idle_services::PASS, idle_services::run_once(ctx, now).await),
        (
            expired_tokens::PASS,
            expired_tokens::run_once(ctx, now).await,
        ),
        (status_events::PASS, status_events::run_once(ctx, now).await),
    ];
    let mut reports = Vec::new();
    for (pass, result) in results {
        match result {
            Ok(report) => {
                metrics::counter!(CLEANUP_PASSES, "pass" => pass, "outcome" => "ok").increment(1);
                report.emit();
                reports.push(report);
            }
            Err(error) => {
                metrics::counter!(CLEANUP_PASSES, "pass" => pass, "outcome" => "error")
                    .increment(1);
                tracing::warn!(%error, pass, "A cleanup pass failed; the next round will try again.");
            }
        }
    }
    reports
}

/// Runs the passes every `interval` while `may_act()` says this scheduler
/// may (the leader hook: a standby skips its rounds), until `shutdown`.
pub async fn run(
    ctx: CleanupContext,
    may_act: impl Fn() -> bool + Send,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(ctx.settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if may_act() {
            run_all_once(&ctx, Utc::now()).await;
        }
    }
}

/// Seconds of a duration, for SQL intervals.
fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
