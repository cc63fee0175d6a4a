//! The container sweep: removes deployments the runtime has (ours, by the
//! namespace label) that have no row: the row and the container are made and
//! removed in an order that never leaves a row-less container behind on
//! purpose (a row is written before its container is made, and removed
//! after it), so one that exists is an orphan: its project was deleted
//! around it, a deploy raced a delete, or a row was removed by hand. Its
//! container goes, with its volume. Then the volume sweep: volumes whose
//! project is gone, or whose project id was taken again by a new project
//! (the volume records the old incarnation), go too.
//!
//! Like the network sweep it runs in the worker, on the reconcile timer:
//! only workers see the runtime. Every worker runs it; removal is idempotent
//! ("already gone" is done), so two workers sweeping at once do no harm. A
//! container younger than [`GRACE`] is left for the next sweep, in case its
//! row is being written by another version's path that orders things
//! differently.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contaxy_common::store::{deployments, projects};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::runtime::{DeleteOptions, DeploymentRef, Runtime, RuntimeError};

/// Metric: orphaned deployments (containers, with their volumes) removed.
const ORPHANS_REMOVED: &str = "contaxy_worker_orphan_deployments_removed_total";
/// Metric: volumes removed because their project is gone.
const ORPHAN_VOLUMES_REMOVED: &str = "contaxy_worker_orphan_volumes_removed_total";

/// How old a row-less container must be before it is removed.
pub const GRACE: Duration = Duration::from_secs(60);

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum OrphanSweepError {
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The runtime failed to list.
    #[error("runtime: {0}")]
    Runtime(#[from] RuntimeError),
}

/// Removes the runtime's deployments that have no row and were created
/// before `now - GRACE`; returns the (project, deployment) pairs removed.
pub async fn remove_orphan_deployments(
    pool: &PgPool,
    runtime: &dyn Runtime,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, OrphanSweepError> {
    let states = runtime.list(None).await?;
    let ids: Vec<String> = states.iter().map(|s| s.deployment_id.clone()).collect();
    let recorded: HashSet<String> = deployments::existing_ids(pool, &ids)
        .await?
        .into_iter()
        .collect();
    let old_enough = now - chrono::Duration::from_std(GRACE).unwrap_or_default();
    let mut removed = Vec::new();
    for state in states {
        if recorded.contains(&state.deployment_id)
            || state.created_at.is_some_and(|at| at > old_enough)
        {
            continue;
        }
        let target = DeploymentRef::new(&state.project_id, &state.deployment_id);
        let options = DeleteOptions {
            delete_volumes: true,
        };
        match runtime.delete(&target, options).await {
            Ok(()) => {
                tracing::info!(project_id = %state.project_id, deployment_id = %state.deployment_id, "Removed a deployment that has no record.");
                metrics::counter!(ORPHANS_REMOVED).increment(1);
                removed.push((state.project_id, state.deployment_id));
            }
            Err(error) => {
                tracing::warn!(%error, deployment_id = %state.deployment_id, "Could not remove an orphaned deployment; the next sweep will try again.");
            }
        }
    }
    Ok(removed)
}

/// Removes the runtime's deployment volumes whose project is gone, or was
/// deleted and its id taken again (the volume records another
/// incarnation), made before `now - GRACE`; returns their names. A volume
/// of a live project stays even without a deployment: a service deleted
/// with `delete_volumes=false` keeps it on purpose, for a namesake in the
/// same project; the project's deletion removes it. A volume still in use
/// stays for the next sweep.
pub async fn remove_orphan_volumes(
    pool: &PgPool,
    runtime: &dyn Runtime,
    now: DateTime<Utc>,
) -> Result<Vec<String>, OrphanSweepError> {
    let volumes = runtime.list_volumes(None).await?;
    let mut projects: Vec<String> = volumes.iter().map(|v| v.project_id.clone()).collect();
    projects.sort();
    projects.dedup();
    let owners: HashMap<String, uuid::Uuid> = projects::incarnations_of(pool, &projects)
        .await?
        .into_iter()
        .collect();
    let old_enough = now - chrono::Duration::from_std(GRACE).unwrap_or_default();
    let mut removed = Vec::new();
    for volume in volumes {
        let owned = owners.get(&volume.project_id).is_some_and(|incarnation| {
            volume
                .project_incarnation
                .is_none_or(|made_for| made_for == *incarnation)
        });
        if owned || volume.created_at.is_some_and(|at| at > old_enough) {
            continue;
        }
        match runtime.remove_volume(&volume.name).await {
            Ok(true) => {
                tracing::info!(project_id = %volume.project_id, volume = %volume.name, "Removed a volume whose project is gone.");
                metrics::counter!(ORPHAN_VOLUMES_REMOVED).increment(1);
                removed.push(volume.name);
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, volume = %volume.name, "Could not remove an orphaned volume; the next sweep will try again.");
            }
        }
    }
    Ok(removed)
}

/// Runs [`remove_orphan_deployments`], then [`remove_orphan_volumes`],
/// every `every` until shutdown.
#[derive(Debug, Clone)]
pub struct OrphanSweeper {
    pub(crate) pool: PgPool,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) every: Duration,
}

impl OrphanSweeper {
    /// Sweeps until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) =
                remove_orphan_deployments(&self.pool, self.runtime.as_ref(), Utc::now()).await
            {
                tracing::warn!(%error, "The container sweep failed; the next one will try again.");
            }
            if let Err(error) =
                remove_orphan_volumes(&self.pool, self.runtime.as_ref(), Utc::now()).await
            {
                tracing::warn!(%error, "The volume sweep failed; the next one will try again.");
            }
        }
    }
}
