//! Jobs past their run deadline: `deadline_at` (fixed when the job was first
//! seen running: start + `deadline_seconds`) has passed while the job is
//! still pending or running. Each gets one `deployment.cancel` with reason
//! `deadline`; the worker stops it and marks it `failed` with "ran past its
//! deadline of N s". The deadline lives in PostgreSQL, so it holds whichever
//! worker started the job and whether or not that worker still runs.

use chrono::{DateTime, Utc};
use contaxy_common::domain::action::{Action, DeploymentAction};
use contaxy_common::domain::payload::{CancelPayload, CancelReason};
use contaxy_common::store::cleanup;

use super::submit::{Submission, submit};
use super::{CleanupContext, CleanupError, Report};

/// The pass's name (metric label).
pub const PASS: &str = "deadlines";

/// One pass as of `now`.
pub async fn run_once(ctx: &CleanupContext, now: DateTime<Utc>) -> Result<Report, CleanupError> {
    let mut report = Report::new(PASS);
    for due in cleanup::overdue_jobs(&ctx.pool, now, ctx.settings.batch).await? {
        let action = Action::Deployment {
            deployment_id: due.id.clone(),
            action: DeploymentAction::Cancel(CancelPayload {
                reason: CancelReason::Deadline,
            }),
        };
        let key = format!("cleanup:deadline:{}", due.id);
        match submit(&ctx.pool, &ctx.publisher, &due.project_id, action, key).await {
            Ok(Submission::New) => report.submitted.push((due.project_id, due.id)),
            Ok(Submission::AlreadySubmitted) => report.already_submitted += 1,
            Err(error) => {
                tracing::warn!(%error, deployment_id = %due.id, "Could not submit a deadline cancel.");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}
