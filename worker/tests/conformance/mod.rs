//! The runtime conformance suite: every case in [`cases`] is written once
//! against `&dyn Runtime` and run on each backend by
//! `worker/tests/runtime_conformance.rs`. A [`Subject`] is one backend in a
//! namespace of its own, with the image, the deadline and the cleanup that
//! backend needs ([`subjects`]).

pub mod cases;
pub mod subjects;

use std::sync::Arc;
use std::time::Duration;

use contaxy_tests::eventually;
use contaxy_worker::runtime::{
    Deployed, DeploymentRef, DeploymentSpec, DeploymentState, DeploymentType, LogOptions, Runtime,
    RuntimeError,
};
use futures::StreamExt;

/// A shell body that idles until stopped and exits 0 on SIGTERM.
pub use contaxy_tests::IDLE;

/// One backend under test, in a namespace of its own; what it made is
/// removed when it is dropped (also when a case panics).
pub struct Subject {
    /// The runtime, as the worker holds it.
    pub runtime: Arc<dyn Runtime>,
    /// The runtime's namespace: the prefix of every deployment id.
    pub namespace: String,
    /// An image with a busybox shell the backend can run.
    pub image: String,
    /// How long a deployment may take to reach a state (an image pull on a
    /// cluster takes longer than a local start on Docker).
    pub deadline: Duration,
    /// The host name a deployment's endpoints are asked for by from
    /// outside its project (runtime namespace, project, deployment id):
    /// what another project would use to reach it if it were not isolated.
    pub host_from_elsewhere: fn(&str, &str, &str) -> String,
    /// Removes what the namespace made, when dropped.
    pub _cleanup: Box<dyn Send + Sync>,
}

impl Subject {
    /// A deployment id as the API makes them.
    pub fn id(&self, project: &str, kind: DeploymentType, slug: &str) -> String {
        let letter = match kind {
            DeploymentType::Service => 's',
            DeploymentType::Job => 'j',
        };
        contaxy_tests::runtime::deployment_id(&self.namespace, project, letter, slug)
    }

    /// A deployment running `script` with `/bin/sh -c`.
    pub fn spec(
        &self,
        project: &str,
        kind: DeploymentType,
        slug: &str,
        script: &str,
    ) -> DeploymentSpec {
        let mut spec =
            DeploymentSpec::new(project, self.id(project, kind, slug), kind, &self.image);
        spec.command = vec!["/bin/sh".to_owned(), "-c".to_owned()];
        spec.args = vec![script.to_owned()];
        spec.display_name = slug.to_owned();
        spec.created_by = "conformance".to_owned();
        spec.compute.max_memory_mb = Some(64);
        // Small, so that the cases running at once fit a small cluster:
        // without a request Kubernetes reserves the limit.
        spec.compute.max_cpus = Some(0.25);
        spec
    }

    /// Deploys as the worker does: the project's network first.
    pub async fn deploy(&self, spec: &DeploymentSpec) -> Result<Deployed, RuntimeError> {
        self.runtime.ensure_network(&spec.project_id, None).await?;
        self.runtime.deploy(spec).await
    }

    /// Waits until the deployment's state satisfies `done`.
    pub async fn wait_for(
        &self,
        target: &DeploymentRef,
        what: &str,
        done: impl Fn(&DeploymentState) -> bool,
    ) -> DeploymentState {
        eventually(self.deadline, what, || async {
            self.runtime
                .status(target)
                .await
                .expect("the runtime answers a status")
                .filter(|state| done(state))
        })
        .await
    }

    /// The deployment's output as text, to its end (not following).
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
        eventually(
            self.deadline,
            &format!("{needle:?} in the logs"),
            || async {
                // A pod not scheduled yet has no logs to open.
                let mut stream = self
                    .runtime
                    .logs(target, LogOptions::default())
                    .await
                    .ok()?;
                let mut text = String::new();
                while let Some(chunk) = stream.next().await {
                    text.push_str(&chunk.ok()?.text());
                }
                text.contains(needle).then_some(text)
            },
        )
        .await
    }
}
