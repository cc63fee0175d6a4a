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

use contaxy_common::domain::action::ActionKind;
use contaxy_common::domain::network::{NetworkStatus, SubnetPool, gateway_of, network_name};
use contaxy_common::domain::payload::{NetworkAttachmentPayload, NetworkPayload};
use contaxy_common::store::actions::ActionRecord;
use contaxy_common::store::networks::{self, AllocationError, NetworkLock, NetworkRecord};
use contaxy_common::store::projects;

use super::{parse_payload, with_retries};
use crate::executor::{ActionError, Executor};
use crate::runtime::{DeploymentRef, NetworkInfo, RuntimeError, SubnetSpec};

/// Metric: subnets the runtime refused (they overlap something on the host
/// that contaxy does not manage) and that were blocked.
const SUBNETS_BLOCKED: &str = "contaxy_worker_subnets_blocked_total";

/// How many refused subnets one ensure steps over before it gives up for
/// this attempt.
const MAX_REFUSED_SUBNETS: usize = 8;

/// Where project networks get their addresses, and what they are called.
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    /// The pool project subnets are cut from.
    pub pool: SubnetPool,
    /// The installation's namespace (the first part of network names).
    pub namespace: String,
}

/// Executes one `network.*` action.
pub async fn execute(
    exec: &Executor,
    kind: ActionKind,
    action: &ActionRecord,
) -> Result<(), ActionError> {
    let project_id = action.project_id.as_str();
    match kind {
        ActionKind::NetworkEnsure => {
            let _: NetworkPayload = parse_payload(action)?;
            ensure_project_network(exec, project_id).await.map(drop)
        }
        ActionKind::NetworkDelete => {
            let _: NetworkPayload = parse_payload(action)?;
            delete_project_network(exec, project_id).await
        }
        ActionKind::NetworkConnect => {
            let payload: NetworkAttachmentPayload = parse_payload(action)?;
            // The network may have been deleted since the deployment was made.
            ensure_project_network(exec, project_id).await?;
            let target = DeploymentRef::new(project_id, &payload.deployment_id);
            with_retries(|| exec.runtime.connect_network(&target)).await?;
            networks::attach(&exec.pool, project_id, &payload.deployment_id).await?;
            Ok(())
        }
        ActionKind::NetworkDisconnect => {
            let payload: NetworkAttachmentPayload = parse_payload(action)?;
            let target = DeploymentRef::new(project_id, &payload.deployment_id);
            with_retries(|| exec.runtime.disconnect_network(&target)).await?;
            networks::detach(&exec.pool, project_id, &payload.deployment_id).await?;
            Ok(())
        }
        other => Err(ActionError::permanent(format!(
            "{other} is not a network action"
        ))),
    }
}

/// Makes sure the project's network exists in the runtime with the subnet
/// recorded for it (allocating one when it has none), and returns the
/// record. Only a live project (not gone, deletion not queued) gets one.
pub async fn ensure_project_network(
    exec: &Executor,
    project_id: &str,
) -> Result<NetworkRecord, ActionError> {
    if !projects::is_live(&exec.pool, project_id).await? {
        return Err(ActionError::permanent(format!(
            "project {project_id} does not exist or is being deleted, so it gets no network"
        )));
    }
    let mut lock = NetworkLock::acquire(&exec.pool, project_id).await?;
    let ensured = ensure_locked(exec, &mut lock, project_id).await;
    release(lock).await;
    ensured
}

async fn ensure_locked(
    exec: &Executor,
    lock: &mut NetworkLock,
    project_id: &str,
) -> Result<NetworkRecord, ActionError> {
    let settings = &exec.network;
    let name = network_name(&settings.namespace, project_id);
    for _ in 0..MAX_REFUSED_SUBNETS {
        let record = networks::allocate(lock.conn(), project_id, &name, &settings.pool)
            .await
            .map_err(allocation_error)?;
        let subnet = subnet_of(&record);
        match with_retries(|| exec.runtime.ensure_network(project_id, Some(&subnet))).await {
            Ok(_) => return mark_ready(lock, record).await,
            Err(RuntimeError::SubnetUnavailable { subnet, message }) => {
                tracing::warn!(%subnet, %message, "The runtime refused a subnet; blocking it and allocating another.");
                metrics::counter!(SUBNETS_BLOCKED).increment(1);
                networks::block_subnet(lock.conn(), project_id, &message).await?;
            }
            Err(RuntimeError::SubnetMismatch { existing, .. }) => {
                return converge(exec, lock, record, &existing).await;
            }
            Err(error) => {
                let detail = error.to_string();
                networks::set_status(lock.conn(), project_id, record.status, Some(&detail)).await?;
                return Err(error.into());
            }
        }
    }
    Err(ActionError::transient(format!(
        "the runtime refused {MAX_REFUSED_SUBNETS} subnets in a row for project {project_id}; they are blocked for an hour"
    )))
}

/// The runtime already has the project's network with another subnet than
/// the recorded one (made before allocation existed, or by a deploy racing
/// a delete). An empty one is remade with the recorded subnet; one with
/// containers keeps its subnet, which is recorded instead.
async fn converge(
    exec: &Executor,
    lock: &mut NetworkLock,
    record: NetworkRecord,
    existing: &str,
) -> Result<NetworkRecord, ActionError> {
    let project_id = record.project_id.clone();
    let info: NetworkInfo = with_retries(|| exec.runtime.ensure_network(&project_id, None)).await?;
    if info.containers.is_empty() {
        tracing::info!(network = %info.name, %existing, subnet = %record.subnet, "Remaking an empty project network with its allocated subnet.");
        with_retries(|| exec.runtime.delete_network(&project_id)).await?;
        let subnet = subnet_of(&record);
        with_retries(|| exec.runtime.ensure_network(&project_id, Some(&subnet))).await?;
        return mark_ready(lock, record).await;
    }
    let Some((cidr, gateway)) = ipv4_subnet(&info) else {
        return Err(ActionError::permanent(format!(
            "network {} has containers attached and no IPv4 subnet ({existing})",
            info.name
        )));
    };
    if networks::adopt_subnet(lock.conn(), &project_id, &cidr, &gateway).await? {
        tracing::info!(network = %info.name, subnet = %cidr, "Recorded the subnet of an existing project network.");
        return networks::find(lock.conn(), &project_id)
            .await?
            .ok_or_else(|| ActionError::transient("the network row vanished while adopting"));
    }
    Err(ActionError::permanent(format!(
        "network {} has containers attached and subnet {cidr}, which overlaps another project's allocation",
        info.name
    )))
}

async fn mark_ready(
    lock: &mut NetworkLock,
    mut record: NetworkRecord,
) -> Result<NetworkRecord, ActionError> {
    if record.status != NetworkStatus::Ready || record.status_detail.is_some() {
        networks::set_status(lock.conn(), &record.project_id, NetworkStatus::Ready, None).await?;
        record.status = NetworkStatus::Ready;
        record.status_detail = None;
    }
    Ok(record)
}

/// Removes the project's network from the runtime, then its row (the
/// subnet goes back to the pool). A network with containers attached is
/// a retryable failure (they may be on their way out); gone is success.
pub async fn delete_project_network(exec: &Executor, project_id: &str) -> Result<(), ActionError> {
    let mut lock = NetworkLock::acquire(&exec.pool, project_id).await?;
    let deleted = delete_locked(exec, &mut lock, project_id).await;
    release(lock).await;
    deleted
}

async fn delete_locked(
    exec: &Executor,
    lock: &mut NetworkLock,
    project_id: &str,
) -> Result<(), ActionError> {
    let before = networks::find(lock.conn(), project_id).await?;
    if before.is_some() {
        networks::set_status(lock.conn(), project_id, NetworkStatus::Deleting, None).await?;
    }
    if let Err(error) = with_retries(|| exec.runtime.delete_network(project_id)).await {
        if let Some(before) = before {
            let detail = error.to_string();
            networks::set_status(lock.conn(), project_id, before.status, Some(&detail)).await?;
        }
        return Err(error.into());
    }
    if networks::release(lock.conn(), project_id).await? {
        tracing::info!(
            project_id,
            "Deleted the project network and freed its subnet."
        );
    }
    Ok(())
}

async fn release(lock: NetworkLock) {
    if let Err(error) = lock.release().await {
        // Its connection is closed instead, which frees the lock too.
        tracing::debug!(%error, "Could not unlock a project network lock.");
    }
}

fn allocation_error(error: AllocationError) -> ActionError {
    match error {
        AllocationError::PoolExhausted { .. } => ActionError::permanent(error.to_string()),
        AllocationError::Contended(_) => ActionError::transient(error.to_string()),
        AllocationError::Database(error) => error.into(),
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

    #[test]
    fn an_exhausted_pool_is_permanent_and_contention_is_not() {
        let pool = SubnetPool::new("10.1.0.0/24", 24).expect("valid");
        let exhausted = allocation_error(AllocationError::PoolExhausted {
            range: pool.range(),
            capacity: 1,
            prefix_len: 24,
        });
        assert_eq!(
            exhausted.class,
            contaxy_common::domain::action::ErrorClass::Permanent
        );
        assert!(exhausted.message.contains("exhausted"), "{exhausted}");
        assert_eq!(
            allocation_error(AllocationError::Contended(3)).class,
            contaxy_common::domain::action::ErrorClass::Transient
        );
    }
}
