//! The common case of a pass, batched: every schedule whose one due slot
//! fires now under `allow` or `forbid` goes into one transaction
//! ([`scheduled::batch::fire_all`]); the messages are published after the
//! commit, while the next batch is being written, and the publishes noted
//! and the runs pruned after the pass's last write.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::domain::schedule::{ConcurrencyPolicy, RunOutcome, ScheduleTimes};
use contaxy_common::message::ActionMessage;
use contaxy_common::scheduled::Firing;
use contaxy_common::scheduled::batch::{self, BatchError, BatchOutcome, DueSlot};
use contaxy_common::store::schedule_fires;
use contaxy_common::store::schedules::ScheduleRecord;
use uuid::Uuid;

use super::decide::{SlotDecision, decide};
use super::{CronSettings, PassReport, count};

/// Parsed cron expressions by (expression, time zone), for one pass:
/// schedules share a handful of expressions, and parsing one costs more
/// than the rest of a schedule's planning.
#[derive(Debug, Default)]
pub(super) struct TimesCache(HashMap<(String, String), Option<ScheduleTimes>>);

impl TimesCache {
    fn get(&mut self, schedule: &ScheduleRecord) -> Option<&ScheduleTimes> {
        self.0
            .entry((schedule.cron.clone(), schedule.time_zone.clone()))
            .or_insert_with(|| schedule.times().ok())
            .as_ref()
    }
}

/// The slot of `schedule` the batch fires at `now`, or `None` when the
/// schedule is for the one-at-a-time path: `replace`, an unreadable
/// expression, more than one slot due (after an outage), or a slot that
/// does not fire (missed, passed over by the catch-up policy).
pub(super) fn plan<'a>(
    schedule: &'a ScheduleRecord,
    cache: &mut TimesCache,
    settings: &CronSettings,
    now: DateTime<Utc>,
) -> Option<DueSlot<'a>> {
    if schedule.concurrency_policy == ConcurrencyPolicy::Replace {
        return None;
    }
    let slot = schedule.next_slot?;
    let next = schedule.slot_after(cache.get(schedule)?, slot);
    if next.is_some_and(|next| next <= now) {
        return None;
    }
    let deadline = schedule.starting_deadline_seconds.map(TimeDelta::seconds);
    let decision = decide(
        slot,
        now,
        true,
        schedule.catch_up,
        deadline,
        settings.on_time,
    );
    (decision == SlotDecision::Fire).then_some(DueSlot {
        schedule,
        slot,
        next,
    })
}

/// What a committed batch leaves to do: publish its actions, prune its
/// schedules' runs.
#[derive(Debug)]
pub(super) struct Committed {
    actions: Vec<ActionMessage>,
    schedules: Vec<Uuid>,
}

/// What the pass's batches leave to do once everything is written: note
/// the publishes the broker confirmed, prune the schedules' runs.
#[derive(Debug, Default)]
pub(super) struct Published {
    confirmed: Vec<Uuid>,
    schedules: Vec<Uuid>,
}

/// A batch's transaction, done.
pub(super) struct Fired<'s, 'a> {
    /// The slots it had.
    pub due: &'s [DueSlot<'a>],
    /// What is left to do, or why it wrote nothing (then its slots are for
    /// the one-at-a-time path).
    pub result: Result<Committed, BatchError>,
    /// Its outcomes, counted.
    pub report: PassReport,
}

/// Fires `due` in one transaction and counts the outcomes.
pub(super) async fn fire<'s, 'a>(
    firing: &Firing<'_>,
    due: &'s [DueSlot<'a>],
    now: DateTime<Utc>,
) -> Fired<'s, 'a> {
    let mut report = PassReport::default();
    let result = match batch::fire_all(firing, due, now).await {
        Ok(outcomes) => Ok(tally(due, outcomes, now, &mut report)),
        Err(error) => Err(error),
    };
    Fired {
        due,
        result,
        report,
    }
}

fn tally(
    due: &[DueSlot<'_>],
    outcomes: Vec<BatchOutcome>,
    now: DateTime<Utc>,
    report: &mut PassReport,
) -> Committed {
    let mut committed = Committed {
        actions: Vec::new(),
        schedules: Vec::with_capacity(due.len()),
    };
    for (slot, outcome) in due.iter().zip(outcomes) {
        let schedule = slot.schedule;
        match outcome {
            BatchOutcome::Fired(message) => {
                tracing::debug!(schedule_id = %schedule.id, action_id = %message.action_id, slot = %slot.slot, "A schedule fired.");
                committed.actions.push(*message);
                count(RunOutcome::Fired, slot.slot, now, report);
            }
            BatchOutcome::PassedOver { outcome, detail } => {
                tracing::info!(schedule_id = %schedule.id, project_id = %schedule.project_id,
                    slot = %slot.slot, ?outcome, detail, "A slot did not fire.");
                count(outcome, slot.slot, now, report);
            }
            BatchOutcome::Lost => {
                report.lost_races += 1;
                continue;
            }
        }
        committed.schedules.push(schedule.id);
    }
    if !committed.actions.is_empty() {
        tracing::info!(
            fired = committed.actions.len(),
            "A batch of schedules fired."
        );
    }
    committed
}

/// After a batch's commit: publishes its actions together (those not
/// confirmed are left to the relay) and adds what is left to do to
/// `published`.
pub(super) async fn publish(firing: &Firing<'_>, committed: Committed, published: &mut Published) {
    let confirmed = batch::publish_all(firing, &committed.actions).await;
    if confirmed.len() < committed.actions.len() {
        tracing::warn!(
            published = confirmed.len(),
            recorded = committed.actions.len(),
            "Some fires were not published; the relay will."
        );
    }
    published.confirmed.extend(confirmed);
    published.schedules.extend(committed.schedules);
}

/// After the pass's last write: notes the confirmed publishes, then prunes
/// the schedules' runs.
pub(super) async fn after_pass(firing: &Firing<'_>, published: Published) {
    batch::note_published(firing, &published.confirmed).await;
    if published.schedules.is_empty() {
        return;
    }
    match schedule_fires::prune_runs_of(firing.pool, &published.schedules).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "Old runs beyond the history limits were deleted."),
        Err(error) => {
            tracing::warn!(%error, "Old runs could not be pruned; the next pass tries again.")
        }
    }
}
