//! What a client sends to create a schedule, and its validation: the cron
//! expression and time zone are parsed, the minimum interval checked, and
//! the job template validated exactly as `POST /projects/{p}/jobs`
//! validates a job.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{CatchUpPolicy, ConcurrencyPolicy, ScheduleTimes};
use crate::domain::deployment::{DeploymentInput, DeploymentType};
use crate::domain::validation::{FieldErrors, check_len};

/// Largest history limit.
const MAX_HISTORY: u32 = 1000;
/// Longest starting deadline: ten years.
const MAX_DEADLINE_SECONDS: u64 = 315_360_000;

/// A schedule as a client writes it (the body of `POST …/schedules`, and
/// the whole of a schedule a `PATCH` is merged into). Unknown fields are
/// refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// A human name, 1–128 characters; defaults to the job template's.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The cron expression (5 fields, or 6/7 with seconds first).
    pub cron: String,
    /// An IANA time zone name; `UTC` when left out.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// The job each fire makes (a contaxy `JobInput`).
    pub job_template: DeploymentInput,
    /// What a fire does while the previous job still runs.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A slot not fired within this many seconds is recorded `missed`;
    /// left out, there is no limit.
    #[serde(default)]
    pub starting_deadline_seconds: Option<u64>,
    /// Which due slots fire after an outage.
    #[serde(default)]
    pub catch_up: CatchUpPolicy,
    /// Recorded but not firing.
    #[serde(default)]
    pub suspended: bool,
    /// Runs whose job succeeded that are kept (0–1000).
    #[serde(default = "three")]
    pub succeeded_history_limit: u32,
    /// Runs whose job failed, or that fired nothing, that are kept (0–1000).
    #[serde(default = "one")]
    pub failed_history_limit: u32,
    /// No slot at or after this fires.
    #[serde(default)]
    pub end_at: Option<DateTime<Utc>>,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn three() -> u32 {
    3
}

fn one() -> u32 {
    1
}

/// A validated schedule: the input and its parsed times.
#[derive(Debug, Clone)]
pub struct ValidSchedule {
    /// The input as sent (display name filled in).
    pub input: ScheduleInput,
    /// Its slots.
    pub times: ScheduleTimes,
}

impl ValidSchedule {
    /// The first slot strictly after `now` that is before `end_at`.
    pub fn first_slot_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.times
            .next_after(now)
            .filter(|slot| self.input.end_at.is_none_or(|end| *slot < end))
    }
}

impl ScheduleInput {
    /// Checks every field; each problem names its field (the job
    /// template's as `job_template.<field>`). `min_interval` is the
    /// shortest time allowed between two slots; `now` is when it is asked.
    pub fn validate(
        mut self,
        min_interval: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<ValidSchedule, FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.display_name.is_none() {
            self.display_name = self.job_template.display_name.clone();
        }
        match &self.display_name {
            Some(name) => check_len(&mut errors, "display_name", name, 1, 128),
            None => errors.push("display_name", "is required (or the job template's)"),
        }
        if let Err(template) = self.job_template.validate(DeploymentType::Job) {
            for error in template.0 {
                errors.push(&format!("job_template.{}", error.field), &error.message);
            }
        }
        if self
            .starting_deadline_seconds
            .is_some_and(|s| s > MAX_DEADLINE_SECONDS)
        {
            errors.push(
                "starting_deadline_seconds",
                "must be at most 315360000 (ten years)",
            );
        }
        for (field, limit) in [
            ("succeeded_history_limit", self.succeeded_history_limit),
            ("failed_history_limit", self.failed_history_limit),
        ] {
            if limit > MAX_HISTORY {
                errors.push(field, "must be 0 to 1000");
            }
        }
        if self.end_at.is_some_and(|end| end <= now) {
            errors.push("end_at", "is not in the future");
        }
        let times = match ScheduleTimes::parse(&self.cron, &self.time_zone) {
            Ok(times) => Some(times),
            Err((field, error)) => {
                errors.push(field, &error.to_string());
                None
            }
        };
        if let Some(times) = &times {
            check_interval(times, min_interval, now, &mut errors);
        }
        errors.into_result()?;
        let times = times.ok_or_else(FieldErrors::default)?;
        Ok(ValidSchedule { input: self, times })
    }
}

/// Refuses a schedule that never fires again, or fires more often than
/// `min_interval` (in wall time).
fn check_interval(
    times: &ScheduleTimes,
    min_interval: TimeDelta,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) {
    if times.next_after(now).is_none() {
        errors.push("cron", "has no slot after now");
        return;
    }
    if let Some(shortest) = times.shortest_interval(now)
        && shortest < min_interval
    {
        errors.push(
            "cron",
            &format!(
                "fires {} s apart; the minimum interval is {} s",
                shortest.num_seconds(),
                min_interval.num_seconds()
            ),
        );
    }
}
