//! Deployment status from the runtime's own events.
//!
//! Every worker follows the runtime's status changes and writes them to
//! PostgreSQL with a conditional update: with several workers watching the
//! same events, exactly one update changes the row, and only that worker
//! publishes the event (`deployment.<project>.<status>` on `events`). A
//! periodic reconcile lists what the runtime has and corrects anything
//! missed (a worker that was down while a job ended).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contaxy_common::domain::deployment::DeploymentStatus;
use contaxy_common::publisher::Publisher;
use contaxy_common::store::deployments::{self, ObservedStatus};
use contaxy_common::store::{events, tokens};
use futures::StreamExt;
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::runtime::Runtime;

/// Metric: status changes written (once per change across all workers).
const STATUS_CHANGES: &str = "contaxy_worker_status_changes_total";

/// The body of a `deployment.<project>.<status>` event.
#[derive(Debug, Serialize)]
pub struct StatusEvent<'a> {
    /// The deployment.
    pub deployment_id: &'a str,
    /// Its project.
    pub project_id: &'a str,
    /// Its new status.
    pub status: DeploymentStatus,
    /// The exit code of a finished container.
    pub exit_code: Option<i32>,
    /// When the runtime saw the change.
    pub at: DateTime<Utc>,
}

/// Follows status changes and reconciles, until `shutdown`.
#[derive(Debug, Clone)]
pub struct StatusWatcher {
    pub(crate) pool: PgPool,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) reconcile_every: Duration,
}

impl StatusWatcher {
    /// Runs the event follower and the reconcile loop.
    pub async fn run(self, shutdown: CancellationToken) {
        tokio::join!(self.follow(shutdown.clone()), self.reconcile_loop(shutdown));
    }

    async fn follow(&self, shutdown: CancellationToken) {
        let mut since: Option<DateTime<Utc>> = None;
        while !shutdown.is_cancelled() {
            let mut changes = self.runtime.status_changes(since);
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return,
                    next = changes.next() => next,
                };
                match next {
                    Some(Ok(change)) => {
                        since = Some(change.at);
                        let observed = ObservedStatus {
                            status: change.status,
                            exit_code: change.exit_code.and_then(|c| i32::try_from(c).ok()),
                            detail: None,
                        };
                        self.record(&change.deployment_id, &observed, change.at, None)
                            .await;
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, "The runtime's event stream failed; resuming.");
                        break;
                    }
                    None => break,
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn reconcile_loop(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.reconcile_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.reconcile().await {
                tracing::warn!(%error, "Reconciling deployment statuses failed; the next pass will try again.");
            }
        }
    }

    /// One pass: writes what the runtime reports for every deployment it has.
    pub async fn reconcile(&self) -> Result<(), crate::runtime::RuntimeError> {
        // Taken before the listing, on the database's clock (see
        // `observe_status`): a row changed after it was changed by something
        // newer than the listing.
        let listed_at = match deployments::database_now(&self.pool).await {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(%error, "Cannot reach PostgreSQL; skipping this reconcile pass.");
                return Ok(());
            }
        };
        let states = self.runtime.list(None).await?;
        let present: Vec<String> = states.iter().map(|s| s.deployment_id.clone()).collect();
        match deployments::stop_missing(&self.pool, &present, listed_at).await {
            Ok(gone) => {
                for (project_id, id) in gone {
                    self.announce(
                        &project_id,
                        &id,
                        DeploymentStatus::Stopped,
                        None,
                        Utc::now(),
                    )
                    .await;
                }
            }
            Err(error) => tracing::warn!(%error, "Could not mark vanished deployments stopped."),
        }
        for state in states {
            let observed = ObservedStatus {
                status: state.status,
                exit_code: state.exit_code.and_then(|c| i32::try_from(c).ok()),
                detail: state.reason.clone(),
            };
            let at = state
                .finished_at
                .or(state.started_at)
                .unwrap_or_else(Utc::now);
            self.record(&state.deployment_id, &observed, at, Some(listed_at))
                .await;
        }
        Ok(())
    }

    /// Writes `observed` (from an event, or from a listing taken at
    /// `snapshot_at`) and publishes it if this worker changed the row.
    async fn record(
        &self,
        deployment_id: &str,
        observed: &ObservedStatus,
        at: DateTime<Utc>,
        snapshot_at: Option<DateTime<Utc>>,
    ) {
        let project_id = match deployments::observe_status(
            &self.pool,
            deployment_id,
            observed,
            snapshot_at,
        )
        .await
        {
            Ok(Some(project_id)) => project_id,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, deployment_id, "Could not record a status change; reconcile will.");
                return;
            }
        };
        if matches!(
            observed.status,
            DeploymentStatus::Succeeded | DeploymentStatus::Failed
        ) && let Err(error) = tokens::revoke_finished_job_token(&self.pool, deployment_id).await
        {
            tracing::warn!(%error, deployment_id, "Could not revoke the token of a finished job; it goes with the deployment.");
        }
        self.announce(
            &project_id,
            deployment_id,
            observed.status,
            observed.exit_code,
            at,
        )
        .await;
    }

    /// Counts, logs and publishes a status change that this worker wrote.
    async fn announce(
        &self,
        project_id: &str,
        deployment_id: &str,
        status: DeploymentStatus,
        exit_code: Option<i32>,
        at: DateTime<Utc>,
    ) {
        announce(
            &self.pool,
            &self.publisher,
            &StatusEvent {
                deployment_id,
                project_id,
                status,
                exit_code,
                at,
            },
        )
        .await;
    }
}

/// Counts, logs, records (for the project's event stream) and publishes a
/// status change (`deployment.<project>.<status>` on `events`), whatever
/// wrote it: the runtime's events, a reconcile, or an
/// action (a deploy that failed before there was a container, a delete). The
/// caller publishes only a change it made itself, so each is published once.
pub async fn announce(pool: &PgPool, publisher: &Publisher, event: &StatusEvent<'_>) {
    let status = event.status;
    metrics::counter!(STATUS_CHANGES, "status" => status.as_str()).increment(1);
    tracing::info!(
        deployment_id = event.deployment_id,
        project_id = event.project_id,
        status = status.as_str(),
        exit_code = ?event.exit_code,
        "Deployment status changed."
    );
    // Kept for followers of `GET /projects/{id}/events`, who resume by id.
    if let Err(error) = events::record(
        pool,
        event.project_id,
        event.deployment_id,
        status,
        event.exit_code,
        event.at,
    )
    .await
    {
        tracing::warn!(%error, "Could not record a status event; the deployment row has the status.");
    }
    let key = format!("deployment.{}.{}", event.project_id, status.as_str());
    let body = serde_json::to_vec(event).expect("a status event always serializes");
    if let Err(error) = publisher.publish_event(&key, &body).await {
        tracing::warn!(%error, "Could not publish a status event; the database has the status.");
    }
}
