//! How jobs end besides running out: `deployment.cancel` (a client's cancel,
//! or the scheduler's deadline pass), and the removal the finished-job TTL
//! cleanup asks for (`deployment.delete` with `archive_logs`), which keeps
//! the job's record and its logs once its container is gone.
//!
//! A cancel first writes the ending on the row, only if the job has not
//! finished (one conditional update: a finished job stays as it was, and of
//! two cancels one announces), then stops the container. Writing first
//! matters: the container's exit (137) then finds a finished job and does
//! not overwrite `cancelled` with `failed`. Stopping is idempotent, so a
//! retried or repeated cancel stops again harmlessly.

use std::collections::VecDeque;

use contaxy_common::domain::deployment::DeploymentStatus;
use contaxy_common::domain::payload::{CancelPayload, CancelReason};
use contaxy_common::store::deployments::{self, DeploymentRecord};
use futures::StreamExt;

use super::with_retries;
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::runtime::{DeleteOptions, DeploymentRef, LogOptions, RuntimeError};
use crate::status::{self, StatusEvent};

/// The most output an archive keeps: the last this many bytes.
const ARCHIVE_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The first line of an archive that lost its beginning to the bound.
const TRUNCATED: &[u8] = b"[contaxy: earlier output dropped; the archive keeps the last 16 MiB]\n";

/// Executes `deployment.cancel` on deployment `target`.
pub async fn cancel(
    ctx: &ActionContext,
    target: &DeploymentRef,
    payload: &CancelPayload,
) -> Result<(), ActionError> {
    let Some(record) =
        deployments::find(&ctx.pool, &target.project_id, &target.deployment_id).await?
    else {
        // Deleted meanwhile: nothing is left to stop.
        return Ok(());
    };
    let (status, detail) = ending(&record, payload.reason);
    let before = deployments::end_unfinished(
        &ctx.pool,
        &target.project_id,
        &target.deployment_id,
        status,
        &detail,
    )
    .await?;
    if before.is_some() {
        tracing::info!(deployment_id = %target.deployment_id, %status, %detail, "A job was ended before it finished.");
        let event = StatusEvent {
            deployment_id: &target.deployment_id,
            project_id: &target.project_id,
            status,
            exit_code: None,
            at: chrono::Utc::now(),
        };
        status::announce(&ctx.pool, &ctx.publisher, &event).await;
    }
    match with_retries(|| ctx.runtime.stop(target)).await {
        // Never started (a cancel before its deploy ran; the deploy then
        // sees `cancelled` and runs nothing), or already removed.
        Ok(()) | Err(RuntimeError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The status and reason a job ends with.
fn ending(record: &DeploymentRecord, reason: CancelReason) -> (DeploymentStatus, String) {
    match reason {
        CancelReason::Requested => (
            DeploymentStatus::Cancelled,
            "cancelled on request".to_owned(),
        ),
        CancelReason::Deadline => {
            let seconds = record.input.deadline_seconds.unwrap_or_default();
            (
                DeploymentStatus::Failed,
                format!("ran past its deadline of {seconds} s"),
            )
        }
    }
}

/// The TTL removal: archives the container's logs, removes the container
/// (and its volume), and keeps the row, marked archived.
pub async fn remove_keeping_record(
    ctx: &ActionContext,
    target: &DeploymentRef,
) -> Result<(), ActionError> {
    if let Some(text) = collect_logs(ctx, target).await? {
        ctx.storage
            .put_logs_archive(&target.project_id, &target.deployment_id, text)
            .await?;
    }
    let options = DeleteOptions {
        delete_volumes: true,
    };
    with_retries(|| ctx.runtime.delete(target, options)).await?;
    deployments::mark_archived(&ctx.pool, &target.project_id, &target.deployment_id).await?;
    Ok(())
}

/// Removes the archived logs of a deployment whose record goes (only
/// deployments the TTL removal archived have any).
pub async fn forget_archive(
    ctx: &ActionContext,
    target: &DeploymentRef,
) -> Result<(), ActionError> {
    let archived = deployments::find(&ctx.pool, &target.project_id, &target.deployment_id)
        .await?
        .is_some_and(|record| record.archived_at.is_some());
    if archived {
        ctx.storage
            .delete_logs_archive(&target.project_id, &target.deployment_id)
            .await?;
    }
    Ok(())
}

/// The container's whole output (its last [`ARCHIVE_MAX_BYTES`]); `None`
/// when it has no container any more (a retry after the removal: the
/// archive was written by the first attempt).
async fn collect_logs(
    ctx: &ActionContext,
    target: &DeploymentRef,
) -> Result<Option<Vec<u8>>, ActionError> {
    let options = LogOptions {
        lines: None,
        since: None,
        follow: false,
        timestamps: false,
    };
    let mut stream = match with_retries(|| ctx.runtime.logs(target, options)).await {
        Ok(stream) => stream,
        Err(RuntimeError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let mut kept: VecDeque<u8> = VecDeque::new();
    let mut dropped = false;
    while let Some(chunk) = stream.next().await {
        kept.extend(chunk?.bytes);
        if kept.len() > ARCHIVE_MAX_BYTES {
            let excess = kept.len() - ARCHIVE_MAX_BYTES;
            kept.drain(..excess);
            dropped = true;
        }
    }
    let mut text = Vec::with_capacity(kept.len() + TRUNCATED.len());
    if dropped {
        text.extend_from_slice(TRUNCATED);
    }
    text.extend(kept);
    Ok(Some(text))
}
