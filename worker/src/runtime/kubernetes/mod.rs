//! The Kubernetes backend of [`Runtime`], over `kube` and `k8s-openapi`
//! (API types of Kubernetes 1.32; the backend is validated against the
//! schemas of 1.32 and 1.36, see the runtime README).
//!
//! - [`config`]: its settings, [`KubeRuntimeConfig`].
//! - [`names`]: names, labels and annotations; how contaxy's ids become
//!   Kubernetes names.
//! - [`objects`]: the objects a project and a deployment become, with the
//!   security defaults (pure functions); [`network_policies`]: the two
//!   policies of a project namespace.
//! - [`status`]: Deployments, Jobs and pods read as states and changes.
//! - [`errors`]: kube errors classified into `RuntimeError`.
//! - [`capacity`]: the nodes' allocatable resources.
//! - `client`, `deploy`, `lifecycle`, `networks`, `attach`, `volumes`,
//!   `logs`, `watch`: the operations.

mod attach;
pub mod capacity;
mod client;
pub mod config;
mod deploy;
pub mod errors;
mod lifecycle;
pub mod logs;
pub mod names;
pub mod network_policies;
mod networks;
pub mod objects;
pub mod status;
pub mod volumes;
mod watch;

#[cfg(test)]
#[path = "mock_network_tests.rs"]
mod mock_network_tests;
#[cfg(test)]
#[path = "mock_server.rs"]
mod mock_server;
#[cfg(test)]
#[path = "mock_stream_tests.rs"]
mod mock_stream_tests;
#[cfg(test)]
#[path = "mock_tests.rs"]
mod mock_tests;
#[cfg(test)]
#[path = "schema_tests.rs"]
mod schema_tests;

use chrono::{DateTime, Utc};
use contaxy_common::domain::capacity::HostCapacity;
use futures::FutureExt;
use kube::Api;

pub use config::KubeRuntimeConfig;

use super::{
    DeleteOptions, Deployed, DeploymentRef, DeploymentSpec, DeploymentState, LogOptions, LogStream,
    NetworkInfo, Runtime, RuntimeError, RuntimeFuture, StatusChangeStream, SubnetSpec, VolumeInfo,
};

/// Runs deployments on a Kubernetes cluster: a namespace per project, a
/// Deployment (service) or Job (job) per deployment, labelled with this
/// runtime's namespace.
#[derive(Clone)]
pub struct KubeRuntime {
    client: kube::Client,
    config: KubeRuntimeConfig,
    capacity: HostCapacity,
}

impl std::fmt::Debug for KubeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRuntime")
            .field("config", &self.config)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl KubeRuntime {
    /// Connects with the standard configuration (`KUBECONFIG`,
    /// `~/.kube/config`, or the in-cluster service account) and reads the
    /// nodes' capacity.
    pub async fn connect(config: KubeRuntimeConfig) -> Result<Self, RuntimeError> {
        config.validate()?;
        let client = kube::Client::try_default()
            .await
            .map_err(|error| errors::classify("connect", "cluster", error))?;
        Self::with_client(client, config).await
    }

    /// Like [`KubeRuntime::connect`], over an existing client.
    pub async fn with_client(
        client: kube::Client,
        config: KubeRuntimeConfig,
    ) -> Result<Self, RuntimeError> {
        config.validate()?;
        let capacity = Self::read_capacity(&client).await?;
        let mut config = config;
        // A default limit above every node would make an unschedulable
        // request (the limit is the request when none is given).
        let node_millicores = (capacity.cpus * 1000.0) as u32;
        if node_millicores > 0 {
            config.default_cpu_millicores = config.default_cpu_millicores.min(node_millicores);
        }
        tracing::info!(namespace = %config.namespace, cpus = capacity.cpus, "Connected to the Kubernetes API server.");
        Ok(Self {
            client,
            config,
            capacity,
        })
    }

    /// The settings.
    pub fn config(&self) -> &KubeRuntimeConfig {
        &self.config
    }

    /// The kube client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }
}

impl Runtime for KubeRuntime {
    fn backend(&self) -> &'static str {
        "kubernetes"
    }

    fn capacity(&self) -> HostCapacity {
        self.capacity
    }

    fn deploy<'a>(&'a self, spec: &'a DeploymentSpec) -> RuntimeFuture<'a, Deployed> {
        self.deploy_objects(spec).boxed()
    }

    fn start<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.set_running(target, true).boxed()
    }

    fn stop<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.set_running(target, false).boxed()
    }

    fn restart<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.restart_deployment(target).boxed()
    }

    fn delete<'a>(
        &'a self,
        target: &'a DeploymentRef,
        options: DeleteOptions,
    ) -> RuntimeFuture<'a, ()> {
        self.delete_deployment(target, options).boxed()
    }

    fn status<'a>(
        &'a self,
        target: &'a DeploymentRef,
    ) -> RuntimeFuture<'a, Option<DeploymentState>> {
        self.deployment_status(target).boxed()
    }

    fn list<'a>(&'a self, project_id: Option<&'a str>) -> RuntimeFuture<'a, Vec<DeploymentState>> {
        self.list_deployments(project_id).boxed()
    }

    fn logs<'a>(
        &'a self,
        target: &'a DeploymentRef,
        options: LogOptions,
    ) -> RuntimeFuture<'a, LogStream> {
        self.deployment_logs(target, options).boxed()
    }

    fn ensure_network<'a>(
        &'a self,
        project_id: &'a str,
        subnet: Option<&'a SubnetSpec>,
    ) -> RuntimeFuture<'a, NetworkInfo> {
        self.ensure_project_network(project_id, subnet).boxed()
    }

    fn delete_network<'a>(&'a self, project_id: &'a str) -> RuntimeFuture<'a, ()> {
        self.delete_project_network(project_id).boxed()
    }

    fn list_networks(&self) -> RuntimeFuture<'_, Vec<NetworkInfo>> {
        self.list_project_networks().boxed()
    }

    fn list_volumes<'a>(
        &'a self,
        project_id: Option<&'a str>,
    ) -> RuntimeFuture<'a, Vec<VolumeInfo>> {
        self.list_deployment_volumes(project_id).boxed()
    }

    fn remove_volume<'a>(&'a self, name: &'a str) -> RuntimeFuture<'a, bool> {
        self.remove_volume_by_name(name).boxed()
    }

    fn connect_network<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.connect_deployment(target).boxed()
    }

    fn disconnect_network<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.disconnect_deployment(target).boxed()
    }

    /// `since` is not needed: the watch lists every pod's current state
    /// first (see `watch`).
    fn status_changes(&self, _since: Option<DateTime<Utc>>) -> StatusChangeStream {
        self.pod_status_changes()
    }
}
