//! Leader election among scheduler replicas, and the clock they read.
//!
//! The leader holds a lease row (`scheduler_leases`) with an expiry. Every
//! tick it renews the lease (expiry = now + ttl) and, while it holds it,
//! runs the cron pass. A standby tries the same each tick and takes the
//! row once it has expired, so a dead leader is replaced within
//! `ttl + tick`. A leader that stops cleanly gives the lease up at once.
//!
//! A lease row rather than an advisory lock on a dedicated connection: the
//! handover time does not depend on PostgreSQL noticing a dead TCP
//! connection, a stalled leader (a long GC-like pause, a network partition)
//! loses the lease in bounded time, and tests drive it with simulated time.
//! Two replicas that both believe they lead for a moment (clock skew beyond
//! the ttl, a pause in the middle of a pass) still cannot fire a slot twice:
//! see [`contaxy_common::scheduled`].

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::publisher::Publisher;
use contaxy_common::scheduled::Firing;
use contaxy_common::store::quotas::Quotas;
use contaxy_common::store::schedules;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::cron::{self, CronSettings, PassReport, READ_AHEAD_LEAD, ReadAhead};

/// The name of the cron leader's lease.
pub const CRON_LEASE: &str = "cron";

/// Metric: 1 while this replica leads, 0 otherwise.
pub const LEADING: &str = "contaxy_scheduler_leader";

/// Where the scheduler reads the time: the system clock in production, a
/// clock the test moves in tests.
pub trait Clock: Debug + Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How long after a slot the leader wakes for it: enough that the system
/// clock has passed the slot when the pass reads it.
const SLOT_MARGIN: Duration = Duration::from_millis(2);

/// A clock that stands still until moved (for tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        if let Ok(mut time) = self.0.lock() {
            *time = now;
        }
    }

    /// Moves the time on by `by`.
    pub fn advance(&self, by: TimeDelta) {
        if let Ok(mut time) = self.0.lock() {
            *time += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|time| *time)
            .unwrap_or_else(|e| *e.into_inner())
    }
}

/// One replica's claim to a lease.
#[derive(Debug, Clone)]
pub struct Leadership {
    pool: PgPool,
    name: String,
    holder: String,
    ttl: TimeDelta,
    /// Whether the last attempt took or renewed the lease; shared with
    /// what acts only on the leader (the cleanup passes).
    leading: Arc<AtomicBool>,
}

impl Leadership {
    /// `holder` (unique per replica) competing for lease `name`, held for
    /// `ttl` after each renewal.
    pub fn new(pool: PgPool, name: &str, holder: &str, ttl: TimeDelta) -> Self {
        Self {
            pool,
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl,
            leading: Arc::default(),
        }
    }

    /// A flag that is true while this replica holds the lease (as of its
    /// last renewal), for tasks that act only on the leader.
    pub fn leading(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.leading)
    }

    /// This replica's name.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes or renews the lease at `now`; whether this replica leads now.
    pub async fn try_lead(&self, now: DateTime<Utc>) -> sqlx::Result<bool> {
        let leads = schedules::try_lease(&self.pool, &self.name, &self.holder, now, now + self.ttl)
            .await
            .inspect_err(|_| self.leading.store(false, Ordering::Release))?;
        self.leading.store(leads, Ordering::Release);
        metrics::gauge!(LEADING).set(if leads { 1.0 } else { 0.0 });
        Ok(leads)
    }

    /// Gives the lease up, if held (at shutdown).
    pub async fn resign(&self) {
        self.leading.store(false, Ordering::Release);
        if let Err(error) = schedules::release_lease(&self.pool, &self.name, &self.holder).await {
            tracing::warn!(%error, "Could not give the leader lease up; it expires on its own.");
        }
        metrics::gauge!(LEADING).set(0.0);
    }
}

impl CronLoop {
    /// The earliest slot of any schedule and the time until it, when it is
    /// still ahead (a due slot left over waits for the next tick).
    async fn next_slot(&self) -> Option<(DateTime<Utc>, Duration)> {
        let slot = schedules::earliest_slot(&self.leadership.pool)
            .await
            .inspect_err(|error| tracing::debug!(%error, "The next slot could not be read."))
            .ok()??;
        let until = (slot - self.clock.now()).to_std().ok()?;
        Some((slot, until + SLOT_MARGIN))
    }

    /// The schedules due at `slot`, read ahead of it; `None` when reading
    /// ahead is off or the read failed (the pass then reads them itself).
    async fn read_ahead(&self, slot: DateTime<Utc>) -> Option<ReadAhead> {
        if self.settings.read_ahead <= 0 {
            return None;
        }
        cron::read_ahead(&self.leadership.pool, &self.settings, slot)
            .await
            .inspect_err(|error| tracing::debug!(%error, "The coming slot's schedules could not be read ahead."))
            .ok()
    }
}

/// The cron loop of one replica: each tick it competes for the lease and,
/// while it leads, runs a cron pass at the clock's `now`.
#[derive(Debug)]
pub struct CronLoop {
    /// This replica's claim to the cron lease.
    pub leadership: Leadership,
    /// Where `now` comes from.
    pub clock: Arc<dyn Clock>,
    /// How cron passes behave.
    pub settings: CronSettings,
    /// The runtime namespace (job ids' prefix).
    pub namespace: String,
    /// The per-tenant limits a fired job must fit in.
    pub quotas: Quotas,
}

impl CronLoop {
    /// One tick: renew or take the lease, then pass if leading. `None`
    /// when another replica leads.
    pub async fn tick(&self, publisher: &Publisher) -> sqlx::Result<Option<PassReport>> {
        self.tick_read_ahead(publisher, None).await
    }

    /// [`Self::tick`], whose pass starts with the schedules read `ahead`
    /// ([`cron::pass_read_ahead`]).
    pub async fn tick_read_ahead(
        &self,
        publisher: &Publisher,
        ahead: Option<ReadAhead>,
    ) -> sqlx::Result<Option<PassReport>> {
        let now = self.clock.now();
        if !self.leadership.try_lead(now).await? {
            return Ok(None);
        }
        let firing = Firing {
            pool: &self.leadership.pool,
            publisher,
            namespace: &self.namespace,
            quotas: &self.quotas,
        };
        cron::pass_read_ahead(&firing, &self.settings, now, ahead)
            .await
            .map(Some)
    }

    /// Ticks every `interval` until `shutdown`, then gives the lease up.
    /// While it leads, it also wakes at the next slot when that comes
    /// before the next tick, so a slot fires on time rather than up to a
    /// tick late; and within [`READ_AHEAD_LEAD`] of a slot it reads the
    /// slot's schedules ahead and sleeps until the slot.
    pub async fn run(self, publisher: &Publisher, interval: Duration, shutdown: CancellationToken) {
        let mut leading = false;
        let mut ahead = None;
        loop {
            let started = tokio::time::Instant::now();
            match self.tick_read_ahead(publisher, ahead.take()).await {
                Ok(report) => {
                    if report.is_some() != leading {
                        leading = report.is_some();
                        tracing::info!(
                            holder = self.leadership.holder(),
                            leading,
                            "The scheduler's leadership changed."
                        );
                    }
                    if let Some(report) = report.filter(|r| *r != PassReport::default()) {
                        tracing::debug!(?report, "A cron pass handled slots.");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "A cron tick failed; the next one will try again.")
                }
            }
            let mut wake = started + interval;
            if leading && let Some((slot, until)) = self.next_slot().await {
                let at_slot = tokio::time::Instant::now() + until;
                wake = wake.min(at_slot);
                // Not for longer than half the lease: the skipped ticks
                // would have renewed it.
                let lease = self.leadership.ttl.to_std().unwrap_or_default();
                if until <= READ_AHEAD_LEAD && until < lease / 2 {
                    ahead = self.read_ahead(slot).await;
                    if ahead.is_some() {
                        // No tick before the slot: it would drop the read.
                        wake = at_slot;
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        self.leadership.resign().await;
    }
}
