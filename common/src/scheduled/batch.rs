//! Batched fires: the due slots of many schedules (one slot each) in one
//! transaction of multi-row statements ([`crate::store::schedule_fires`]),
//! then their messages published together. A slot of 10,000 schedules is
//! then a few dozen statements and one wait for the broker's confirms,
//! where one transaction per schedule cost eight round trips and a confirm
//! each (`docs/benchmarks.md`).
//!
//! The guarantees are those of [`super::fire`], slot by slot:
//!
//! - **exactly once**: each cursor moves only if it still points at the
//!   slot (rows locked in id order); a schedule whose cursor moved already
//!   is [`BatchOutcome::Lost`] and writes nothing. The run's unique key
//!   (schedule, slot), the job's id and the action's idempotency key guard
//!   as before: an insert that meets an existing row aborts the batch
//!   ([`BatchError::Conflict`], nothing written) and the caller takes the
//!   slots one at a time, where each such case has its own answer;
//! - **refusals stay per schedule**: a project being deleted, a job still
//!   unfinished under `forbid`, a template that no longer validates, a
//!   project without room (quotas) each record that slot's run
//!   (`failed` or `skipped_forbid`, with the reason) and move its cursor,
//!   while the other schedules of the batch fire;
//! - **a schedule fires as it was read**: a schedule edited or suspended
//!   since the pass read it does not move ([`BatchOutcome::Lost`]); it is
//!   still due, and the pass reads it again;
//! - **the action row is the truth**: messages go out after the commit;
//!   one not confirmed stays unpublished for the outbox relay.
//!
//! `replace` is not batched (its cancels need the jobs read per schedule);
//! nor are catch-up slots after an outage: the cron pass sends those
//! through [`super::fire`] one at a time.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Firing, job_id};
use crate::domain::action::{Action, DeploymentAction};
use crate::domain::deployment::DeploymentType;
use crate::domain::payload::DeployPayload;
use crate::domain::schedule::{ConcurrencyPolicy, RunOutcome};
use crate::message::ActionMessage;
use crate::store::actions;
use crate::store::quotas::{QuotaExceeded, Quotas};
use crate::store::schedule_fires::{
    self, CursorMoves, DeploymentCounts, NewJobs, NewRuns, advance_all,
};
use crate::store::schedules::ScheduleRecord;

/// Publishes awaiting their confirms at once, at most.
const PUBLISHES_IN_FLIGHT: usize = 512;

/// One schedule's due slot, to fire.
#[derive(Debug, Clone, Copy)]
pub struct DueSlot<'a> {
    /// The schedule (at most one slot of each per batch).
    pub schedule: &'a ScheduleRecord,
    /// The slot.
    pub slot: DateTime<Utc>,
    /// The slot after it: the schedule's cursor once it is handled.
    pub next: Option<DateTime<Utc>>,
}

/// What became of one slot of a batch that committed.
#[derive(Debug, Clone)]
pub enum BatchOutcome {
    /// The job was made: its deploy action, to publish.
    Fired(Box<ActionMessage>),
    /// The slot's run is recorded without a job, with this outcome.
    PassedOver {
        /// `failed` or `skipped_forbid`.
        outcome: RunOutcome,
        /// Why.
        detail: String,
    },
    /// The slot was not this batch's to fire: another scheduler handled
    /// it first, or the schedule changed since it was read (it is still
    /// due then). Nothing was written.
    Lost,
}

/// Why a batch wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A row the batch meant to insert exists already (a trigger in the
    /// same millisecond as the slot, a job id taken): the batch rolled
    /// back, and its slots are for the one-at-a-time path.
    #[error("a {0} of the batch existed already")]
    Conflict(&'static str),
    /// PostgreSQL failed; the batch rolled back.
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Fires `due` at `now` in one transaction; the outcomes in the order of
/// `due`. Publish the fired actions with [`publish_all`] after it.
pub async fn fire_all(
    firing: &Firing<'_>,
    due: &[DueSlot<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<BatchOutcome>, BatchError> {
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = firing.pool.begin().await?;
    match write(&mut tx, firing.namespace, firing.quotas, due, now).await {
        Ok(outcomes) => {
            tx.commit().await?;
            Ok(outcomes)
        }
        Err(error) => {
            // Explicitly: a dropped transaction keeps its locks until its
            // connection is used again.
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "A batch of fires could not be rolled back; its connection is dropped.");
            }
            Err(error)
        }
    }
}

/// Where one slot stands while the batch is written.
enum Pending {
    Fire,
    Done(BatchOutcome),
}

fn passed_over(outcome: RunOutcome, detail: impl Into<String>) -> Pending {
    Pending::Done(BatchOutcome::PassedOver {
        outcome,
        detail: detail.into(),
    })
}

async fn write(
    conn: &mut PgConnection,
    namespace: &str,
    quotas: &Quotas,
    due: &[DueSlot<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<BatchOutcome>, BatchError> {
    let moves = CursorMoves {
        ids: due.iter().map(|d| d.schedule.id).collect(),
        read_at_versions: due.iter().map(|d| d.schedule.updated_at).collect(),
        slots: due.iter().map(|d| d.slot).collect(),
        nexts: due.iter().map(|d| d.next).collect(),
    };
    // First, so that a concurrent fire of a slot waits on the row lock and
    // then finds the cursor moved.
    let moved = advance_all(conn, &moves).await?;
    let mut pending: Vec<Pending> = due
        .iter()
        .map(|d| match moved.contains(&d.schedule.id) {
            true => Pending::Fire,
            false => Pending::Done(BatchOutcome::Lost),
        })
        .collect();

    let projects = projects_of(due, &pending);
    let live = schedule_fires::lock_live_projects(conn, &projects).await?;
    for (d, state) in due.iter().zip(pending.iter_mut()) {
        if matches!(state, Pending::Fire) && !live.contains(&d.schedule.project_id) {
            *state = passed_over(RunOutcome::Failed, "its project is being deleted");
        }
    }

    let forbid: Vec<Uuid> = due
        .iter()
        .zip(&pending)
        .filter(|(d, state)| {
            matches!(state, Pending::Fire)
                && d.schedule.concurrency_policy == ConcurrencyPolicy::Forbid
        })
        .map(|(d, _)| d.schedule.id)
        .collect();
    if !forbid.is_empty() {
        let busy = schedule_fires::with_unfinished_job(conn, &forbid).await?;
        for (d, state) in due.iter().zip(pending.iter_mut()) {
            if matches!(state, Pending::Fire) && busy.contains(&d.schedule.id) {
                *state = passed_over(
                    RunOutcome::SkippedForbid,
                    "the previous job had not finished",
                );
            }
        }
    }

    for (d, state) in due.iter().zip(pending.iter_mut()) {
        if matches!(state, Pending::Fire)
            && let Err(errors) = d.schedule.job_template.0.validate(DeploymentType::Job)
        {
            *state = passed_over(
                RunOutcome::Failed,
                format!("the job template is invalid: {errors}"),
            );
        }
    }

    if quotas.max_deployments_per_project > 0 || quotas.max_running_per_project > 0 {
        let projects = projects_of(due, &pending);
        let mut counts = schedule_fires::lock_and_count_deployments(conn, &projects).await?;
        for (d, state) in due.iter().zip(pending.iter_mut()) {
            if matches!(state, Pending::Fire) {
                let count = counts.entry(d.schedule.project_id.clone()).or_default();
                if let Err(exceeded) = take_room(quotas, count) {
                    *state = passed_over(RunOutcome::Failed, format!("refused: {exceeded}"));
                }
            }
        }
    }

    let mut fired = insert_fired(conn, namespace, due, &pending).await?;
    let outcomes: Vec<BatchOutcome> = pending
        .into_iter()
        .zip(due)
        .map(|(state, d)| match state {
            Pending::Done(outcome) => Some(outcome),
            Pending::Fire => fired
                .remove(&d.schedule.id)
                .map(|message| BatchOutcome::Fired(Box::new(message))),
        })
        .collect::<Option<_>>()
        .ok_or(BatchError::Conflict("deploy action"))?;

    let runs = runs_of(due, &outcomes);
    if schedule_fires::insert_runs(conn, &runs, now).await? != runs.schedules.len() as u64 {
        return Err(BatchError::Conflict("run"));
    }
    Ok(outcomes)
}

/// The distinct projects of the slots still to fire, sorted (the order
/// their locks are taken in).
fn projects_of<'a>(due: &[DueSlot<'a>], pending: &[Pending]) -> Vec<&'a str> {
    let projects: BTreeSet<&str> = due
        .iter()
        .zip(pending)
        .filter(|(_, state)| matches!(state, Pending::Fire))
        .map(|(d, _)| d.schedule.project_id.as_str())
        .collect();
    projects.into_iter().collect()
}

/// One more job in a project with `count` deployments, if its quotas
/// leave room (the rule of [`crate::store::quotas::check_new_deployment`]);
/// the new job counts as pending.
fn take_room(quotas: &Quotas, count: &mut DeploymentCounts) -> Result<(), QuotaExceeded> {
    let max = quotas.max_deployments_per_project;
    if max > 0 && count.total >= i64::from(max) {
        return Err(QuotaExceeded::DeploymentsPerProject { max });
    }
    let max = quotas.max_running_per_project;
    if max > 0 && count.running >= i64::from(max) {
        return Err(QuotaExceeded::RunningPerProject { max });
    }
    count.total += 1;
    count.running += 1;
    Ok(())
}

/// Inserts the jobs and deploy actions of the slots that fire (their rows
/// made from the schedules' rows, which [`advance_all`] locked as they were
/// read); the actions' messages by schedule.
async fn insert_fired(
    conn: &mut PgConnection,
    namespace: &str,
    due: &[DueSlot<'_>],
    pending: &[Pending],
) -> Result<HashMap<Uuid, ActionMessage>, BatchError> {
    let mut jobs = NewJobs::default();
    let mut messages = HashMap::new();
    for (d, _) in due
        .iter()
        .zip(pending)
        .filter(|(_, state)| matches!(state, Pending::Fire))
    {
        let schedule = d.schedule;
        let input = &schedule.job_template.0;
        let id = job_id(namespace, schedule, d.slot);
        let action_id = Uuid::now_v7();
        let idempotency_key = format!("schedule:{}:{}", schedule.id, d.slot.timestamp_millis());
        jobs.schedules.push(schedule.id);
        jobs.ids.push(id.clone());
        jobs.display_names
            .push(input.display_name.clone().unwrap_or_default());
        jobs.action_ids.push(action_id);
        jobs.idempotency_keys.push(idempotency_key.clone());
        messages.insert(
            schedule.id,
            ActionMessage {
                action_id,
                project_id: schedule.project_id.clone(),
                action: Action::Deployment {
                    deployment_id: id,
                    action: DeploymentAction::Deploy(Box::new(DeployPayload {
                        deployment_type: DeploymentType::Job,
                        input: input.clone(),
                    })),
                },
                idempotency_key: Some(idempotency_key),
                requested_by: schedule.created_by.clone(),
            },
        );
    }
    if jobs.ids.is_empty() {
        return Ok(HashMap::new());
    }
    if schedule_fires::insert_jobs(conn, &jobs).await? != jobs.ids.len() as u64 {
        return Err(BatchError::Conflict("job id"));
    }
    // Every action or none: one that met an existing row rolls it all back.
    if schedule_fires::insert_deploys(conn, &jobs).await?.len() != jobs.ids.len() {
        return Err(BatchError::Conflict("deploy action"));
    }
    Ok(messages)
}

/// The runs of the slots that were not lost.
fn runs_of(due: &[DueSlot<'_>], outcomes: &[BatchOutcome]) -> NewRuns {
    let mut runs = NewRuns::default();
    for (d, outcome) in due.iter().zip(outcomes) {
        let (deployment, action, outcome, detail) = match outcome {
            BatchOutcome::Lost => continue,
            BatchOutcome::Fired(message) => (
                message.action.resource_id().map(str::to_owned),
                Some(message.action_id),
                RunOutcome::Fired,
                None,
            ),
            BatchOutcome::PassedOver { outcome, detail } => {
                (None, None, *outcome, Some(detail.clone()))
            }
        };
        runs.schedules.push(d.schedule.id);
        runs.slots.push(d.slot);
        runs.projects.push(d.schedule.project_id.clone());
        runs.deployments.push(deployment);
        runs.actions.push(action);
        runs.outcomes.push(outcome_name(outcome));
        runs.details.push(detail);
    }
    runs
}

/// An outcome's wire name (the `schedule_runs.outcome` check).
fn outcome_name(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Fired => "fired",
        RunOutcome::Triggered => "triggered",
        RunOutcome::Missed => "missed",
        RunOutcome::SkippedCatchUp => "skipped_catch_up",
        RunOutcome::SkippedForbid => "skipped_forbid",
        RunOutcome::Failed => "failed",
    }
}

/// Publishes recorded actions together: every message is sent before the
/// first confirm is awaited ([`PUBLISHES_IN_FLIGHT`] at a time). Returns
/// the ids the broker confirmed, for [`note_published`]; the others stay
/// unpublished for the outbox relay.
pub async fn publish_all(firing: &Firing<'_>, messages: &[ActionMessage]) -> Vec<Uuid> {
    let mut confirmed = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(PUBLISHES_IN_FLIGHT) {
        let results = join_all(chunk.iter().map(|message| publish_one(firing, message))).await;
        confirmed.extend(results.into_iter().flatten());
    }
    confirmed
}

/// Notes that the broker confirmed `ids`, in one statement. A failure is
/// harmless: the relay publishes them again, and a duplicate is a no-op at
/// the worker's claim.
pub async fn note_published(firing: &Firing<'_>, ids: &[Uuid]) {
    if ids.is_empty() {
        return;
    }
    if let Err(error) = actions::mark_all_published(firing.pool, ids).await {
        tracing::warn!(%error, count = ids.len(), "Could not note a batch of publishes.");
    }
}

/// Publishes one action; its id once the broker confirmed it.
async fn publish_one(firing: &Firing<'_>, message: &ActionMessage) -> Option<Uuid> {
    crate::submit::publish_confirmed(firing.publisher, message)
        .await
        .then_some(message.action_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_room_follows_the_quota_rule() {
        let quotas = Quotas {
            max_deployments_per_project: 3,
            max_running_per_project: 2,
            max_projects_per_user: 0,
        };
        let mut count = DeploymentCounts {
            total: 1,
            running: 0,
        };
        assert_eq!(take_room(&quotas, &mut count), Ok(()));
        assert_eq!(take_room(&quotas, &mut count), Ok(()));
        // Three deployments now: the total refuses first.
        assert_eq!(
            take_room(&quotas, &mut count),
            Err(QuotaExceeded::DeploymentsPerProject { max: 3 })
        );
        let mut count = DeploymentCounts {
            total: 0,
            running: 2,
        };
        assert_eq!(
            take_room(&quotas, &mut count),
            Err(QuotaExceeded::RunningPerProject { max: 2 })
        );
        let off = Quotas {
            max_deployments_per_project: 0,
            max_running_per_project: 0,
            max_projects_per_user: 0,
        };
        let mut count = DeploymentCounts {
            total: 10_000,
            running: 10_000,
        };
        assert_eq!(take_room(&off, &mut count), Ok(()));
    }
}
