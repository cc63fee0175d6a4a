//! The pure decision of one due slot: fire, missed (past the starting
//! deadline) or passed over by the catch-up policy. Kept apart from the
//! database so that a table of tests covers every case.

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::domain::schedule::CatchUpPolicy;

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
