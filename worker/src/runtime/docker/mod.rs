//! The Docker backend of [`Runtime`], over bollard.
//!
//! - [`config`]: its settings, [`DockerRuntimeConfig`].
//! - [`connect`]: the client, the readiness probe, API version negotiation.
//! - [`labels`]: names and labels of what we create; ownership checks.
//! - [`container_body`]: the create request, with the security defaults.
//! - [`status`]: container states as deployment statuses.
//! - [`errors`]: bollard errors classified by cause.
//! - `deploy`, `lifecycle`, `logs`, `networks`, `attach`, `events`: the
//!   operations.

mod attach;
pub mod config;
pub mod connect;
pub mod container_body;
mod deploy;
pub mod errors;
mod events;
mod image_config;
pub mod labels;
mod lifecycle;
mod logs;
mod networks;
pub mod status;
mod volumes;

use bollard::Docker;
use chrono::{DateTime, Utc};
use contaxy_common::domain::capacity::HostCapacity;
use futures::FutureExt;
use tokio::sync::Mutex;

pub use config::DockerRuntimeConfig;
pub use connect::{EngineFacts, connect_docker, docker_probe};

use super::{
    DeleteOptions, Deployed, DeploymentRef, DeploymentSpec, DeploymentState, LogOptions, LogStream,
    NetworkInfo, Runtime, RuntimeError, RuntimeFuture, StatusChangeStream, SubnetSpec, VolumeInfo,
};

/// Runs deployments as Docker containers, each in its project's bridge
/// network, labelled with this runtime's namespace.
#[derive(Debug)]
pub struct DockerRuntime {
    docker: Docker,
    config: DockerRuntimeConfig,
    engine: EngineFacts,
    /// Serialises network creation within this process: API 1.41 lets two
    /// concurrent creates make two networks of one name (see `networks`).
    network_creation: Mutex<()>,
}

impl DockerRuntime {
    /// Connects to the engine at `host` (`unix://…` or `tcp://…`),
    /// negotiates the API version and reads the host's capacity.
    pub async fn connect(host: &str, config: DockerRuntimeConfig) -> Result<Self, RuntimeError> {
        Self::with_client(connect_docker(host)?, config).await
    }

    /// Like [`DockerRuntime::connect`], over an existing client.
    pub async fn with_client(
        docker: Docker,
        config: DockerRuntimeConfig,
    ) -> Result<Self, RuntimeError> {
        config.validate()?;
        let (docker, engine) = connect::negotiate(docker).await?;
        let mut config = config;
        // A default above the host's cores would be refused by the Engine.
        let host_millicores = (engine.capacity.cpus * 1000.0) as u32;
        if host_millicores > 0 {
            config.default_cpu_millicores = config.default_cpu_millicores.min(host_millicores);
        }
        tracing::info!(
            api_version = %engine.api_version,
            namespace = %config.namespace,
            "Connected to the Docker Engine."
        );
        Ok(Self {
            docker,
            config,
            engine,
            network_creation: Mutex::new(()),
        })
    }

    /// What the engine told us when we connected.
    pub fn engine(&self) -> &EngineFacts {
        &self.engine
    }

    /// The namespace everything this runtime touches is labelled with.
    pub fn namespace(&self) -> &str {
        &self.config.namespace
    }

    /// The bollard client, for callers that need the engine directly.
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

impl Runtime for DockerRuntime {
    fn backend(&self) -> &'static str {
        "docker"
    }

    fn capacity(&self) -> HostCapacity {
        self.engine.capacity
    }

    fn deploy<'a>(&'a self, spec: &'a DeploymentSpec) -> RuntimeFuture<'a, Deployed> {
        self.deploy_container(spec).boxed()
    }

    fn start<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.start_container(target).boxed()
    }

    fn stop<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.stop_container(target).boxed()
    }

    fn restart<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.restart_container(target).boxed()
    }

    fn delete<'a>(
        &'a self,
        target: &'a DeploymentRef,
        options: DeleteOptions,
    ) -> RuntimeFuture<'a, ()> {
        self.delete_container(target, options).boxed()
    }

    fn status<'a>(
        &'a self,
        target: &'a DeploymentRef,
    ) -> RuntimeFuture<'a, Option<DeploymentState>> {
        self.container_state(target).boxed()
    }

    fn list<'a>(&'a self, project_id: Option<&'a str>) -> RuntimeFuture<'a, Vec<DeploymentState>> {
        self.list_containers(project_id).boxed()
    }

    fn logs<'a>(
        &'a self,
        target: &'a DeploymentRef,
        options: LogOptions,
    ) -> RuntimeFuture<'a, LogStream> {
        self.container_logs(target, options).boxed()
    }

    fn image_config<'a>(
        &'a self,
        image: &'a str,
    ) -> RuntimeFuture<'a, contaxy_common::image_config::ImageConfig> {
        self.inspect_image_config(image).boxed()
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
        self.connect_container(target).boxed()
    }

    fn disconnect_network<'a>(&'a self, target: &'a DeploymentRef) -> RuntimeFuture<'a, ()> {
        self.disconnect_container(target).boxed()
    }

    fn status_changes(&self, since: Option<DateTime<Utc>>) -> StatusChangeStream {
        self.container_status_changes(since)
    }
}
