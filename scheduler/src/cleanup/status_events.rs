//! Status events: the record behind `GET /projects/{id}/events` keeps the
//! changes of the last `CONTAXY_STATUS_EVENTS_RETENTION_SECS`; older ones
//! are deleted here (a follower that comes back later is told it missed
//! some). They have no runtime side, so this pass deletes directly.

use chrono::{DateTime, Utc};
use contaxy_common::store::events;

use super::{CleanupContext, CleanupError, Report};

/// The pass's name (metric label).
pub const PASS: &str = "status_events";

/// One pass as of `now`.
pub async fn run_once(ctx: &CleanupContext, now: DateTime<Utc>) -> Result<Report, CleanupError> {
    let mut report = Report::new(PASS);
    let keep =
        chrono::Duration::from_std(ctx.settings.events_retention).unwrap_or(chrono::Duration::MAX);
    let before = now
        .checked_sub_signed(keep)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    report.deleted = events::prune(&ctx.pool, before).await?;
    Ok(report)
}
