//! Shared by the Docker runtime tests: a runtime in a fresh namespace that
//! removes everything labelled with it when dropped (also when the test
//! panics), spec builders, and waiting on conditions with a deadline.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
};
use contaxy_worker::runtime::{
    Deployed, DeploymentRef, DeploymentSpec, DeploymentState, DeploymentType, DockerRuntime,
    DockerRuntimeConfig, LogOptions, Runtime, RuntimeError,
};
use futures::StreamExt;

/// The local busybox image `scripts/provision.sh images` builds.
pub const IMAGE: &str = "contaxy/busybox:test";
/// Where the engine listens.
pub const DOCKER_HOST: &str = "unix:///var/run/docker.sock";
/// A service body that idles until stopped and exits 0 on SIGTERM (a shell
/// as PID 1 ignores SIGTERM unless it traps it, which would make every stop
/// wait for the kill timeout).
pub const IDLE: &str = "trap 'exit 0' TERM; sleep 600 & wait";
/// Long enough for any container step on a loaded two-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A Docker runtime bound to a namespace of its own.
#[derive(Debug)]
pub struct TestRuntime {
    pub runtime: Arc<DockerRuntime>,
    pub namespace: String,
}

impl TestRuntime {
    pub async fn new() -> Self {
        let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Self::in_namespace(namespace).await
    }

    /// Another runtime (another worker, say) in the same namespace. Only the
    /// first one cleans up.
    pub async fn sibling(&self) -> Arc<DockerRuntime> {
        let config = DockerRuntimeConfig::with_namespace(&self.namespace);
        Arc::new(DockerRuntime::connect(DOCKER_HOST, config).await.unwrap())
    }

    async fn in_namespace(namespace: String) -> Self {
        let config = DockerRuntimeConfig::with_namespace(&namespace);
        let runtime = DockerRuntime::connect(DOCKER_HOST, config)
            .await
            .expect("the Docker Engine is reachable (scripts/provision.sh docker)");
        Self {
            runtime: Arc::new(runtime),
            namespace,
        }
    }

    /// The runtime as the worker holds it.
    pub fn dyn_runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }

    pub fn docker(&self) -> &Docker {
        self.runtime.client()
    }

    /// Deploys as the worker does: the project's network first (deploy
    /// needs it), then the deployment, through `dyn Runtime`.
    pub async fn deploy(&self, spec: &DeploymentSpec) -> Result<Deployed, RuntimeError> {
        let runtime = self.dyn_runtime();
        runtime.ensure_network(&spec.project_id, None).await?;
        runtime.deploy(spec).await
    }

    /// A deployment id as the API would make it.
    pub fn id(&self, project: &str, kind: DeploymentType, slug: &str) -> String {
        let letter = match kind {
            DeploymentType::Service => 's',
            DeploymentType::Job => 'j',
        };
        format!("{}-p-{project}-{letter}-{slug}", self.namespace)
    }

    /// A busybox deployment running `script` with `sh -c`.
    pub fn spec(
        &self,
        project: &str,
        kind: DeploymentType,
        slug: &str,
        script: &str,
    ) -> DeploymentSpec {
        let mut spec = DeploymentSpec::new(project, self.id(project, kind, slug), kind, IMAGE);
        spec.command = vec!["/bin/sh".to_owned(), "-c".to_owned()];
        spec.args = vec![script.to_owned()];
        spec.display_name = slug.to_owned();
        spec.created_by = "tester".to_owned();
        spec.compute.max_memory_mb = Some(64);
        spec
    }

    pub fn job(&self, project: &str, slug: &str, script: &str) -> DeploymentSpec {
        self.spec(project, DeploymentType::Job, slug, script)
    }

    pub fn service(&self, project: &str, slug: &str, script: &str) -> DeploymentSpec {
        self.spec(project, DeploymentType::Service, slug, script)
    }

    /// Waits until the deployment's state satisfies `done`.
    pub async fn wait_for(
        &self,
        target: &DeploymentRef,
        what: &str,
        done: impl Fn(&DeploymentState) -> bool,
    ) -> DeploymentState {
        eventually(what, || async {
            self.runtime
                .status(target)
                .await
                .unwrap()
                .filter(|state| done(state))
        })
        .await
    }

    /// Waits until the deployment has ended (succeeded or failed).
    pub async fn wait_until_ended(&self, target: &DeploymentRef) -> DeploymentState {
        self.wait_for(target, "the deployment to end", |s| s.status.is_final())
            .await
    }

    /// All of the deployment's output so far, as text.
    pub async fn logs(&self, target: &DeploymentRef, options: LogOptions) -> String {
        let mut stream = self.runtime.logs(target, options).await.unwrap();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(&chunk.unwrap().text());
        }
        text
    }

    /// Waits until the deployment's output contains `needle`.
    pub async fn wait_for_output(&self, target: &DeploymentRef, needle: &str) -> String {
        eventually(&format!("{needle:?} in the logs"), || async {
            let text = self.logs(target, LogOptions::default()).await;
            text.contains(needle).then_some(text)
        })
        .await
    }
}

impl Drop for TestRuntime {
    fn drop(&mut self) {
        let namespace = self.namespace.clone();
        // Drop cannot await, and may run inside the test's runtime: clean up
        // on a thread of its own with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(remove_namespace(&namespace));
        });
        if cleanup.join().is_err() {
            eprintln!("cleaning up namespace {} failed", self.namespace);
        }
    }
}

/// Removes every container, network and volume labelled with `namespace`.
pub async fn remove_namespace(namespace: &str) {
    let docker = Docker::connect_with_host(DOCKER_HOST).unwrap();
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("ctxy.namespace={namespace}")],
    )]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..ListContainersOptions::default()
        }))
        .await
        .unwrap_or_default();
    for container in containers {
        let id = container.id.unwrap_or_default();
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        if let Err(error) = docker.remove_container(&id, Some(options)).await {
            eprintln!("could not remove container {id}: {error}");
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters.clone()),
        }))
        .await
        .unwrap_or_default();
    for network in networks {
        let id = network.id.unwrap_or_default();
        if let Err(error) = docker.remove_network(&id).await {
            eprintln!("could not remove network {id}: {error}");
        }
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
        .map(|list| list.volumes.unwrap_or_default())
        .unwrap_or_default();
    for volume in volumes {
        if let Err(error) = docker
            .remove_volume(
                &volume.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
        {
            eprintln!("could not remove volume {}: {error}", volume.name);
        }
    }
}

/// Polls `check` until it yields a value, failing the test after
/// [`DEADLINE`]. The pause between polls only paces the polling: what is
/// waited for is the condition.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `future` with [`DEADLINE`] as its limit.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?} waiting for {what}"))
}
