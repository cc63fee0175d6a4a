//! Services idle past their `idle_timeout` (contaxy's only background rule).
//!
//! contaxy counted from `last_access_time`, which its proxy wrote. Requests
//! to a service do not pass through contaxy here (containers are reached on
//! their project network), so "last access" is the last time the service
//! was reached through the API (`last_access_at`: its record read, its logs,
//! an action on it), or its start when that is later. A service that has
//! not lived its `compute.min_lifetime` is left alone. Each idle service
//! gets one `deployment.stop` per start (the key carries the start time, so
//! a service started again can be stopped again); its volume is kept.

use chrono::{DateTime, Utc};
use contaxy_common::domain::action::{Action, DeploymentAction};
use contaxy_common::store::cleanup;

use super::submit::{Submission, submit};
use super::{CleanupContext, CleanupError, Report};

/// The pass's name (metric label).
pub const PASS: &str = "idle_services";

/// One pass as of `now`.
pub async fn run_once(ctx: &CleanupContext, now: DateTime<Utc>) -> Result<Report, CleanupError> {
    let mut report = Report::new(PASS);
    for due in cleanup::idle_services(&ctx.pool, now, ctx.settings.batch).await? {
        let action = Action::Deployment {
            deployment_id: due.id.clone(),
            action: DeploymentAction::Stop,
        };
        let started = due.since.map_or(0, |at| at.timestamp_millis());
        let key = format!("cleanup:idle:{}:{started}", due.id);
        match submit(&ctx.pool, &ctx.publisher, &due.project_id, action, key).await {
            Ok(Submission::New) => report.submitted.push((due.project_id, due.id)),
            Ok(Submission::AlreadySubmitted) => report.already_submitted += 1,
            Err(error) => {
                tracing::warn!(%error, deployment_id = %due.id, "Could not submit an idle stop.");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}
