//! When an event stream reads next: once an announced change has become
//! readable ([`until_next_read`]).
//!
//! A reader is given a change only once it was recorded at least
//! [`SETTLE`] ago (see there why). A change announced at `t` was recorded
//! before `t` (the announcement comes with its commit), so a read at
//! `t + SETTLE` (plus a margin for the database's clock) gets it. Reads for
//! changes announced close together share a slot on a [`GRID`], which
//! bounds the slots pending at once to about `SETTLE / GRID`.

use std::collections::VecDeque;
use std::time::Duration;

use contaxy_common::store::changes::Watch;
use contaxy_common::store::events::SETTLE;
use tokio::time::Instant;

/// Added to [`SETTLE`], so that the database's `now()` at the read is past
/// the window for sure.
const MARGIN: Duration = Duration::from_millis(50);
/// The slots reads are rounded up to.
const GRID: Duration = Duration::from_millis(100);

/// The reads an event stream owes: one per slot in which changes were
/// announced, in order.
#[derive(Debug)]
pub(super) struct Settling {
    /// Where the grid begins.
    epoch: Instant,
    due: VecDeque<Instant>,
}

impl Settling {
    /// A stream that begins at `now` owes one read when a change recorded
    /// just before it, unannounced to it, has settled.
    pub(super) fn new(now: Instant) -> Self {
        let mut settling = Self {
            epoch: now,
            due: VecDeque::new(),
        };
        settling.announced(now);
        settling
    }

    /// A change was announced at `now`: read when it has settled.
    pub(super) fn announced(&mut self, now: Instant) {
        let at = self.slot(now + SETTLE + MARGIN);
        if self.due.back().is_none_or(|last| *last < at) {
            self.due.push_back(at);
        }
    }

    /// The earliest read owed.
    pub(super) fn next(&self) -> Option<Instant> {
        self.due.front().copied()
    }

    /// A read begins at `now`: it pays every read owed by then.
    pub(super) fn read_at(&mut self, now: Instant) {
        while self.due.front().is_some_and(|at| *at <= now) {
            self.due.pop_front();
        }
    }

    /// `at` rounded up to the grid.
    fn slot(&self, at: Instant) -> Instant {
        let since = at.saturating_duration_since(self.epoch);
        let slots = since.as_nanos().div_ceil(GRID.as_nanos());
        let slots = u32::try_from(slots).unwrap_or(u32::MAX);
        self.epoch + GRID.saturating_mul(slots)
    }
}

/// Sleeps until a change announced on `watch` has settled, `recheck` has
/// passed (an announcement may be lost), or `until` (the stream's end);
/// then the stream reads.
pub(super) async fn until_next_read(
    watch: &mut Watch,
    settling: &mut Settling,
    recheck: Duration,
    until: Instant,
) {
    let recheck_at = Instant::now().checked_add(recheck).unwrap_or(until);
    loop {
        let next = settling
            .next()
            .map_or(recheck_at, |at| at.min(recheck_at))
            .min(until);
        tokio::select! {
            () = tokio::time::sleep_until(next) => return,
            () = watch.changed() => settling.announced(Instant::now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use contaxy_common::store::changes::{Change, Changes};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_new_stream_reads_once_what_was_recorded_just_before_it() {
        let start = Instant::now();
        let mut settling = Settling::new(start);
        let first = settling.next().expect("a read owed");
        assert!(first >= start + SETTLE + MARGIN, "{:?}", first - start);
        assert!(first < start + SETTLE + MARGIN + GRID);
        settling.read_at(first - MS);
        assert_eq!(settling.next(), Some(first), "not paid before its time");
        settling.read_at(first);
        assert_eq!(settling.next(), None);
    }

    #[test]
    fn each_change_is_read_once_settled_and_close_ones_share_a_read() {
        let start = Instant::now();
        let mut settling = Settling::new(start);
        settling.read_at(start + SETTLE + MARGIN + GRID);
        // Three changes: two in one slot, one a slot later.
        let t = start + 10 * GRID;
        settling.announced(t + 10 * MS);
        settling.announced(t + 20 * MS);
        settling.announced(t + 150 * MS);
        let first = settling.next().expect("owed");
        assert!(first >= t + 20 * MS + SETTLE + MARGIN, "the later one too");
        settling.read_at(first);
        let second = settling.next().expect("owed");
        assert!(second >= t + 150 * MS + SETTLE + MARGIN);
        assert!(second - first <= GRID);
        settling.read_at(second);
        assert_eq!(settling.next(), None);
    }

    #[test]
    fn a_steady_stream_of_changes_owes_a_bounded_number_of_reads() {
        let start = Instant::now();
        let mut settling = Settling::new(start);
        let mut now = start;
        for _ in 0..10_000 {
            now += MS;
            settling.announced(now);
            settling.read_at(now);
            let bound = (SETTLE + MARGIN).as_nanos() / GRID.as_nanos() + 2;
            assert!(
                settling.due.len() as u128 <= bound,
                "{}",
                settling.due.len()
            );
        }
    }

    const AN_HOUR: Duration = Duration::from_secs(3600);

    /// A stream whose first read is behind it, watching `alpha`.
    fn quiet_stream(changes: &Changes) -> (Watch, Settling) {
        let now = Instant::now();
        let begun = now.checked_sub(2 * SETTLE).expect("a clock past its start");
        let mut settling = Settling::new(begun);
        settling.read_at(now);
        assert_eq!(settling.next(), None);
        (
            changes.watch(Change::ProjectEvent("alpha".into())),
            settling,
        )
    }

    #[tokio::test]
    async fn an_announced_change_is_read_once_settled_not_at_the_recheck() {
        let changes = Changes::new();
        let (mut watch, mut settling) = quiet_stream(&changes);
        let announced = Instant::now();
        changes.wake(&Change::ProjectEvent("alpha".into()));
        tokio::time::timeout(
            Duration::from_secs(60),
            until_next_read(&mut watch, &mut settling, AN_HOUR, announced + AN_HOUR),
        )
        .await
        .expect("a read well before the hour's recheck");
        assert!(
            announced.elapsed() >= SETTLE,
            "read before the change settled"
        );
    }

    #[tokio::test]
    async fn another_projects_change_is_no_reason_to_read() {
        let changes = Changes::new();
        let (mut watch, mut settling) = quiet_stream(&changes);
        changes.wake(&Change::ProjectEvent("beta".into()));
        let end = Instant::now() + Duration::from_millis(200);
        until_next_read(&mut watch, &mut settling, AN_HOUR, end).await;
        assert!(Instant::now() >= end, "woke before the stream's end");
        assert_eq!(settling.next(), None, "a read owed for another project");
    }
}
