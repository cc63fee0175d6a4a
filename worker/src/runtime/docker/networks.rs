//! One bridge network per project: created on demand, idempotently, with
//! an explicit subnet when one is given; removed only once no container of
//! ours, running or stopped, is attached to it.
//!
//! API 1.41 does not refuse a second network of the same name (bollard's
//! request type no longer carries `CheckDuplicate`), so two workers creating
//! a project's network at once could make two. Creation is serialised within
//! a process, and after creating, every worker converges on the same winner
//! (the oldest, then the smallest id) and removes its own copy if it lost.

use std::collections::{BTreeSet, HashMap};

use bollard::models::{Ipam, IpamConfig, Network, NetworkCreateRequest, NetworkInspect};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptions};
use chrono::{DateTime, Utc};

use super::DockerRuntime;
use super::errors::{classify, status_of};
use super::labels;
use crate::runtime::RuntimeError;
use crate::runtime::network::{NetworkInfo, SubnetSpec};
use crate::runtime::validate::check_project_id;

impl DockerRuntime {
    pub(super) async fn ensure_project_network(
        &self,
        project_id: &str,
        subnet: Option<&SubnetSpec>,
    ) -> Result<NetworkInfo, RuntimeError> {
        check_project_id(project_id)?;
        if let Some(subnet) = subnet {
            subnet.validate()?;
        }
        let name = labels::network_name(self.namespace(), project_id);
        let _creating = self.network_creation.lock().await;
        let id = match self.networks_named(&name).await?.first() {
            Some(existing) => existing.id.clone().unwrap_or_default(),
            None => self.create_network(&name, project_id, subnet).await?,
        };
        let network = self.inspect_network(&id, &name).await?;
        let mut info = network_info(&network)
            .filter(|_| {
                labels::owned_by(network.labels.as_ref(), self.namespace(), project_id, None)
            })
            .ok_or_else(|| RuntimeError::NotManaged {
                what: format!("network {name}"),
            })?;
        add_stopped(&mut info, &self.attached_containers().await?);
        if let Some(subnet) = subnet
            && !subnet_matches(&info, subnet)
        {
            return Err(RuntimeError::SubnetMismatch {
                network: name,
                existing: info.subnets.join(","),
                requested: subnet.cidr.clone(),
            });
        }
        Ok(info)
    }

    /// Creates the network and returns the id of the one to use: ours, or
    /// an older duplicate someone else made at the same moment.
    async fn create_network(
        &self,
        name: &str,
        project_id: &str,
        subnet: Option<&SubnetSpec>,
    ) -> Result<String, RuntimeError> {
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".to_owned()),
            internal: Some(false),
            attachable: Some(false),
            ipam: subnet.map(|subnet| Ipam {
                driver: Some("default".to_owned()),
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.cidr.clone()),
                    gateway: subnet.gateway.clone(),
                    ..IpamConfig::default()
                }]),
                options: None,
            }),
            labels: Some(labels::network_labels(self.namespace(), project_id)),
            options: Some(HashMap::from([(
                "com.docker.network.bridge.name".to_owned(),
                labels::bridge_name(name),
            )])),
            ..NetworkCreateRequest::default()
        };
        let created = match self.docker.create_network(request).await {
            Ok(created) => created.id,
            // Engines from API 1.44 on refuse duplicates themselves.
            Err(error) if status_of(&error) == Some(409) => String::new(),
            // The bridge name comes from the network's name, so an engine
            // before API 1.44 refuses a concurrent duplicate by its bridge:
            // the one that exists is the one to use.
            Err(_) if !self.networks_named(name).await?.is_empty() => String::new(),
            Err(error) => {
                return Err(match (subnet, overlap_message(&error)) {
                    (Some(subnet), Some(message)) => RuntimeError::SubnetUnavailable {
                        subnet: subnet.cidr.clone(),
                        message,
                    },
                    _ => classify("create network", name, error),
                });
            }
        };
        let winner = self
            .networks_named(name)
            .await?
            .first()
            .and_then(|n| n.id.clone())
            .ok_or_else(|| RuntimeError::NotFound {
                what: format!("network {name}"),
            })?;
        if !created.is_empty() && created != winner {
            tracing::info!(
                network = name,
                "Removing a duplicate network made concurrently."
            );
            match self.docker.remove_network(&created).await {
                Ok(()) => {}
                Err(error) if status_of(&error) == Some(404) => {}
                Err(error) => return Err(classify("remove network", name, error)),
            }
        } else if !created.is_empty() {
            tracing::info!(network = name, "Created a project network.");
        }
        Ok(winner)
    }

    /// Networks of exactly this name, the one to use first.
    pub(super) async fn networks_named(&self, name: &str) -> Result<Vec<Network>, RuntimeError> {
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([("name".to_owned(), vec![name.to_owned()])])),
        };
        let mut networks: Vec<Network> = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| classify("list networks", name, e))?
            .into_iter()
            // The name filter matches substrings.
            .filter(|n| n.name.as_deref() == Some(name))
            .collect();
        networks.sort_by_key(winner_order);
        Ok(networks)
    }

    async fn inspect_network(&self, id: &str, name: &str) -> Result<NetworkInspect, RuntimeError> {
        self.docker
            .inspect_network(id, None::<InspectNetworkOptions>)
            .await
            .map_err(|e| classify("inspect network", &format!("network {name}"), e))
    }

    pub(super) async fn delete_project_network(
        &self,
        project_id: &str,
    ) -> Result<(), RuntimeError> {
        check_project_id(project_id)?;
        let attached = self.attached_containers().await?;
        for network in self.our_networks(Some(project_id)).await? {
            let id = network.id.unwrap_or_default();
            let name = network.name.unwrap_or_default();
            // The engine would remove it under stopped containers.
            if attached.get(&name).is_some_and(|c| !c.is_empty()) {
                return Err(RuntimeError::NetworkInUse { network: name });
            }
            match self.docker.remove_network(&id).await {
                Ok(()) => tracing::info!(network = %name, "Removed a project network."),
                Err(error) if status_of(&error) == Some(404) => {}
                Err(error) if is_in_use(&error) => {
                    return Err(RuntimeError::NetworkInUse { network: name });
                }
                Err(error) => return Err(classify("remove network", &name, error)),
            }
        }
        Ok(())
    }

    pub(super) async fn list_project_networks(&self) -> Result<Vec<NetworkInfo>, RuntimeError> {
        let mut infos = Vec::new();
        let attached = self.attached_containers().await?;
        for network in self.our_networks(None).await? {
            let id = network.id.unwrap_or_default();
            let name = network.name.unwrap_or_default();
            match self.inspect_network(&id, &name).await {
                Ok(inspect) => infos.extend(network_info(&inspect).map(|mut info| {
                    add_stopped(&mut info, &attached);
                    info
                })),
                // Removed between listing and inspecting: not there any more.
                Err(RuntimeError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    async fn our_networks(&self, project_id: Option<&str>) -> Result<Vec<Network>, RuntimeError> {
        let mut wanted = vec![(labels::NAMESPACE, self.namespace())];
        if let Some(project_id) = project_id {
            wanted.push((labels::PROJECT, project_id));
        }
        let options = ListNetworksOptions {
            filters: Some(labels::label_filter(&wanted)),
        };
        self.docker
            .list_networks(Some(options))
            .await
            .map_err(|e| classify("list networks", "networks", e))
    }
}

/// Adds our stopped containers still attached to the network (inspection
/// lists running ones only), keeping the names sorted and unique.
fn add_stopped(info: &mut NetworkInfo, attached: &HashMap<String, BTreeSet<String>>) {
    if let Some(names) = attached.get(&info.name) {
        let all: BTreeSet<String> = info
            .containers
            .drain(..)
            .chain(names.iter().cloned())
            .collect();
        info.containers = all.into_iter().collect();
    }
}

/// Whether an existing network has the requested subnet (and gateway, when
/// one was requested).
fn subnet_matches(info: &NetworkInfo, subnet: &SubnetSpec) -> bool {
    info.subnets.contains(&subnet.cidr)
        && subnet
            .gateway
            .as_ref()
            .is_none_or(|g| info.gateways.contains(g))
}

/// Sort key putting the network every worker agrees to keep first.
fn winner_order(network: &Network) -> (DateTime<Utc>, String) {
    let created = network
        .created
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map_or(DateTime::<Utc>::MAX_UTC, |c| c.with_timezone(&Utc));
    (created, network.id.clone().unwrap_or_default())
}

/// Docker 20.10 answers 403 ("has active endpoints") for a network still in
/// use; later engines 409.
fn is_in_use(error: &bollard::errors::Error) -> bool {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => matches!(status_code, 403 | 409) && message.contains("active endpoints"),
        _ => false,
    }
}

/// The engine's message when it refused a subnet that overlaps an address
/// space in use: "Pool overlaps with other one on this address space" (403
/// on 20.10, with an "invalid pool request" prefix on later engines).
fn overlap_message(error: &bollard::errors::Error) -> Option<String> {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } if (400..500).contains(status_code) && message.contains("overlaps") => {
            Some(message.clone())
        }
        _ => None,
    }
}

/// A network we manage as the runtime reports it. `None` without our
/// project label.
fn network_info(network: &NetworkInspect) -> Option<NetworkInfo> {
    let project_id = network.labels.as_ref()?.get(labels::PROJECT)?.clone();
    let configs = network
        .ipam
        .as_ref()
        .and_then(|ipam| ipam.config.clone())
        .unwrap_or_default();
    let mut containers: Vec<String> = network
        .containers
        .iter()
        .flatten()
        .filter_map(|(_, endpoint)| endpoint.name.clone())
        .collect();
    containers.sort();
    Some(NetworkInfo {
        name: network.name.clone().unwrap_or_default(),
        id: network.id.clone().unwrap_or_default(),
        project_id,
        subnets: configs.iter().filter_map(|c| c.subnet.clone()).collect(),
        gateways: configs.iter().filter_map(|c| c.gateway.clone()).collect(),
        containers,
    })
}

#[cfg(test)]
mod tests {
    use bollard::models::EndpointResource;

    use super::*;

    fn listed(id: &str, created: Option<&str>) -> Network {
        Network {
            id: Some(id.to_owned()),
            created: created.map(str::to_owned),
            ..Network::default()
        }
    }

    #[test]
    fn every_worker_keeps_the_oldest_duplicate_then_the_smallest_id() {
        let mut networks = [
            listed("bbb", Some("2024-05-01T10:00:00.000000002Z")),
            listed("ccc", None),
            listed("aaa", Some("2024-05-01T10:00:00.000000002Z")),
            listed("ddd", Some("2024-05-01T10:00:00.000000001Z")),
        ];
        networks.sort_by_key(winner_order);
        let order: Vec<_> = networks.iter().map(|n| n.id.clone().unwrap()).collect();
        assert_eq!(order, ["ddd", "aaa", "bbb", "ccc"]);
    }

    #[test]
    fn a_network_in_use_is_told_apart_from_other_refusals() {
        let answer =
            |status_code, message: &str| bollard::errors::Error::DockerResponseServerError {
                status_code,
                message: message.to_owned(),
            };
        assert!(is_in_use(&answer(
            403,
            "error while removing network: network x id y has active endpoints"
        )));
        assert!(is_in_use(&answer(409, "network x has active endpoints")));
        assert!(!is_in_use(&answer(403, "operation not permitted")));
        assert!(!is_in_use(&answer(500, "has active endpoints")));
    }

    #[test]
    fn an_overlapping_subnet_is_told_apart_from_other_refusals() {
        let answer =
            |status_code, message: &str| bollard::errors::Error::DockerResponseServerError {
                status_code,
                message: message.to_owned(),
            };
        let overlap = "Pool overlaps with other one on this address space";
        assert!(overlap_message(&answer(403, overlap)).is_some());
        assert!(
            overlap_message(&answer(400, &format!("invalid pool request: {overlap}"))).is_some()
        );
        assert!(overlap_message(&answer(403, "operation not permitted")).is_none());
        assert!(overlap_message(&answer(500, overlap)).is_none());
    }

    #[test]
    fn stopped_containers_are_added_to_the_running_ones() {
        let mut info = NetworkInfo {
            name: "ns-p-a-network".to_owned(),
            id: "n1".to_owned(),
            project_id: "a".to_owned(),
            subnets: Vec::new(),
            gateways: Vec::new(),
            containers: vec!["web".to_owned()],
        };
        let attached = HashMap::from([
            (
                "ns-p-a-network".to_owned(),
                BTreeSet::from(["job".to_owned(), "web".to_owned()]),
            ),
            (
                "ns-p-b-network".to_owned(),
                BTreeSet::from(["other".to_owned()]),
            ),
        ]);
        add_stopped(&mut info, &attached);
        assert_eq!(info.containers, ["job", "web"]);
    }

    #[test]
    fn network_info_reports_subnets_gateways_and_sorted_container_names() {
        let endpoint = |name: &str| EndpointResource {
            name: Some(name.to_owned()),
            ..EndpointResource::default()
        };
        let network = NetworkInspect {
            name: Some("ns-p-proj-network".to_owned()),
            id: Some("n1".to_owned()),
            labels: Some(labels::network_labels("ns", "proj")),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some("10.9.0.0/24".to_owned()),
                    gateway: Some("10.9.0.1".to_owned()),
                    ..IpamConfig::default()
                }]),
                ..Ipam::default()
            }),
            containers: Some(HashMap::from([
                ("id2".to_owned(), endpoint("web")),
                ("id1".to_owned(), endpoint("api")),
            ])),
            ..NetworkInspect::default()
        };
        let info = network_info(&network).unwrap();
        assert_eq!(info.project_id, "proj");
        assert_eq!(info.subnets, ["10.9.0.0/24"]);
        assert_eq!(info.gateways, ["10.9.0.1"]);
        assert_eq!(info.containers, ["api", "web"]);
        assert!(network_info(&NetworkInspect::default()).is_none());
    }
}
