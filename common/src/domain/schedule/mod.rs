//! Cron schedules: when a schedule's slots are, and what a schedule is.
//!
//! A schedule is a set of **wall times** in one IANA time zone, written as a
//! cron expression for the [`cron`] crate. Its slots are the instants those
//! wall times happen:
//!
//! - **Fields**: the standard 5 fields (`minute hour day-of-month month
//!   day-of-week`) are read with a seconds field of `0` in front; 6 fields
//!   start with seconds; a 7th field is a year. `@hourly`, `@daily`,
//!   `@weekly`, `@monthly` and `@yearly` work too. Day-of-week numbers are
//!   the cron crate's: `1` = Sunday … `7` = Saturday (not 0–6); names
//!   (`MON-FRI`) mean the same in every form and are the safer choice.
//! - **A skipped wall time** (spring forward: 02:30 does not exist in
//!   America/New_York on the second Sunday of March) fires at the first
//!   instant after the gap (03:00 EDT). Several skipped slots collapse into
//!   that one fire.
//! - **A repeated wall time** (fall back: 01:30 happens twice on the first
//!   Sunday of November) fires once, at its first occurrence (01:30 EDT).
//!   An every-minute schedule therefore pauses during the repeated hour;
//!   use `UTC` for strict intervals.
//!
//! Slots are computed in whole seconds and never go backwards: [`ScheduleTimes::next_after`]
//! is strictly increasing.
//!
//! - [`input`]: [`ScheduleInput`], what a client sends, and its validation.

pub mod input;

use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use input::{ScheduleInput, ValidSchedule};

/// How many slots the minimum-interval check looks at.
const INTERVAL_CHECK_SLOTS: usize = 10_000;

/// Why a cron expression or time zone was refused (the message is for the
/// client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSchedule {
    /// Not a cron expression the crate reads.
    #[error("is not a cron expression: {0}")]
    Cron(String),
    /// Not an IANA time zone name.
    #[error("is not an IANA time zone name (such as `UTC` or `Europe/Berlin`)")]
    TimeZone,
}

/// A cron expression in a time zone: the schedule's slots.
#[derive(Debug, Clone)]
pub struct ScheduleTimes {
    cron: cron::Schedule,
    zone: Tz,
}

impl ScheduleTimes {
    /// Parses `expression` (5, 6 or 7 fields, or a `@` shorthand) and
    /// `time_zone` (an IANA name).
    pub fn parse(
        expression: &str,
        time_zone: &str,
    ) -> Result<Self, (&'static str, InvalidSchedule)> {
        let cron = parse_cron(expression).map_err(|e| ("cron", e))?;
        let zone = parse_time_zone(time_zone).map_err(|e| ("time_zone", e))?;
        Ok(Self { cron, zone })
    }

    /// The time zone the wall times are in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first slot strictly after `after`, or `None` when there is none
    /// (a year field that has run out).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall = after.with_timezone(&self.zone).naive_local();
        // Wall times are walked as if they were UTC (no gaps, no repeats);
        // each is then placed in the zone. The placement never decreases as
        // the wall time grows, so the first one after `after` is the answer.
        // Only a repeated hour's wall times can land at or before `after`:
        // at most an hour of slots is passed over.
        self.cron
            .after(&wall.and_utc())
            .take(4_000)
            .filter_map(|wall| self.instant_of(wall.naive_utc()))
            .find(|instant| *instant > after)
    }

    /// The shortest distance between two consecutive wall times among the
    /// next [`INTERVAL_CHECK_SLOTS`] slots after `from`; `None` when fewer
    /// than two slots are left.
    pub fn shortest_interval(&self, from: DateTime<Utc>) -> Option<TimeDelta> {
        let wall = from.with_timezone(&self.zone).naive_local();
        let mut walls = self.cron.after(&wall.and_utc()).take(INTERVAL_CHECK_SLOTS);
        let mut previous = walls.next()?;
        let mut shortest: Option<TimeDelta> = None;
        for next in walls {
            let gap = next - previous;
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            previous = next;
        }
        shortest
    }

    /// The instant a wall time happens: itself when it exists once, its
    /// first occurrence when repeated, the end of the gap when skipped.
    fn instant_of(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.zone.from_local_datetime(&wall) {
            LocalResult::Single(instant) => Some(instant.with_timezone(&Utc)),
            LocalResult::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
            LocalResult::None => self.gap_end(wall),
        }
    }

    /// The first instant whose wall time is after `wall` (a wall time in a
    /// gap): the instant the clocks jumped. Found by bisection over whole
    /// seconds; offsets are within ±26 hours, and no zone has two
    /// transitions within a day of each other.
    fn gap_end(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        let wall_of = |seconds: i64| {
            DateTime::from_timestamp(seconds, 0)
                .map(|instant| instant.with_timezone(&self.zone).naive_local())
        };
        let guess = wall.and_utc().timestamp();
        let (mut before, mut after) = (guess - 30 * 3600, guess + 30 * 3600);
        while after - before > 1 {
            let middle = before + (after - before) / 2;
            if wall_of(middle)? > wall {
                after = middle;
            } else {
                before = middle;
            }
        }
        DateTime::from_timestamp(after, 0)
    }
}

/// Reads a cron expression: 5 fields get a seconds field of `0` in front.
pub fn parse_cron(expression: &str) -> Result<cron::Schedule, InvalidSchedule> {
    let trimmed = expression.trim();
    let fields = trimmed.split_whitespace().count();
    let full = if trimmed.starts_with('@') {
        trimmed.to_owned()
    } else {
        match fields {
            5 => format!("0 {trimmed}"),
            6 | 7 => trimmed.to_owned(),
            _ => {
                return Err(InvalidSchedule::Cron(format!(
                    "it has {fields} fields; give 5 (minute hour day-of-month month day-of-week), 6 (seconds first) or 7 (a year last)"
                )));
            }
        }
    };
    cron::Schedule::from_str(&full).map_err(|e| InvalidSchedule::Cron(e.to_string()))
}

/// Reads an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Result<Tz, InvalidSchedule> {
    name.parse::<Tz>().map_err(|_| InvalidSchedule::TimeZone)
}

/// What a fire does while the schedule's previous job still runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ConcurrencyPolicy {
    /// Fire anyway; jobs may overlap.
    #[default]
    Allow,
    /// Skip the slot (recorded `skipped_forbid`).
    Forbid,
    /// Cancel the schedule's unfinished jobs (`deployment.cancel`), then
    /// fire.
    Replace,
}

/// Which slots fire when the scheduler finds several due at once (after an
/// outage, or a suspended schedule resumed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CatchUpPolicy {
    /// Only a slot that is on time fires; the ones passed over are
    /// recorded `skipped_catch_up`.
    #[default]
    Skip,
    /// The latest due slot fires (if within the starting deadline); the
    /// older ones are recorded `skipped_catch_up`.
    Latest,
    /// Every due slot within the starting deadline fires, oldest first.
    All,
}

/// What became of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RunOutcome {
    /// A job was made for the slot.
    Fired,
    /// A job was made on request (`:trigger`).
    Triggered,
    /// Later than the starting deadline: nothing was made.
    Missed,
    /// Passed over by the catch-up policy.
    SkippedCatchUp,
    /// The previous job was still running and the policy is `forbid`.
    SkippedForbid,
    /// The job could not be made (its template no longer validates).
    Failed,
}

#[cfg(test)]
mod tests;
