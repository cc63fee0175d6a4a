//! Whether and when a failed attempt is tried again: a decision, not a loop.
//!
//! Two layers: [`in_process`] retries a transient I/O failure a few times
//! within one attempt (jittered, growing, well under a second or two in all);
//! [`decide`] picks what happens after an attempt has failed: a delay queue
//! with a growing delay, or giving up.

use std::time::Duration;

use backon::ExponentialBuilder;
use contaxy_common::domain::action::ErrorClass;
use contaxy_common::topology::RETRY_DELAYS;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Publish to the delay queue with this delay.
    RetryAfter(Duration),
    /// Fail the action and dead-letter the message.
    GiveUp,
}

/// Decides after attempt number `attempt` (1-based) failed with `class`,
/// allowing at most `max_attempts` attempts in all.
pub fn decide(class: ErrorClass, attempt: u32, max_attempts: u32) -> Decision {
    match class {
        ErrorClass::Permanent | ErrorClass::Malformed => Decision::GiveUp,
        ErrorClass::Transient if attempt >= max_attempts => Decision::GiveUp,
        ErrorClass::Transient => {
            let index = usize::try_from(attempt.saturating_sub(1))
                .unwrap_or(usize::MAX)
                .min(RETRY_DELAYS.len() - 1);
            Decision::RetryAfter(RETRY_DELAYS[index])
        }
    }
}

/// The in-process backoff for transient I/O inside one attempt.
pub fn in_process() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_and_malformed_errors_are_never_retried() {
        for attempt in 0..10 {
            assert_eq!(decide(ErrorClass::Permanent, attempt, 5), Decision::GiveUp);
            assert_eq!(decide(ErrorClass::Malformed, attempt, 5), Decision::GiveUp);
        }
    }

    #[test]
    fn transient_errors_wait_longer_each_time_until_the_last_attempt() {
        let max = 5;
        let mut last = Duration::ZERO;
        for attempt in 1..max {
            match decide(ErrorClass::Transient, attempt, max) {
                Decision::RetryAfter(delay) => {
                    assert!(delay > last, "attempt {attempt}: {delay:?} after {last:?}");
                    last = delay;
                }
                Decision::GiveUp => panic!("attempt {attempt} of {max} must be retried"),
            }
        }
        assert_eq!(decide(ErrorClass::Transient, max, max), Decision::GiveUp);
        assert_eq!(
            decide(ErrorClass::Transient, max + 3, max),
            Decision::GiveUp
        );
    }

    #[test]
    fn attempts_beyond_the_ladder_reuse_the_longest_delay() {
        let longest = *RETRY_DELAYS.last().expect("a ladder");
        assert_eq!(
            decide(ErrorClass::Transient, 50, 100),
            Decision::RetryAfter(longest)
        );
        assert_eq!(
            decide(ErrorClass::Transient, 0, 100),
            Decision::RetryAfter(RETRY_DELAYS[0])
        );
    }

    #[test]
    fn one_attempt_allowed_means_no_retry() {
        assert_eq!(decide(ErrorClass::Transient, 1, 1), Decision::GiveUp);
    }
}
