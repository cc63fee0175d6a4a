//! Cron fires: each pass finds the schedules with a slot due at `now` and
//! handles their due slots in order, each in a transaction of its own.
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
//! transaction cancels the unfinished jobs ([`scheduled::fire`]). The time `now` is always passed in (the
//! scheduler's [`crate::leader::Clock`]), so tests drive simulated time.

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::domain::schedule::{CatchUpPolicy, ConcurrencyPolicy, RunOutcome};
use contaxy_common::scheduled::{self, FireError, FireKind, Firing};
use contaxy_common::store::schedules::{self, ScheduleRecord};
use futures::{StreamExt, stream};

/// Batches one pass reads at most (a schedule that keeps failing stays due;
/// this bounds the pass all the same).
const MAX_BATCHES: usize = 100;

/// Metric: slots handled, by outcome.
pub const SLOTS: &str = "contaxy_scheduler_schedule_slots_total";
/// Metric: seconds from a slot to its fire being recorded.
pub const LATENESS: &str = "contaxy_scheduler_fire_lateness_seconds";

/// How cron passes behave.
#[derive(Debug, Clone)]
pub struct CronSettings {
    /// A slot at most this late counts as on time (`catch_up = skip`).
    pub on_time: TimeDelta,
    /// Schedules read per query; a pass reads batch after batch.
    pub batch: i64,
    /// Schedules handled at once (each holds a database connection while
    /// its slot's transaction runs).
    pub concurrency: usize,
    /// Due slots handled per schedule per pass at most; the rest wait for
    /// the next pass.
    pub slots_per_schedule: usize,
}

impl Default for CronSettings {
    fn default() -> Self {
        Self {
            on_time: TimeDelta::seconds(30),
            batch: 500,
            concurrency: 8,
            slots_per_schedule: 1000,
        }
    }
}

/// What becomes of one due slot (before the concurrency policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDecision {
    /// Make its job.
    Fire,
    /// Too late for the starting deadline.
    Missed,
    /// Passed over by the catch-up policy.
    SkippedCatchUp,
}

/// Decides one due slot. `latest` says whether it is the latest slot due
/// at `now`; `deadline` is the starting deadline, `on_time` how late a
/// slot may be and still count as on time.
pub fn decide(
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
    latest: bool,
    catch_up: CatchUpPolicy,
    deadline: Option<TimeDelta>,
    on_time: TimeDelta,
) -> SlotDecision {
    let lateness = now - slot;
    if deadline.is_some_and(|deadline| lateness > deadline) {
        return SlotDecision::Missed;
    }
    let fires = match catch_up {
        CatchUpPolicy::All => true,
        CatchUpPolicy::Latest => latest,
        CatchUpPolicy::Skip => latest && lateness <= on_time,
    };
    if fires {
        SlotDecision::Fire
    } else {
        SlotDecision::SkippedCatchUp
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

/// One pass at `now`: handles every due slot of every due schedule,
/// `settings.concurrency` schedules at a time (each schedule's slots in
/// order), batch after batch until none is due or `MAX_BATCHES` ran.
pub async fn pass(
    firing: &Firing<'_>,
    settings: &CronSettings,
    now: DateTime<Utc>,
) -> sqlx::Result<PassReport> {
    let mut report = PassReport::default();
    for _ in 0..MAX_BATCHES {
        let due = schedules::due(firing.pool, now, settings.batch).await?;
        let full = i64::try_from(due.len()).unwrap_or(i64::MAX) >= settings.batch;
        let reports: Vec<PassReport> = stream::iter(due)
            .map(|schedule| handle_and_prune(firing, settings, schedule, now))
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
    Ok(report)
}

/// Handles one schedule's due slots, then prunes its runs. Errors are
/// logged: the slot's transaction rolled back and the next pass tries again.
async fn handle_and_prune(
    firing: &Firing<'_>,
    settings: &CronSettings,
    schedule: ScheduleRecord,
    now: DateTime<Utc>,
) -> PassReport {
    let mut report = PassReport::default();
    if let Err(error) = handle(firing, settings, &schedule, now, &mut report).await {
        tracing::warn!(schedule_id = %schedule.id, %error, "A schedule's due slots could not be handled.");
        return report;
    }
    match schedules::prune_runs(
        firing.pool,
        schedule.id,
        schedule.succeeded_history_limit,
        schedule.failed_history_limit,
    )
    .await
    {
        Ok(0) => {}
        Ok(pruned) => {
            tracing::debug!(schedule_id = %schedule.id, pruned, "Old runs beyond the history limits were deleted.")
        }
        Err(error) => {
            tracing::warn!(schedule_id = %schedule.id, %error, "Old runs could not be pruned; the next pass tries again.")
        }
    }
    report
}

/// Handles the due slots of one schedule.
async fn handle(
    firing: &Firing<'_>,
    settings: &CronSettings,
    schedule: &ScheduleRecord,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> sqlx::Result<()> {
    let times = match schedule.times() {
        Ok(times) => times,
        Err(error) => {
            tracing::warn!(schedule_id = %schedule.id, %error, "A recorded schedule cannot be read; it is skipped.");
            return Ok(());
        }
    };
    let Some(first) = schedule.next_slot else {
        return Ok(());
    };
    let mut due = vec![first];
    let mut after = schedule.slot_after(&times, first);
    while let Some(next) = after.filter(|next| *next <= now) {
        if due.len() >= settings.slots_per_schedule {
            break;
        }
        due.push(next);
        after = schedule.slot_after(&times, next);
    }
    let deadline = schedule.starting_deadline_seconds.map(TimeDelta::seconds);
    let last_index = due.len() - 1;
    for (index, slot) in due.iter().copied().enumerate() {
        let next = due.get(index + 1).copied().or(after);
        let latest = index == last_index && next.is_none_or(|next| next > now);
        let decision = decide(
            slot,
            now,
            latest,
            schedule.catch_up,
            deadline,
            settings.on_time,
        );
        let attempt = match decision {
            SlotDecision::Fire => try_fire(firing, schedule, slot, next, now).await?,
            SlotDecision::Missed => Attempt::PassOver(RunOutcome::Missed),
            SlotDecision::SkippedCatchUp => Attempt::PassOver(RunOutcome::SkippedCatchUp),
        };
        let handled = match attempt {
            Attempt::Fired => Some(RunOutcome::Fired),
            Attempt::Lost => None,
            Attempt::PassOver(outcome) => {
                let detail = detail_of(outcome);
                scheduled::pass_over(firing.pool, schedule, slot, next, outcome, detail, now)
                    .await?
                    .then_some(outcome)
            }
        };
        let Some(outcome) = handled else {
            // Another scheduler moved this schedule on first; what this
            // pass computed for it is stale.
            report.lost_races += 1;
            return Ok(());
        };
        count(outcome, slot, now, report);
    }
    Ok(())
}

/// How an attempt to fire a slot went.
enum Attempt {
    /// The job was made.
    Fired,
    /// The slot is recorded without a job, with this outcome.
    PassOver(RunOutcome),
    /// Another scheduler handled the slot first.
    Lost,
}

/// Fires the slot, unless `forbid` holds it back or the template fails
/// (`replace` cancels the running jobs inside the fire).
async fn try_fire(
    firing: &Firing<'_>,
    schedule: &ScheduleRecord,
    slot: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> sqlx::Result<Attempt> {
    if schedule.concurrency_policy == ConcurrencyPolicy::Forbid
        && let Some(job) = schedules::unfinished_job(firing.pool, schedule.id).await?
    {
        tracing::info!(schedule_id = %schedule.id, job, %slot, "A slot is skipped: the previous job has not finished (forbid).");
        return Ok(Attempt::PassOver(RunOutcome::SkippedForbid));
    }
    match scheduled::fire(firing, schedule, slot, FireKind::Slot { next }, now).await {
        Ok(fired) => {
            tracing::info!(schedule_id = %schedule.id, project_id = %schedule.project_id,
                action_id = %fired.action.id, %slot, replaced = fired.cancels.len(), "A schedule fired.");
            Ok(Attempt::Fired)
        }
        Err(FireError::AlreadyHandled) => Ok(Attempt::Lost),
        Err(FireError::Template(errors)) => {
            tracing::warn!(schedule_id = %schedule.id, %errors, "A schedule's job template is invalid; the slot failed.");
            Ok(Attempt::PassOver(RunOutcome::Failed))
        }
        Err(FireError::DeploymentExists(id)) => {
            tracing::warn!(schedule_id = %schedule.id, id, "A slot's job id is taken; the slot failed.");
            Ok(Attempt::PassOver(RunOutcome::Failed))
        }
        Err(FireError::ProjectNotLive) => {
            tracing::info!(schedule_id = %schedule.id, "A slot is passed over: its project is being deleted.");
            Ok(Attempt::PassOver(RunOutcome::Failed))
        }
        Err(FireError::Database(error)) => Err(error),
    }
}

fn detail_of(outcome: RunOutcome) -> Option<&'static str> {
    match outcome {
        RunOutcome::Missed => Some("later than the starting deadline"),
        RunOutcome::SkippedCatchUp => Some("passed over by the catch-up policy"),
        RunOutcome::SkippedForbid => Some("the previous job had not finished"),
        RunOutcome::Failed => Some("the job could not be made; see the scheduler's log"),
        RunOutcome::Fired | RunOutcome::Triggered => None,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("an instant")
    }

    #[test]
    fn decide_covers_every_policy() {
        let on_time = TimeDelta::seconds(30);
        let deadline = Some(TimeDelta::seconds(300));
        use CatchUpPolicy::{All, Latest, Skip};
        use SlotDecision::{Fire, Missed, SkippedCatchUp};
        // (slot, now, latest, policy, deadline) -> decision
        let table = [
            // On time, latest: every policy fires.
            (0, 1, true, Skip, deadline, Fire),
            (0, 1, true, Latest, deadline, Fire),
            (0, 1, true, All, deadline, Fire),
            // Latest but late (within the deadline): skip waits for the next.
            (0, 120, true, Skip, deadline, SkippedCatchUp),
            (0, 120, true, Latest, deadline, Fire),
            (0, 120, true, All, deadline, Fire),
            // An older due slot within the deadline.
            (0, 120, false, Skip, deadline, SkippedCatchUp),
            (0, 120, false, Latest, deadline, SkippedCatchUp),
            (0, 120, false, All, deadline, Fire),
            // Past the deadline: missed whatever the policy.
            (0, 301, true, Skip, deadline, Missed),
            (0, 301, true, Latest, deadline, Missed),
            (0, 301, false, All, deadline, Missed),
            // No deadline: never missed.
            (0, 86_400, false, All, None, Fire),
            (0, 86_400, true, Latest, None, Fire),
            // Exactly at the bounds.
            (0, 30, true, Skip, deadline, Fire),
            (0, 300, true, Latest, deadline, Fire),
        ];
        for (slot, now, latest, policy, deadline, want) in table {
            assert_eq!(
                decide(at(slot), at(now), latest, policy, deadline, on_time),
                want,
                "slot {slot} now {now} latest {latest} {policy:?} {deadline:?}"
            );
        }
    }
}
