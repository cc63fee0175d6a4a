//! Expired tokens: rows of API tokens that expired longer ago than
//! `CONTAXY_TOKEN_EXPIRED_GRACE_SECS` are deleted. An expired token is
//! already refused; the grace keeps it listed a while, so its owner can see
//! why a client stopped working. Tokens have no runtime side, so this pass
//! deletes directly.

use chrono::{DateTime, Utc};
use contaxy_common::store::cleanup;

use super::{CleanupContext, CleanupError, Report, secs};

/// The pass's name (metric label).
pub const PASS: &str = "expired_tokens";

/// One pass as of `now`.
pub async fn run_once(ctx: &CleanupContext, now: DateTime<Utc>) -> Result<Report, CleanupError> {
    let mut report = Report::new(PASS);
    report.deleted =
        cleanup::delete_expired_tokens(&ctx.pool, now, secs(ctx.settings.token_grace)).await?;
    Ok(report)
}
