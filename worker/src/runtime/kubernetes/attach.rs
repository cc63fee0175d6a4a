//! `network.connect` and `network.disconnect` on Kubernetes. A deployment
//! is in its project's namespace from creation; disconnecting it sets the
//! `ctxy.disconnected` label on its pods, which moves them from the
//! project's ingress policy to the policy that allows nothing (see
//! `network_policies`); connecting removes the label.
//!
//! - A service: the label goes on the Deployment and on its pod template,
//!   so every pod it makes from now on carries it. Changing the template
//!   rolls the pods: a disconnect (and a connect) restarts the service.
//! - A job: a Job's pod template cannot change once it has run, so the
//!   label goes on the Job and on its pods themselves. A job stopped and
//!   started again while disconnected gets a new, connected pod (written
//!   down in docs/kubernetes.md).
//!
//! Both are merge patches under our field manager, not server-side
//! applies: an apply of only the label would give up every other field
//! the deploy's apply owns. Each looks before it acts, so repeating one
//! changes nothing (and does not roll a service's pods again).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::client::merge;
use super::errors::classify;
use super::lifecycle::Found;
use super::{KubeRuntime, names};
use crate::runtime::error::RuntimeError;
use crate::runtime::spec::DeploymentRef;

/// Whether the object carries the disconnected label.
pub fn is_disconnected(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(names::DISCONNECTED))
}

/// A merge patch that sets (`true`) or removes (`null`) the label.
fn label_patch(disconnected: bool) -> Value {
    json!({"metadata": {"labels": {names::DISCONNECTED: label_value(disconnected)}}})
}

fn label_value(disconnected: bool) -> Value {
    if disconnected {
        json!("true")
    } else {
        Value::Null
    }
}

impl KubeRuntime {
    /// Needs the namespace (`NetworkMissing`) and the deployment
    /// (`NotFound`), as on Docker.
    pub(super) async fn connect_deployment(
        &self,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        self.require_namespace(&target.project_id).await?;
        let (namespace, found) =
            self.find(target, "network connect")
                .await?
                .ok_or_else(|| RuntimeError::NotFound {
                    what: target.to_string(),
                })?;
        self.set_disconnected(&namespace, target, found, false)
            .await
    }

    /// A missing deployment is detached already.
    pub(super) async fn disconnect_deployment(
        &self,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        match self.find(target, "network disconnect").await? {
            Some((namespace, found)) => {
                self.set_disconnected(&namespace, target, found, true).await
            }
            None => Ok(()),
        }
    }

    async fn set_disconnected(
        &self,
        namespace: &str,
        target: &DeploymentRef,
        found: Found,
        disconnected: bool,
    ) -> Result<(), RuntimeError> {
        let operation = if disconnected {
            "network disconnect"
        } else {
            "network connect"
        };
        let name = names::object_name(&target.deployment_id);
        match found {
            Found::Service(deployment) => {
                let template = deployment
                    .spec
                    .as_ref()
                    .and_then(|spec| spec.template.metadata.as_ref());
                let done = is_disconnected(&deployment.metadata) == disconnected
                    && template.is_some_and(is_disconnected) == disconnected;
                if !done {
                    let value = label_value(disconnected);
                    let patch = json!({
                        "metadata": {"labels": {names::DISCONNECTED: value}},
                        "spec": {"template": {"metadata": {"labels": {names::DISCONNECTED: value}}}},
                    });
                    merge(&self.api::<Deployment>(namespace), operation, &name, patch).await?;
                    tracing::info!(deployment_id = %target.deployment_id, disconnected, "Changed a service's network attachment (its pods are replaced).");
                }
            }
            Found::Job(job) => {
                if is_disconnected(&job.metadata) != disconnected {
                    merge(
                        &self.api::<Job>(namespace),
                        operation,
                        &name,
                        label_patch(disconnected),
                    )
                    .await?;
                }
                self.label_job_pods(namespace, target, operation, disconnected)
                    .await?;
                tracing::info!(deployment_id = %target.deployment_id, disconnected, "Changed a job's network attachment.");
            }
        }
        Ok(())
    }

    /// Sets or removes the label on the job's pods; a pod gone meanwhile
    /// needs nothing.
    async fn label_job_pods(
        &self,
        namespace: &str,
        target: &DeploymentRef,
        operation: &'static str,
        disconnected: bool,
    ) -> Result<(), RuntimeError> {
        let selector = names::selector(&names::selector_labels(
            &self.config.namespace,
            &target.project_id,
            &target.deployment_id,
        ));
        let pods = self.api::<Pod>(namespace);
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|error| classify(operation, "pods", error))?;
        for pod in list.items {
            if is_disconnected(&pod.metadata) == disconnected {
                continue;
            }
            let Some(pod_name) = pod.metadata.name else {
                continue;
            };
            match merge(&pods, operation, &pod_name, label_patch(disconnected)).await {
                Ok(_) | Err(RuntimeError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}
