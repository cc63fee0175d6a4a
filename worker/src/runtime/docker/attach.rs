//! Attaching a deployment's container to its project's network and
//! detaching it, and which containers are attached. Every container is
//! attached when it is created; detaching cuts one deployment off without
//! stopping it, attaching undoes that.
//!
//! Both look before they act, so repeating either is a no-op; the engine's
//! own answers for "already attached" (403) and "not attached" (500) are
//! accepted too, for a concurrent change between the look and the act.

use std::collections::{BTreeSet, HashMap};

use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::ListContainersOptions;

use super::DockerRuntime;
use super::errors::{classify, status_of};
use super::labels;
use super::lifecycle::Lookup;
use crate::runtime::RuntimeError;
use crate::runtime::spec::DeploymentRef;

impl DockerRuntime {
    pub(super) async fn connect_container(
        &self,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        let container = match self
            .lookup(&target.project_id, &target.deployment_id)
            .await?
        {
            Lookup::Ours(container) => container,
            // Another tenant's container is as good as missing.
            Lookup::Missing | Lookup::Foreign => {
                return Err(RuntimeError::NotFound {
                    what: target.to_string(),
                });
            }
        };
        let name = labels::network_name(self.namespace(), &target.project_id);
        if endpoint(&container, &name).is_some() {
            return Ok(());
        }
        let network = self
            .networks_named(&name)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| RuntimeError::NetworkMissing {
                network: name.clone(),
            })?;
        if !labels::owned_by(
            network.labels.as_ref(),
            self.namespace(),
            &target.project_id,
            None,
        ) {
            return Err(RuntimeError::NotManaged {
                what: format!("network {name}"),
            });
        }
        let request = NetworkConnectRequest {
            container: container.id.clone().unwrap_or_default(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(vec![target.deployment_id.clone()]),
                ..EndpointSettings::default()
            }),
        };
        let network_id = network.id.unwrap_or_default();
        match self.docker.connect_network(&network_id, request).await {
            Ok(()) => {
                tracing::info!(deployment_id = %target.deployment_id, network = %name, "Attached a container to its project network.");
                Ok(())
            }
            Err(error) if is_already_attached(&error) => Ok(()),
            Err(error) => Err(classify("connect network", &name, error)),
        }
    }

    pub(super) async fn disconnect_container(
        &self,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        let Lookup::Ours(container) = self
            .lookup(&target.project_id, &target.deployment_id)
            .await?
        else {
            // Nothing of ours by that name: nothing attached.
            return Ok(());
        };
        let name = labels::network_name(self.namespace(), &target.project_id);
        let Some(network_id) = endpoint(&container, &name).and_then(|e| e.network_id.clone())
        else {
            return Ok(());
        };
        let request = NetworkDisconnectRequest {
            container: container.id.clone().unwrap_or_default(),
            force: None,
        };
        match self.docker.disconnect_network(&network_id, request).await {
            Ok(()) => {
                tracing::info!(deployment_id = %target.deployment_id, network = %name, "Detached a container from its project network.");
                Ok(())
            }
            Err(error) if status_of(&error) == Some(404) || is_not_attached(&error) => Ok(()),
            Err(error) => Err(classify("disconnect network", &name, error)),
        }
    }
}

impl DockerRuntime {
    /// Our containers attached to each network, by network name, stopped
    /// ones included: the engine's network inspection shows only running
    /// containers, and it lets a network be removed under stopped ones,
    /// which then can never start again.
    pub(super) async fn attached_containers(
        &self,
    ) -> Result<HashMap<String, BTreeSet<String>>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(labels::label_filter(&[(
                labels::NAMESPACE,
                self.namespace(),
            )])),
            ..ListContainersOptions::default()
        };
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| classify("list containers", "containers", e))?;
        let mut attached: HashMap<String, BTreeSet<String>> = HashMap::new();
        for container in containers {
            let Some(name) = container
                .names
                .iter()
                .flatten()
                .next()
                .map(|n| n.trim_start_matches('/').to_owned())
            else {
                continue;
            };
            let networks = container
                .network_settings
                .and_then(|settings| settings.networks)
                .unwrap_or_default();
            for network in networks.into_keys() {
                attached.entry(network).or_default().insert(name.clone());
            }
        }
        Ok(attached)
    }
}

/// The container's endpoint in the network called `name`, if attached.
fn endpoint<'c>(
    container: &'c ContainerInspectResponse,
    name: &str,
) -> Option<&'c EndpointSettings> {
    container
        .network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(name)
}

fn is_already_attached(error: &BollardError) -> bool {
    matches!(error, BollardError::DockerResponseServerError { status_code: 403 | 409, message }
        if message.contains("already exists"))
}

fn is_not_attached(error: &BollardError) -> bool {
    matches!(error, BollardError::DockerResponseServerError { message, .. }
        if message.contains("is not connected"))
}

#[cfg(test)]
mod tests {
    use bollard::models::NetworkSettings;

    use super::*;

    fn answer(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.to_owned(),
        }
    }

    #[test]
    fn the_engines_idempotent_refusals_are_recognised() {
        assert!(is_already_attached(&answer(
            403,
            "endpoint with name web already exists in network ns-p-a-network"
        )));
        assert!(!is_already_attached(&answer(
            403,
            "operation not permitted"
        )));
        assert!(is_not_attached(&answer(
            500,
            "container 1c03 is not connected to network ns-p-a-network"
        )));
        assert!(!is_not_attached(&answer(500, "daemon exploded")));
    }

    #[test]
    fn the_endpoint_is_found_by_network_name() {
        let container = ContainerInspectResponse {
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([(
                    "ns-p-a-network".to_owned(),
                    EndpointSettings {
                        network_id: Some("n1".to_owned()),
                        ..EndpointSettings::default()
                    },
                )])),
                ..NetworkSettings::default()
            }),
            ..ContainerInspectResponse::default()
        };
        assert_eq!(
            endpoint(&container, "ns-p-a-network").and_then(|e| e.network_id.as_deref()),
            Some("n1")
        );
        assert!(endpoint(&container, "ns-p-b-network").is_none());
        assert!(endpoint(&ContainerInspectResponse::default(), "x").is_none());
    }
}
