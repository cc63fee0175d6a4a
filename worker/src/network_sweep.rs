//! The network sweep: finds project networks nobody needs any more,
//! removes them and frees their subnets.
//!
//! It runs in the worker, on the reconcile timer, not in the scheduler:
//! whether a network is empty, and whether a network exists that has no
//! row at all (a worker crashed between creating it and recording it), can
//! only be seen in the runtime, which only workers hold. Every worker runs
//! it; an advisory lock lets one sweep at a time, and the others skip that
//! round.
//!
//! An orphan is a network of this namespace with no containers attached
//! whose project is not live (gone, or its deletion queued), or that has no
//! row. It is removed from the runtime and its row deleted, which returns
//! its subnet to the pool. A row whose project is not live and whose
//! network is gone is deleted too. Subnets blocked longer than
//! [`BLOCKED_FOR`] are freed. For every network that stays, the recorded
//! attachments are set to what the runtime reports.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use contaxy_common::store::networks::{self, NetworkLock};
use contaxy_common::store::projects;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::actions::network::unlock;
use crate::runtime::{Runtime, RuntimeError};

/// Metric: orphaned networks removed.
const ORPHANS_REMOVED: &str = "contaxy_worker_orphan_networks_removed_total";
/// Metric: subnets returned to the pool by the sweep.
const SUBNETS_FREED: &str = "contaxy_worker_sweep_subnets_freed_total";

/// How long a subnet the runtime refused stays out of allocation.
pub const BLOCKED_FOR: Duration = Duration::from_secs(3600);

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Projects whose network was removed from the runtime.
    pub networks_removed: Vec<String>,
    /// Projects whose row was deleted, freeing its subnet.
    pub subnets_freed: Vec<String>,
    /// How many blocked subnets were freed.
    pub blocked_expired: u64,
    /// True when another worker was sweeping, so this one did nothing.
    pub skipped: bool,
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The runtime failed.
    #[error("runtime: {0}")]
    Runtime(#[from] RuntimeError),
}

/// One sweep (see the module's documentation). Failing to remove one
/// network is logged and the sweep goes on; the next one tries again.
pub async fn remove_orphan_networks(
    pool: &PgPool,
    runtime: &dyn Runtime,
) -> Result<SweepReport, SweepError> {
    let Some(sweep) = NetworkLock::try_sweep(pool).await? else {
        return Ok(SweepReport {
            skipped: true,
            ..SweepReport::default()
        });
    };
    let report = sweep_once(pool, runtime).await;
    unlock(sweep).await;
    let report = report?;
    metrics::counter!(ORPHANS_REMOVED).increment(report.networks_removed.len() as u64);
    metrics::counter!(SUBNETS_FREED).increment(report.subnets_freed.len() as u64);
    Ok(report)
}

async fn sweep_once(pool: &PgPool, runtime: &dyn Runtime) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    let present = runtime.list_networks().await?;
    let rows = networks::list_all(pool).await?;
    let mut ids: Vec<String> = present
        .iter()
        .map(|n| n.project_id.clone())
        .chain(rows.iter().map(|r| r.project_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let live: HashSet<String> = projects::live_among(pool, &ids)
        .await?
        .into_iter()
        .collect();
    let recorded: HashSet<&str> = rows.iter().map(|r| r.project_id.as_str()).collect();

    for network in &present {
        let project = network.project_id.as_str();
        let needed = live.contains(project) && recorded.contains(project);
        if needed || !network.containers.is_empty() {
            if recorded.contains(project) {
                networks::sync_attachments(pool, project, &network.containers).await?;
            }
            continue;
        }
        match remove_orphan(pool, runtime, project, true).await {
            Ok(Some(freed)) => {
                tracing::info!(project_id = project, network = %network.name, "Removed an orphaned project network.");
                report.networks_removed.push(project.to_owned());
                if freed {
                    report.subnets_freed.push(project.to_owned());
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, network = %network.name, "Could not remove an orphaned network; the next sweep will try again.");
            }
        }
    }

    let present_ids: HashSet<&str> = present.iter().map(|n| n.project_id.as_str()).collect();
    for row in &rows {
        let project = row.project_id.as_str();
        if live.contains(project) || present_ids.contains(project) {
            continue;
        }
        match remove_orphan(pool, runtime, project, false).await {
            Ok(Some(true)) => {
                tracing::info!(project_id = project, subnet = %row.subnet, "Freed the subnet of a project that is gone.");
                report.subnets_freed.push(project.to_owned());
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, project_id = project, "Could not free a subnet; the next sweep will try again.")
            }
        }
    }

    report.blocked_expired = networks::expire_blocked(pool, BLOCKED_FOR).await?;
    Ok(report)
}

/// Under the project's lock (skipped when someone holds it), checks again
/// that the network is an orphan, removes it from the runtime (when
/// `in_runtime`) and deletes its row. `Some(freed)` when it acted, `None`
/// when the network turned out to be needed.
async fn remove_orphan(
    pool: &PgPool,
    runtime: &dyn Runtime,
    project: &str,
    in_runtime: bool,
) -> Result<Option<bool>, SweepError> {
    let Some(mut lock) = NetworkLock::try_acquire(pool, project).await? else {
        return Ok(None);
    };
    let outcome = async {
        // An ensure may have recorded it since the listing.
        let has_row = networks::find(lock.conn(), project).await?.is_some();
        if has_row && projects::is_live(pool, project).await? {
            return Ok(None);
        }
        if in_runtime {
            match runtime.delete_network(project).await {
                Ok(()) => {}
                // A container was attached since the listing.
                Err(RuntimeError::NetworkInUse { .. }) => return Ok(None),
                Err(error) => return Err(error.into()),
            }
        }
        Ok(Some(networks::remove(lock.conn(), project).await?))
    }
    .await;
    unlock(lock).await;
    outcome
}

/// Runs [`remove_orphan_networks`] every `every` until shutdown.
#[derive(Debug, Clone)]
pub struct NetworkSweeper {
    pub(crate) pool: PgPool,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) every: Duration,
}

impl NetworkSweeper {
    /// Sweeps until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match remove_orphan_networks(&self.pool, self.runtime.as_ref()).await {
                Ok(report)
                    if !report.networks_removed.is_empty() || !report.subnets_freed.is_empty() =>
                {
                    tracing::info!(
                        removed = report.networks_removed.len(),
                        freed = report.subnets_freed.len(),
                        "The network sweep cleaned up."
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "The network sweep failed; the next one will try again.");
                }
            }
        }
    }
}
