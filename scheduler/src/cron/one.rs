//! Slots handled one schedule at a time, each in a transaction of its own
//! ([`scheduled::fire`], [`scheduled::pass_over`]): what the batch does not
//! take (see [`super::batch::plan`]): several due slots after an outage,
//! slots that are missed or passed over by the catch-up policy, `replace`
//! (its cancels), and the slots of a batch that met an existing row.

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::domain::schedule::{ConcurrencyPolicy, RunOutcome};
use contaxy_common::scheduled::{self, FireError, FireKind, Firing};
use contaxy_common::store::schedules::{self, ScheduleRecord};

use super::decide::{SlotDecision, decide};
use super::{CronSettings, PassReport, count};

/// Handles one schedule's due slots, then prunes its runs. Errors are
/// logged: the slot's transaction rolled back and the next pass tries again.
pub(super) async fn handle_and_prune(
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
            SlotDecision::Missed => Attempt::PassOver(RunOutcome::Missed, None),
            SlotDecision::SkippedCatchUp => Attempt::PassOver(RunOutcome::SkippedCatchUp, None),
        };
        let handled = match attempt {
            Attempt::Fired => Some(RunOutcome::Fired),
            Attempt::Lost => None,
            Attempt::PassOver(outcome, detail) => {
                let detail = detail.as_deref().or(detail_of(outcome));
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
    /// The slot is recorded without a job, with this outcome (and why,
    /// where [`detail_of`] does not say enough).
    PassOver(RunOutcome, Option<String>),
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
        return Ok(Attempt::PassOver(RunOutcome::SkippedForbid, None));
    }
    let error = match scheduled::fire(firing, schedule, slot, FireKind::Slot { next }, now).await {
        Ok(fired) => {
            tracing::info!(schedule_id = %schedule.id, project_id = %schedule.project_id,
                action_id = %fired.action.id, %slot, replaced = fired.cancels.len(), "A schedule fired.");
            return Ok(Attempt::Fired);
        }
        Err(FireError::AlreadyHandled) => return Ok(Attempt::Lost),
        Err(FireError::Database(error)) => return Err(error),
        Err(error) => error,
    };
    match &error {
        FireError::Template(errors) => {
            tracing::warn!(schedule_id = %schedule.id, %errors, "A schedule's job template is invalid; the slot failed.")
        }
        FireError::DeploymentExists(id) => {
            tracing::warn!(schedule_id = %schedule.id, id, "A slot's job id is taken; the slot failed.")
        }
        FireError::ProjectNotLive => {
            tracing::info!(schedule_id = %schedule.id, "A slot is passed over: its project is being deleted.")
        }
        FireError::Quota(exceeded) => {
            tracing::info!(schedule_id = %schedule.id, %exceeded, "A slot failed: its project has no room for the job.")
        }
        FireError::AlreadyHandled | FireError::Database(_) => {}
    }
    Ok(Attempt::PassOver(
        RunOutcome::Failed,
        Some(error.to_string()),
    ))
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
