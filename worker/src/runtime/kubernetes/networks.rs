//! A project's "network" on Kubernetes is its namespace with its
//! NetworkPolicy: pods of the project reach each other (and are reached by
//! the platform), nothing else reaches them. Pod addresses are the
//! cluster's, so an explicit subnet cannot be honoured and is ignored (the
//! subnet pool is a Docker matter, see docs/networks.md).

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::ListParams;

use super::attach::is_disconnected;
use super::client::{apply, delete, get};
use super::errors::classify;
use super::{KubeRuntime, names, objects, status};
use crate::runtime::error::RuntimeError;
use crate::runtime::network::{NetworkInfo, SubnetSpec};

impl KubeRuntime {
    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    pub(super) async fn ensure_project_network(
        &self,
        project_id: &str,
        subnet: Option<&SubnetSpec>,
    ) -> Result<NetworkInfo, RuntimeError> {
        if let Some(subnet) = subnet {
            tracing::debug!(cidr = %subnet.cidr, "Kubernetes assigns pod addresses; the subnet is not used.");
        }
        let name = names::project_namespace(&self.config.namespace, project_id);
        if let Some(found) = get(&self.namespaces(), "network ensure", &name).await?
            && !self.owns_project(&found.metadata, project_id)
        {
            return Err(RuntimeError::NotManaged {
                what: format!("namespace {name}"),
            });
        }
        let namespace = apply(
            &self.namespaces(),
            "network ensure",
            &objects::namespace(&self.config, project_id),
        )
        .await?;
        for policy in [
            objects::network_policy(&self.config, project_id),
            objects::disconnected_policy(&self.config, project_id),
        ] {
            apply(&self.api::<NetworkPolicy>(&name), "network ensure", &policy).await?;
        }
        Ok(NetworkInfo {
            name,
            id: namespace.metadata.uid.unwrap_or_default(),
            project_id: project_id.to_owned(),
            subnets: Vec::new(),
            gateways: Vec::new(),
            containers: Vec::new(),
        })
    }

    pub(super) async fn delete_project_network(
        &self,
        project_id: &str,
    ) -> Result<(), RuntimeError> {
        let name = names::project_namespace(&self.config.namespace, project_id);
        let Some(found) = get(&self.namespaces(), "network delete", &name).await? else {
            return Ok(());
        };
        if !self.owns_project(&found.metadata, project_id) {
            return Err(RuntimeError::NotManaged {
                what: format!("namespace {name}"),
            });
        }
        // Being removed already: the API server would answer a second
        // delete with 409 until the namespace's content is gone.
        if found.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        if !self.list_deployments(Some(project_id)).await?.is_empty() {
            return Err(RuntimeError::NetworkInUse { network: name });
        }
        delete(&self.namespaces(), "network delete", &name).await
    }

    pub(super) async fn list_project_networks(&self) -> Result<Vec<NetworkInfo>, RuntimeError> {
        let selector = format!("{}={}", names::NAMESPACE, self.config.namespace);
        let namespaces = self
            .namespaces()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|error| classify("network list", "namespaces", error))?;
        // A disconnected deployment is not attached, as on Docker.
        let (deployments, jobs) = self.list_objects(None).await?;
        let attached: Vec<(String, String)> = deployments
            .iter()
            .map(|d| &d.metadata)
            .chain(jobs.iter().map(|j| &j.metadata))
            .filter(|meta| !is_disconnected(meta))
            .filter_map(status::identity)
            .collect();
        let mut networks: Vec<NetworkInfo> = namespaces
            .items
            .into_iter()
            // One being deleted is gone for contaxy.
            .filter(|namespace| namespace.metadata.deletion_timestamp.is_none())
            .filter_map(|namespace| {
                let project_id = namespace
                    .metadata
                    .labels
                    .as_ref()?
                    .get(names::PROJECT)?
                    .clone();
                let mut containers: Vec<String> = attached
                    .iter()
                    .filter(|(project, _)| *project == project_id)
                    .map(|(_, id)| id.clone())
                    .collect();
                containers.sort();
                Some(NetworkInfo {
                    name: namespace.metadata.name.unwrap_or_default(),
                    id: namespace.metadata.uid.unwrap_or_default(),
                    project_id,
                    subnets: Vec::new(),
                    gateways: Vec::new(),
                    containers,
                })
            })
            .collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }
}
