//! Finished jobs past their TTL, and their records past the retention.
//!
//! A job that ended (succeeded, failed, cancelled) keeps its container for
//! its `ttl_seconds_after_finished`, or `CONTAXY_JOB_TTL_SECS` when it sets
//! none, counted from when it ended. Then [`run_once`] submits a
//! `deployment.delete` with `archive_logs`: the worker archives the
//! container's logs to the project's storage, removes the container and its
//! volume, and keeps the row marked archived, so `GET …/jobs/{id}` and
//! `GET …/jobs/{id}/logs` still answer. [`prune_once`] deletes those
//! records (and their archives) once `CONTAXY_JOB_RECORD_RETENTION_SECS`
//! has passed since, through a plain `deployment.delete`.

use chrono::{DateTime, Utc};
use contaxy_common::domain::action::{Action, DeploymentAction};
use contaxy_common::domain::payload::DeletePayload;
use contaxy_common::store::cleanup::{self, Due};

use super::submit::{Submission, submit};
use super::{CleanupContext, CleanupError, Report, secs};

/// The TTL pass's name (metric label).
pub const PASS: &str = "job_ttl";
/// The retention pass's name (metric label).
pub const PRUNE_PASS: &str = "job_records";

/// Submits the TTL removal of every finished job past its TTL at `now`.
pub async fn run_once(ctx: &CleanupContext, now: DateTime<Utc>) -> Result<Report, CleanupError> {
    let due = cleanup::expired_jobs(
        &ctx.pool,
        now,
        secs(ctx.settings.job_ttl),
        ctx.settings.batch,
    )
    .await?;
    let delete = DeletePayload {
        delete_volumes: true,
        archive_logs: true,
    };
    Ok(submit_all(ctx, Report::new(PASS), due, "ttl", &delete).await)
}

/// Submits the deletion of every archived job record past the retention.
pub async fn prune_once(ctx: &CleanupContext, now: DateTime<Utc>) -> Result<Report, CleanupError> {
    let Some(retention) = ctx.settings.job_record_retention else {
        return Ok(Report::new(PRUNE_PASS));
    };
    let due = cleanup::prunable_jobs(&ctx.pool, now, secs(retention), ctx.settings.batch).await?;
    let delete = DeletePayload {
        delete_volumes: true,
        archive_logs: false,
    };
    Ok(submit_all(ctx, Report::new(PRUNE_PASS), due, "prune", &delete).await)
}

async fn submit_all(
    ctx: &CleanupContext,
    mut report: Report,
    due: Vec<Due>,
    occasion: &str,
    delete: &DeletePayload,
) -> Report {
    for due in due {
        let action = Action::Deployment {
            deployment_id: due.id.clone(),
            action: DeploymentAction::Delete(delete.clone()),
        };
        let key = format!("cleanup:{occasion}:{}", due.id);
        match submit(&ctx.pool, &ctx.publisher, &due.project_id, action, key).await {
            Ok(Submission::New) => report.submitted.push((due.project_id, due.id)),
            Ok(Submission::AlreadySubmitted) => report.already_submitted += 1,
            Err(error) => {
                tracing::warn!(%error, deployment_id = %due.id, occasion, "Could not submit a job removal.");
                report.failed += 1;
            }
        }
    }
    report
}
