//! A schedule's fire: the job for one slot, made through the one submit
//! path ([`crate::submit`]) that the API's job route takes too.
//!
//! The fire's transaction holds, together: the `deployment.deploy` action,
//! the job's deployment row, the slot's `schedule_runs` row, and (for a
//! cron slot) the schedule's cursor moved past the slot. The cursor moves
//! only if the slot is still the schedule's next one, and the run's key is
//! unique on (schedule, slot): a second fire of the same slot, from another
//! scheduler that also believes it leads, cannot commit. The job's id and
//! the action's idempotency key derive from (schedule, slot) as well.
//!
//! Under `concurrency_policy = replace` the same transaction also records a
//! `deployment.cancel` (the action `POST …/jobs/{id}:cancel` submits) of
//! each of the schedule's unfinished jobs, read after the cursor's row lock:
//! the cancels and the new job commit together or not at all. They are
//! published before the new job's deploy.
//!
//! [`batch`] fires many schedules' slots in one transaction of multi-row
//! statements under the same guards: the cron pass's common case.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::action::{Action, ActionOrigin, DeploymentAction};
use crate::domain::deployment::{DeploymentInput, DeploymentType, deployment_id};
use crate::domain::payload::DeployPayload;
use crate::domain::payload::{CancelPayload, CancelReason};
use crate::domain::schedule::ConcurrencyPolicy;
use crate::domain::schedule::RunOutcome;
use crate::domain::validation::FieldErrors;
use crate::publisher::Publisher;
use crate::store::actions::{self, ActionRecord, NewAction, Recorded};
use crate::store::deployments::{self, NewDeployment};
use crate::store::projects;
use crate::store::quotas::{self, QuotaError, QuotaExceeded, Quotas};
use crate::store::schedules::{self, NewRun, RunRecord, ScheduleRecord};
use crate::submit::{self, ResourceWrite, Submitted};

pub mod batch;

/// Why a slot did not fire.
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    /// Another fire (or skip) of this slot committed first.
    #[error("the slot was handled already")]
    AlreadyHandled,
    /// A deployment with the job's id exists (a trigger in the same
    /// millisecond as another).
    #[error("a deployment with the id `{0}` exists already")]
    DeploymentExists(String),
    /// The job template no longer validates (a row written by hand or by
    /// another version).
    #[error("the job template is invalid: {0}")]
    Template(#[from] FieldErrors),
    /// The schedule's project is being deleted: no job is made in it.
    #[error("its project is being deleted")]
    ProjectNotLive,
    /// The project has no room for one more job (its quotas).
    #[error("refused: {0}")]
    Quota(QuotaExceeded),
    /// PostgreSQL failed.
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// What a fire moves: a cron slot moves the schedule's cursor to `next`; a
/// trigger (run now) leaves the cursor alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireKind {
    /// A slot of the cron expression; `next` is the slot after it.
    Slot {
        /// The schedule's next slot once this one is handled.
        next: Option<DateTime<Utc>>,
    },
    /// Run now, on request.
    Trigger,
}

/// What a fire needs besides the schedule.
#[derive(Debug, Clone, Copy)]
pub struct Firing<'a> {
    /// The database.
    pub pool: &'a PgPool,
    /// Where actions are published.
    pub publisher: &'a Publisher,
    /// The runtime namespace (the deployment id's prefix).
    pub namespace: &'a str,
    /// The per-tenant limits a new job must fit in, as at the API.
    pub quotas: &'a Quotas,
}

/// The most unfinished jobs one `replace` fire cancels (more can only be
/// left from a time the schedule allowed overlaps; the next fire cancels
/// the rest).
const MAX_REPLACED: i64 = 100;

/// A fire that committed.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The job's deploy action.
    pub action: ActionRecord,
    /// The slot's run.
    pub run: RunRecord,
    /// Under `replace`: the cancels of the jobs it replaced.
    pub cancels: Vec<ActionRecord>,
}

/// Base-36 digits of the schedule's part of a job id: 51 bits, so two
/// schedules of one project with the same job name do not make the same
/// id for a slot (five digits, 26 bits, did: with 10,000 such schedules a
/// pair shares them more often than not).
const SCHEDULE_DIGITS: u32 = 10;

/// The id of the job a schedule makes for `slot`: the template's display
/// name as slug, then a suffix from the schedule's id and the slot.
pub fn job_id(namespace: &str, schedule: &ScheduleRecord, slot: DateTime<Utc>) -> String {
    let digest = Sha256::digest(schedule.id.as_bytes());
    let schedule_part = base36(
        u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8])) % 36u64.pow(SCHEDULE_DIGITS),
    );
    let slot_part = base36(u64::try_from(slot.timestamp_millis()).unwrap_or(0));
    let name = schedule
        .job_template
        .display_name
        .as_deref()
        .unwrap_or(&schedule.display_name);
    deployment_id(
        namespace,
        &schedule.project_id,
        DeploymentType::Job,
        name,
        &format!("{schedule_part:0>10}{slot_part}"),
    )
}

fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// Fires `slot` of `schedule` at `now`: records the job, its action and
/// the run in one transaction, then publishes the action.
pub async fn fire(
    firing: &Firing<'_>,
    schedule: &ScheduleRecord,
    slot: DateTime<Utc>,
    kind: FireKind,
    now: DateTime<Utc>,
) -> Result<Fired, FireError> {
    let input = schedule.job_template.0.clone();
    input.validate(DeploymentType::Job)?;
    let id = job_id(firing.namespace, schedule, slot);
    let typed = Action::Deployment {
        deployment_id: id.clone(),
        action: DeploymentAction::Deploy(Box::new(DeployPayload {
            deployment_type: DeploymentType::Job,
            input: input.clone(),
        })),
    };
    let mut action = NewAction::new(&schedule.project_id, typed, ActionOrigin::Scheduler);
    action.idempotency_key = Some(format!(
        "schedule:{}:{}",
        schedule.id,
        slot.timestamp_millis()
    ));
    action.requested_by = schedule.created_by.clone();
    let write = SlotWrite {
        schedule,
        slot,
        kind,
        deployment_id: &id,
        action_id: action.id,
        input: &input,
        quotas: firing.quotas,
        now,
    };
    // Published here rather than by `submit`: the cancels go out before the
    // new job's deploy.
    match submit::record(firing.pool, action, write).await? {
        Submitted::New { action, row } => {
            for cancel in &row.cancels {
                submit::publish(firing.pool, firing.publisher, cancel).await;
            }
            submit::publish(firing.pool, firing.publisher, &action).await;
            Ok(Fired {
                action,
                run: row.run,
                cancels: row.cancels,
            })
        }
        Submitted::Repeat(_) => Err(FireError::AlreadyHandled),
    }
}

/// The cancel of `job` that a `replace` fire of `slot` records; its
/// idempotency key derives from (schedule, slot, job).
fn replace_cancel(schedule: &ScheduleRecord, slot: DateTime<Utc>, job: &str) -> NewAction {
    let typed = Action::Deployment {
        deployment_id: job.to_owned(),
        action: DeploymentAction::Cancel(CancelPayload {
            reason: CancelReason::Requested,
        }),
    };
    let mut action = NewAction::new(&schedule.project_id, typed, ActionOrigin::Scheduler);
    action.idempotency_key = Some(format!(
        "schedule:{}:{}:cancel:{job}",
        schedule.id,
        slot.timestamp_millis()
    ));
    action.requested_by = schedule.created_by.clone();
    action
}

/// Records a slot that fires nothing (missed, skipped) and moves the
/// cursor to `next`; `false` when the slot was handled already.
pub async fn pass_over(
    pool: &PgPool,
    schedule: &ScheduleRecord,
    slot: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    outcome: RunOutcome,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    if !schedules::advance(&mut tx, schedule.id, slot, next).await? {
        return Ok(false);
    }
    let run = NewRun {
        schedule_id: schedule.id,
        project_id: &schedule.project_id,
        slot_time: slot,
        deployment_id: None,
        action_id: None,
        outcome,
        detail,
        recorded_at: now,
    };
    if schedules::insert_run(&mut tx, &run).await?.is_none() {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// The rows a fire writes besides its action.
struct SlotWrite<'a> {
    schedule: &'a ScheduleRecord,
    slot: DateTime<Utc>,
    kind: FireKind,
    deployment_id: &'a str,
    action_id: Uuid,
    input: &'a DeploymentInput,
    quotas: &'a Quotas,
    now: DateTime<Utc>,
}

/// What a fire's transaction wrote besides the deploy action.
struct SlotRows {
    run: RunRecord,
    cancels: Vec<ActionRecord>,
}

impl ResourceWrite<FireError> for SlotWrite<'_> {
    type Row = SlotRows;

    async fn write(self, conn: &mut PgConnection) -> Result<SlotRows, FireError> {
        let outcome = match self.kind {
            FireKind::Slot { next } => {
                // First, so that a concurrent fire of the slot waits on the
                // row lock and then finds the cursor moved.
                if !schedules::advance(conn, self.schedule.id, self.slot, next).await? {
                    return Err(FireError::AlreadyHandled);
                }
                RunOutcome::Fired
            }
            FireKind::Trigger => RunOutcome::Triggered,
        };
        if !projects::lock_live(conn, &self.schedule.project_id).await? {
            return Err(FireError::ProjectNotLive);
        }
        match quotas::check_new_deployment(conn, self.quotas, &self.schedule.project_id).await {
            Ok(()) => {}
            Err(QuotaError::Exceeded(exceeded)) => return Err(FireError::Quota(exceeded)),
            Err(QuotaError::Database(error)) => return Err(error.into()),
        }
        let mut cancels = Vec::new();
        if self.schedule.concurrency_policy == ConcurrencyPolicy::Replace {
            for job in schedules::unfinished_jobs(conn, self.schedule.id, MAX_REPLACED).await? {
                let cancel = replace_cancel(self.schedule, self.slot, &job);
                if let Recorded::New(record) = actions::record(conn, &cancel).await? {
                    cancels.push(record);
                }
            }
        }
        let replaced: Vec<&str> = cancels
            .iter()
            .filter_map(|cancel| cancel.resource_id.as_deref())
            .collect();
        let detail = (!replaced.is_empty()).then(|| format!("replaced {}", replaced.join(", ")));
        let deployment = NewDeployment {
            id: self.deployment_id,
            project_id: &self.schedule.project_id,
            deployment_type: DeploymentType::Job,
            input: self.input,
            created_by: self.schedule.created_by.as_deref(),
        };
        if deployments::insert(conn, &deployment).await?.is_none() {
            return Err(FireError::DeploymentExists(self.deployment_id.to_owned()));
        }
        let run = NewRun {
            schedule_id: self.schedule.id,
            project_id: &self.schedule.project_id,
            slot_time: self.slot,
            deployment_id: Some(self.deployment_id),
            action_id: Some(self.action_id),
            outcome,
            detail: detail.as_deref(),
            recorded_at: self.now,
        };
        let run = schedules::insert_run(conn, &run)
            .await?
            .ok_or(FireError::AlreadyHandled)?;
        Ok(SlotRows { run, cancels })
    }
}
