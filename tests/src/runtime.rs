//! The worker's Docker runtime on its own, for the runtime tests in
//! `worker/tests`: a runtime in a fresh namespace that removes everything
//! labelled with it when dropped (also when the test panics), and spec
//! builders for busybox deployments.

use std::sync::Arc;

use bollard::Docker;
use contaxy_common::domain::deployment::DeploymentType;
use contaxy_worker::runtime::{
    Deployed, DeploymentRef, DeploymentSpec, DeploymentState, DockerRuntime, DockerRuntimeConfig,
    LogOptions, Runtime, RuntimeError,
};
use futures::StreamExt;

use crate::docker::{DOCKER_HOST, fresh_namespace, remove_docker_namespace};
use crate::{DEADLINE, IMAGE, eventually};

/// A Docker runtime bound to a namespace of its own.
#[derive(Debug)]
pub struct TestRuntime {
    /// The runtime under test.
    pub runtime: Arc<DockerRuntime>,
    /// Its namespace: the prefix of every name it makes, and its label.
    pub namespace: String,
}

impl TestRuntime {
    /// A runtime in a fresh namespace.
    pub async fn new() -> Self {
        let namespace = fresh_namespace("t");
        let runtime = Self::connect(&namespace).await;
        Self { runtime, namespace }
    }

    /// Another runtime (another worker, say) in the same namespace. Only the
    /// first one cleans up.
    pub async fn sibling(&self) -> Arc<DockerRuntime> {
        Self::connect(&self.namespace).await
    }

    async fn connect(namespace: &str) -> Arc<DockerRuntime> {
        let config = DockerRuntimeConfig::with_namespace(namespace);
        let runtime = DockerRuntime::connect(DOCKER_HOST, config)
            .await
            .expect("the Docker Engine is reachable (scripts/provision.sh docker)");
        Arc::new(runtime)
    }

    /// The runtime as the worker holds it.
    pub fn dyn_runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }

    /// Deploys as the worker does: the project's network first (deploy
    /// needs it), then the deployment, through `dyn Runtime`.
    pub async fn deploy(&self, spec: &DeploymentSpec) -> Result<Deployed, RuntimeError> {
        let runtime = self.dyn_runtime();
        runtime.ensure_network(&spec.project_id, None).await?;
        runtime.deploy(spec).await
    }

    /// The runtime's own Docker client.
    pub fn docker(&self) -> &Docker {
        self.runtime.client()
    }

    /// A deployment id as the API would make it.
    pub fn id(&self, project: &str, kind: DeploymentType, slug: &str) -> String {
        let letter = match kind {
            DeploymentType::Service => 's',
            DeploymentType::Job => 'j',
        };
        deployment_id(&self.namespace, project, letter, slug)
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

    /// A job running `script`.
    pub fn job(&self, project: &str, slug: &str, script: &str) -> DeploymentSpec {
        self.spec(project, DeploymentType::Job, slug, script)
    }

    /// A service running `script`.
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
        eventually(DEADLINE, what, || async {
            self.runtime
                .status(target)
                .await
                .expect("the runtime answers a status")
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
        let mut stream = self
            .runtime
            .logs(target, options)
            .await
            .expect("the runtime opens the logs");
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(&chunk.expect("a log chunk").text());
        }
        text
    }

    /// Waits until the deployment's output contains `needle`.
    pub async fn wait_for_output(&self, target: &DeploymentRef, needle: &str) -> String {
        eventually(DEADLINE, &format!("{needle:?} in the logs"), || async {
            let text = self.logs(target, LogOptions::default()).await;
            text.contains(needle).then_some(text)
        })
        .await
    }
}

impl Drop for TestRuntime {
    fn drop(&mut self) {
        remove_docker_namespace(&self.namespace);
    }
}

/// A deployment id as the API makes them: `{namespace}-p-{project}--{letter}-{slug}`,
/// `letter` being `s` for a service and `j` for a job.
pub fn deployment_id(namespace: &str, project: &str, letter: char, slug: &str) -> String {
    format!("{namespace}-p-{project}--{letter}-{slug}")
}
