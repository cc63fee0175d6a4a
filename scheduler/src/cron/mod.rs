//! Cron fires: each pass finds the schedules with a slot due at `now` and
//! handles their due slots in order.
//!
//! For each due slot, [`decide`] (a pure function) says whether it fires:
//!
//! - later than the schedule's starting deadline: **missed**;
//! - `catch_up = all`: every other due slot fires, oldest first;
//! - `catch_up = latest`: only the latest due slot fires; the older ones
//!   are **skipped_catch_up**;
//! - `catch_up = skip` (the default): only the latest due slot fires, and
//!   only if it is on time (at most [`CronSettings::on_time`] late); after
//!   an outage the scheduler waits for the next slot.
//!
//! A slot that fires under `forbid` while a job of the schedule has not
//! finished is **skipped_forbid**; under `replace` it fires, and the same
//! transaction cancels the unfinished jobs
//! ([`contaxy_common::scheduled::fire`]).
//!
//! How: a pass reads the due schedules batch after batch. The common case,
//! one due slot that fires under `allow` or `forbid`, is [`batch`]ed: the
//! whole read batch in one transaction, published after the commit while
//! the next batch is written; the publishes are noted, and the runs past
//! the history limits pruned, once the pass has written everything, so
//! that neither competes with the slot's writes. Everything else
//! ([`one`]): several due slots, slots that do not fire, `replace`, and a
//! batch that met an existing row, goes one schedule at a time. The time
//! `now` is always passed in (the scheduler's [`crate::leader::Clock`]), so
//! tests drive simulated time.
//!
//! Reading ahead: the leader reads the schedules due at the coming slot
//! shortly before it ([`read_ahead`]), so that at the slot only the writes
//! remain ([`pass_read_ahead`]). A schedule edited or suspended after that
//! read does not fire from it (its batch checks each schedule's
//! `updated_at`); it is still due, and the pass reads it again after the
//! read-ahead ones.

mod batch;
mod decide;
mod one;

use chrono::{DateTime, Utc};
use contaxy_common::domain::schedule::RunOutcome;
use contaxy_common::scheduled::Firing;
use contaxy_common::store::schedules::{self, ScheduleRecord};
use futures::{StreamExt, stream};
use tokio::sync::mpsc;

pub use decide::{SlotDecision, decide};

/// Batches one pass reads at most (a schedule that keeps failing stays due;
/// this bounds the pass all the same).
const MAX_BATCHES: usize = 100;

/// Committed batches waiting for their publishes at most (then the pass
/// waits before it writes the next).
const COMMITTED_QUEUE: usize = 16;

/// Metric: slots handled, by outcome.
pub const SLOTS: &str = "contaxy_scheduler_schedule_slots_total";
/// Metric: seconds from a slot to its fire being recorded.
pub const LATENESS: &str = "contaxy_scheduler_fire_lateness_seconds";

/// How long before a slot the leader reads its due schedules
/// ([`read_ahead`]): enough for 10,000 of them on a busy machine, short
/// enough that few change in between.
pub const READ_AHEAD_LEAD: std::time::Duration = std::time::Duration::from_millis(1500);

/// How cron passes behave.
#[derive(Debug, Clone)]
pub struct CronSettings {
    /// A slot at most this late counts as on time (`catch_up = skip`).
    pub on_time: chrono::TimeDelta,
    /// Schedules per batched transaction; a pass reads
    /// `batch × batches_at_once` due schedules at a time.
    pub batch: i64,
    /// Batched transactions written at once (each on its own connection,
    /// on disjoint schedules).
    pub batches_at_once: usize,
    /// Schedules handled at once on the one-at-a-time path (each holds a
    /// database connection while its slot's transaction runs).
    pub concurrency: usize,
    /// Due slots handled per schedule per pass at most; the rest wait for
    /// the next pass.
    pub slots_per_schedule: usize,
    /// Schedules read ahead of a slot at most ([`read_ahead`]); 0 reads
    /// none ahead.
    pub read_ahead: i64,
}

impl Default for CronSettings {
    fn default() -> Self {
        Self {
            on_time: chrono::TimeDelta::seconds(30),
            batch: 1000,
            batches_at_once: 2,
            concurrency: 8,
            slots_per_schedule: 1000,
            read_ahead: 10_000,
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Jobs made.
    pub fired: usize,
    /// Slots recorded missed or skipped.
    pub passed_over: usize,
    /// Slots another scheduler handled first.
    pub lost_races: usize,
}

impl PassReport {
    fn add(&mut self, other: Self) {
        self.fired += other.fired;
        self.passed_over += other.passed_over;
        self.lost_races += other.lost_races;
    }
}

/// The schedules due at a slot, read before it came ([`read_ahead`]).
#[derive(Debug)]
pub struct ReadAhead {
    slot: DateTime<Utc>,
    due: Vec<ScheduleRecord>,
}

impl ReadAhead {
    /// The slot they were read for.
    pub fn slot(&self) -> DateTime<Utc> {
        self.slot
    }
}

/// Reads the schedules due at `slot` (at most [`CronSettings::read_ahead`]),
/// for [`pass_read_ahead`] at that slot.
pub async fn read_ahead(
    pool: &sqlx::PgPool,
    settings: &CronSettings,
    slot: DateTime<Utc>,
) -> sqlx::Result<ReadAhead> {
    let due = schedules::due(pool, slot, settings.read_ahead.max(0)).await?;
    Ok(ReadAhead { slot, due })
}

/// One pass at `now`: handles every due slot of every due schedule, batch
/// after batch until none is due or `MAX_BATCHES` ran. Returns once the
/// fired actions are published (or left to the relay).
pub async fn pass(
    firing: &Firing<'_>,
    settings: &CronSettings,
    now: DateTime<Utc>,
) -> sqlx::Result<PassReport> {
    pass_read_ahead(firing, settings, now, None).await
}

/// [`pass`], starting with the schedules of `ahead` when its slot has come
/// (otherwise `ahead` is dropped), then reading what else is due as a pass
/// does.
pub async fn pass_read_ahead(
    firing: &Firing<'_>,
    settings: &CronSettings,
    now: DateTime<Utc>,
    ahead: Option<ReadAhead>,
) -> sqlx::Result<PassReport> {
    let (committed, mut to_publish) = mpsc::channel(COMMITTED_QUEUE);
    let at_once = settings.batches_at_once.max(1);
    let read = settings.batch.max(1).saturating_mul(at_once as i64);
    let mut ahead = ahead
        .filter(|ahead| ahead.slot <= now)
        .map(|ahead| ahead.due.into_iter());
    let writing = async move {
        let mut report = PassReport::default();
        let mut cache = batch::TimesCache::default();
        for _ in 0..MAX_BATCHES {
            let taken: Vec<ScheduleRecord> = match ahead.as_mut() {
                Some(rest) => rest
                    .take(usize::try_from(read).unwrap_or(usize::MAX))
                    .collect(),
                None => Vec::new(),
            };
            // The read-ahead ones first; then a read as always, which also
            // finds the schedules that changed since the read ahead.
            let (due, full) = if taken.is_empty() {
                ahead = None;
                let due = schedules::due(firing.pool, now, read).await?;
                let full = i64::try_from(due.len()).unwrap_or(i64::MAX) >= read;
                (due, full)
            } else {
                (taken, true)
            };
            let mut batched = Vec::new();
            let mut single: Vec<ScheduleRecord> = Vec::new();
            for schedule in &due {
                match batch::plan(schedule, &mut cache, settings, now) {
                    Some(slot) => batched.push(slot),
                    None => single.push(schedule.clone()),
                }
            }
            // Collected first: a closure held in the stream would make the
            // pass's future not `Send` (rust-lang/rust#102211).
            let fires: Vec<_> = batched
                .chunks(usize::try_from(settings.batch.max(1)).unwrap_or(usize::MAX))
                .map(|chunk| batch::fire(firing, chunk, now))
                .collect();
            let mut fires = stream::iter(fires).buffer_unordered(at_once);
            while let Some(fired) = fires.next().await {
                report.add(fired.report);
                match fired.result {
                    // The receiver lives as long as this pass.
                    Ok(done) => committed.send(done).await.unwrap_or_default(),
                    Err(error) => {
                        tracing::warn!(%error, count = fired.due.len(), "A batch of fires rolled back; its schedules go one at a time.");
                        single.extend(fired.due.iter().map(|slot| slot.schedule.clone()));
                    }
                }
            }
            let handles: Vec<_> = single
                .into_iter()
                .map(|schedule| one::handle_and_prune(firing, settings, schedule, now))
                .collect();
            let reports: Vec<PassReport> = stream::iter(handles)
                .buffer_unordered(settings.concurrency.max(1))
                .collect()
                .await;
            for one in reports {
                report.add(one);
            }
            if !full {
                break;
            }
        }
        sqlx::Result::Ok(report)
    };
    let publishing = async {
        let mut published = batch::Published::default();
        while let Some(done) = to_publish.recv().await {
            batch::publish(firing, done, &mut published).await;
        }
        // The channel closes once everything is written.
        batch::after_pass(firing, published).await;
    };
    let (report, ()) = tokio::join!(writing, publishing);
    report
}

/// Counts a handled slot (the metrics and `report`).
fn count(outcome: RunOutcome, slot: DateTime<Utc>, now: DateTime<Utc>, report: &mut PassReport) {
    let label = match outcome {
        RunOutcome::Fired => "fired",
        RunOutcome::Triggered => "triggered",
        RunOutcome::Missed => "missed",
        RunOutcome::SkippedCatchUp => "skipped_catch_up",
        RunOutcome::SkippedForbid => "skipped_forbid",
        RunOutcome::Failed => "failed",
    };
    if outcome == RunOutcome::Fired {
        report.fired += 1;
        let lateness = (now - slot).num_milliseconds() as f64 / 1000.0;
        metrics::histogram!(LATENESS).record(lateness.max(0.0));
    } else {
        report.passed_over += 1;
    }
    metrics::counter!(SLOTS, "outcome" => label).increment(1);
}
