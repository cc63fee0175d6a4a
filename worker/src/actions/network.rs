//! `network.*` actions: ensure, delete, connect, disconnect. A deploy
//! ensures its project's network first ([`ensure_project_network`]).
//!
//! Ensure allocates the project's subnet in PostgreSQL (lowest free of the
//! pool; the table's constraints settle races between workers), then makes
//! the runtime's network with exactly that subnet. Delete removes the
//! runtime's network, then the row, which returns the subnet to the pool.
//! All work on one project's network holds its [`NetworkLock`], so an
//! ensure and a delete of the same project never interleave. The design is
//! written down in `docs/networks.md`.

use contaxy_common::domain::action::NetworkAction;
use contaxy_common::domain::network::{NetworkStatus, gateway_of, network_name};
use contaxy_common::message::ActionMessage;
use contaxy_common::store::networks::{self, NetworkLock, NetworkRecord};
use contaxy_common::store::projects;

use super::with_retries;
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::runtime::{DeploymentRef, NetworkInfo, RuntimeError, SubnetSpec};

/// Metric: subnets the runtime refused (they overlap something on the host
/// that contaxy does not manage) and that were blocked.
const SUBNETS_BLOCKED: &str = "contaxy_worker_subnets_blocked_total";

/// How many refused subnets one ensure steps over before it gives up for
/// this attempt.
const MAX_REFUSED_SUBNETS: usize = 8;

/// Executes one `network.*` action.
pub async fn execute(
    ctx: &ActionContext,
    message: &ActionMessage,
    action: &NetworkAction,
) -> Result<(), ActionError> {
    let project_id = message.project_id.as_str();
    match action {
        NetworkAction::Ensure => ensure_project_network(ctx, project_id, Check::Runtime)
            .await
            .map(drop),
        NetworkAction::Delete => delete_project_network(ctx, project_id).await,
        NetworkAction::Connect(payload) => {
            // The network may have been deleted since the deployment was made.
            ensure_project_network(ctx, project_id, Check::Runtime).await?;
            let target = DeploymentRef::new(project_id, &payload.deployment_id);
            with_retries(|| ctx.runtime.connect_network(&target)).await?;
            networks::attach(&ctx.pool, project_id, &payload.deployment_id).await?;
            Ok(())
        }
        NetworkAction::Disconnect(payload) => {
            let target = DeploymentRef::new(project_id, &payload.deployment_id);
            with_retries(|| ctx.runtime.disconnect_network(&target)).await?;
            networks::detach(&ctx.pool, project_id, &payload.deployment_id).await?;
            Ok(())
        }
    }
}

/// How far [`ensure_project_network`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A network recorded as ready is taken at its word, with no runtime
    /// call: a deploy's path, where the runtime reports a network that is
    /// gone after all (`NetworkMissing`) and the deploy ensures it again
    /// with [`Check::Runtime`].
    Record,
    /// The runtime is asked, and a missing network is made again.
    Runtime,
}

/// Makes sure the project's network exists in the runtime with the subnet
/// recorded for it (allocating one when it has none), and returns the
/// record. Only a live project (not gone, deletion not queued) gets one.
///
/// With [`Check::Record`], a network recorded as ready is read without the
/// project's [`NetworkLock`]: the lock orders changes to the network, and
/// reading one takes none. Every deploy in a project after its first
/// then runs without waiting for the others (a delete racing it is the
/// same case as a delete right after an ensure: the deploy meets
/// `NetworkMissing` and ensures again with [`Check::Runtime`]).
pub async fn ensure_project_network(
    ctx: &ActionContext,
    project_id: &str,
    check: Check,
) -> Result<NetworkRecord, ActionError> {
    if !projects::is_live(&ctx.pool, project_id).await? {
        return Err(ActionError::ProjectNotLive {
            project_id: project_id.to_owned(),
        });
    }
    if check == Check::Record
        && let Some(record) = networks::find(&ctx.pool, project_id).await?
        && is_ready(&record)
    {
        return Ok(record);
    }
    let mut lock = NetworkLock::acquire(&ctx.pool, project_id).await?;
    let ensured = ensure_locked(ctx, &mut lock, project_id, check).await;
    unlock(lock).await;
    ensured
}

async fn ensure_locked(
    ctx: &ActionContext,
    lock: &mut NetworkLock,
    project_id: &str,
    check: Check,
) -> Result<NetworkRecord, ActionError> {
    let settings = &ctx.network;
    let name = network_name(&settings.namespace, project_id);
    for _ in 0..MAX_REFUSED_SUBNETS {
        let record = networks::allocate(lock.conn(), project_id, &name, &settings.pool).await?;
        if check == Check::Record && is_ready(&record) {
            return Ok(record);
        }
        let subnet = subnet_of(&record);
        match with_retries(|| ctx.runtime.ensure_network(project_id, Some(&subnet))).await {
            Ok(_) => return mark_ready(lock, record).await,
            Err(RuntimeError::SubnetUnavailable { subnet, message }) => {
                tracing::warn!(%subnet, %message, "The runtime refused a subnet; blocking it and allocating another.");
                metrics::counter!(SUBNETS_BLOCKED).increment(1);
                networks::block_subnet(lock.conn(), project_id, &message).await?;
            }
            Err(RuntimeError::SubnetMismatch { existing, .. }) => {
                return converge(ctx, lock, record, &existing).await;
            }
            Err(error) => {
                let detail = error.to_string();
                networks::set_status(lock.conn(), project_id, record.status, Some(&detail)).await?;
                return Err(error.into());
            }
        }
    }
    Err(ActionError::SubnetsRefused {
        project_id: project_id.to_owned(),
        refused: MAX_REFUSED_SUBNETS,
    })
}

/// The runtime already has the project's network with another subnet than
/// the recorded one (made before allocation existed, or by a deploy racing
/// a delete). An empty one is remade with the recorded subnet; one with
/// containers keeps its subnet, which is recorded instead.
async fn converge(
    ctx: &ActionContext,
    lock: &mut NetworkLock,
    record: NetworkRecord,
    existing: &str,
) -> Result<NetworkRecord, ActionError> {
    let project_id = record.project_id.clone();
    let info: NetworkInfo = with_retries(|| ctx.runtime.ensure_network(&project_id, None)).await?;
    if info.containers.is_empty() {
        tracing::info!(network = %info.name, %existing, subnet = %record.subnet, "Remaking an empty project network with its allocated subnet.");
        with_retries(|| ctx.runtime.delete_network(&project_id)).await?;
        let subnet = subnet_of(&record);
        with_retries(|| ctx.runtime.ensure_network(&project_id, Some(&subnet))).await?;
        return mark_ready(lock, record).await;
    }
    let Some((cidr, gateway)) = ipv4_subnet(&info) else {
        return Err(ActionError::NetworkUnusable {
            network: info.name,
            problem: format!("has containers attached and no IPv4 subnet ({existing})"),
        });
    };
    if networks::adopt_subnet(lock.conn(), &project_id, &cidr, &gateway).await? {
        tracing::info!(network = %info.name, subnet = %cidr, "Recorded the subnet of an existing project network.");
        return networks::find(lock.conn(), &project_id)
            .await?
            .ok_or(ActionError::NetworkRowVanished);
    }
    Err(ActionError::NetworkUnusable {
        network: info.name,
        problem: format!(
            "has containers attached and subnet {cidr}, which overlaps another project's allocation"
        ),
    })
}

/// Recorded as ready, with no failure noted since.
fn is_ready(record: &NetworkRecord) -> bool {
    record.status == NetworkStatus::Ready && record.status_detail.is_none()
}

async fn mark_ready(
    lock: &mut NetworkLock,
    mut record: NetworkRecord,
) -> Result<NetworkRecord, ActionError> {
    if !is_ready(&record) {
        networks::set_status(lock.conn(), &record.project_id, NetworkStatus::Ready, None).await?;
        record.status = NetworkStatus::Ready;
        record.status_detail = None;
    }
    Ok(record)
}

/// Removes the project's network from the runtime, then its row (the
/// subnet goes back to the pool). A network with containers attached is
/// a retryable failure (they may be on their way out); gone is success.
pub async fn delete_project_network(
    ctx: &ActionContext,
    project_id: &str,
) -> Result<(), ActionError> {
    let mut lock = NetworkLock::acquire(&ctx.pool, project_id).await?;
    let deleted = delete_locked(ctx, &mut lock, project_id).await;
    unlock(lock).await;
    deleted
}

async fn delete_locked(
    ctx: &ActionContext,
    lock: &mut NetworkLock,
    project_id: &str,
) -> Result<(), ActionError> {
    let before = networks::find(lock.conn(), project_id).await?;
    if before.is_some() {
        networks::set_status(lock.conn(), project_id, NetworkStatus::Deleting, None).await?;
    }
    if let Err(error) = with_retries(|| ctx.runtime.delete_network(project_id)).await {
        if let Some(before) = before {
            let detail = error.to_string();
            networks::set_status(lock.conn(), project_id, before.status, Some(&detail)).await?;
        }
        return Err(error.into());
    }
    if networks::remove(lock.conn(), project_id).await? {
        tracing::info!(
            project_id,
            "Deleted the project network and freed its subnet."
        );
    }
    Ok(())
}

/// Unlocks a network lock; on failure its connection is closed instead,
/// which frees the lock too.
pub(crate) async fn unlock(lock: NetworkLock) {
    if let Err(error) = lock.unlock().await {
        // Its connection is closed instead, which frees the lock too.
        tracing::debug!(%error, "Could not unlock a project network lock.");
    }
}

/// The runtime's view of a recorded subnet.
fn subnet_of(record: &NetworkRecord) -> SubnetSpec {
    SubnetSpec {
        cidr: record.subnet.clone(),
        gateway: Some(record.gateway.clone()),
    }
}

/// The network's IPv4 subnet and gateway (the subnet's first host when the
/// runtime reports none).
fn ipv4_subnet(info: &NetworkInfo) -> Option<(String, String)> {
    let (index, subnet) = info
        .subnets
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.parse::<ipnet::Ipv4Net>().ok().map(|net| (i, net)))?;
    let gateway = info
        .gateways
        .get(index)
        .filter(|g| g.parse::<std::net::Ipv4Addr>().is_ok())
        .cloned()
        .unwrap_or_else(|| gateway_of(subnet).to_string());
    Some((subnet.to_string(), gateway))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(subnets: &[&str], gateways: &[&str]) -> NetworkInfo {
        NetworkInfo {
            name: "ns-p-a-network".to_owned(),
            id: "n1".to_owned(),
            project_id: "a".to_owned(),
            subnets: subnets.iter().map(|s| (*s).to_owned()).collect(),
            gateways: gateways.iter().map(|s| (*s).to_owned()).collect(),
            containers: Vec::new(),
        }
    }

    #[test]
    fn the_ipv4_subnet_of_a_network_is_found_with_its_gateway() {
        assert_eq!(
            ipv4_subnet(&info(&["172.18.0.0/16"], &["172.18.0.1"])),
            Some(("172.18.0.0/16".to_owned(), "172.18.0.1".to_owned()))
        );
        assert_eq!(
            ipv4_subnet(&info(&["fd00::/64", "10.1.2.0/24"], &["fd00::1"])),
            Some(("10.1.2.0/24".to_owned(), "10.1.2.1".to_owned()))
        );
        assert_eq!(ipv4_subnet(&info(&[], &[])), None);
    }
}
