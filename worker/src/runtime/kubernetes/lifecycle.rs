//! Start, stop, restart, delete, status and list. A service is started and
//! stopped by scaling its Deployment (1 or 0 replicas); a job by
//! resuming or suspending its Job (suspending removes its running pod).
//! Lookups are by the derived name in the project's namespace and check
//! the labels and the full id, so another project's deployment is missing.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use super::client::{delete, get, merge};
use super::errors::classify;
use super::{KubeRuntime, names, status};
use crate::runtime::error::RuntimeError;
use crate::runtime::spec::{DeleteOptions, DeploymentRef};
use crate::runtime::state::DeploymentState;

/// A deployment as found: a service's Deployment or a job's Job.
#[derive(Debug)]
pub(super) enum Found {
    Service(Box<Deployment>),
    Job(Box<Job>),
}

impl KubeRuntime {
    /// The deployment's object, if it exists and is this project's.
    pub(super) async fn find(
        &self,
        target: &DeploymentRef,
        operation: &'static str,
    ) -> Result<Option<(String, Found)>, RuntimeError> {
        let namespace = names::project_namespace(&self.config.namespace, &target.project_id);
        let name = names::object_name(&target.deployment_id);
        let ours = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            status::identity(meta)
                == Some((target.project_id.clone(), target.deployment_id.clone()))
        };
        if let Some(found) = get(&self.api::<Deployment>(&namespace), operation, &name).await?
            && ours(&found.metadata)
        {
            return Ok(Some((namespace, Found::Service(Box::new(found)))));
        }
        if let Some(found) = get(&self.api::<Job>(&namespace), operation, &name).await?
            && ours(&found.metadata)
        {
            return Ok(Some((namespace, Found::Job(Box::new(found)))));
        }
        Ok(None)
    }

    fn missing(target: &DeploymentRef) -> RuntimeError {
        RuntimeError::NotFound {
            what: target.to_string(),
        }
    }

    /// Scales a service or resumes/suspends a job.
    pub(super) async fn set_running(
        &self,
        target: &DeploymentRef,
        running: bool,
    ) -> Result<(), RuntimeError> {
        let operation = if running { "start" } else { "stop" };
        let (namespace, found) = self
            .find(target, operation)
            .await?
            .ok_or_else(|| Self::missing(target))?;
        let name = names::object_name(&target.deployment_id);
        match found {
            Found::Service(_) => {
                let replicas = i32::from(running);
                merge(
                    &self.api::<Deployment>(&namespace),
                    operation,
                    &name,
                    json!({"spec": {"replicas": replicas}}),
                )
                .await?;
            }
            Found::Job(_) => {
                merge(
                    &self.api::<Job>(&namespace),
                    operation,
                    &name,
                    json!({"spec": {"suspend": !running}}),
                )
                .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn restart_deployment(
        &self,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        let (namespace, found) = self
            .find(target, "restart")
            .await?
            .ok_or_else(|| Self::missing(target))?;
        match found {
            // What `kubectl rollout restart` does: a new pod template
            // annotation makes the Deployment replace its pods.
            Found::Service(_) => {
                let now = chrono::Utc::now().to_rfc3339();
                merge(
                    &self.api::<Deployment>(&namespace),
                    "restart",
                    &names::object_name(&target.deployment_id),
                    json!({"spec": {"replicas": 1, "template": {"metadata": {"annotations": {"ctxy.restartedAt": now}}}}}),
                )
                .await?;
                Ok(())
            }
            Found::Job(_) => {
                self.set_running(target, false).await?;
                self.set_running(target, true).await
            }
        }
    }

    pub(super) async fn delete_deployment(
        &self,
        target: &DeploymentRef,
        options: DeleteOptions,
    ) -> Result<(), RuntimeError> {
        let Some((namespace, found)) = self.find(target, "delete").await? else {
            return Ok(());
        };
        let name = names::object_name(&target.deployment_id);
        match found {
            Found::Service(_) => {
                delete(&self.api::<Deployment>(&namespace), "delete", &name).await?
            }
            Found::Job(_) => delete(&self.api::<Job>(&namespace), "delete", &name).await?,
        }
        delete(&self.api::<Service>(&namespace), "delete", &name).await?;
        delete(
            &self.api::<Secret>(&namespace),
            "delete",
            &names::token_secret_name(&target.deployment_id),
        )
        .await?;
        if options.delete_volumes {
            delete(
                &self.api::<PersistentVolumeClaim>(&namespace),
                "delete",
                &names::volume_claim_name(&target.deployment_id),
            )
            .await?;
        }
        Ok(())
    }

    pub(super) async fn deployment_status(
        &self,
        target: &DeploymentRef,
    ) -> Result<Option<DeploymentState>, RuntimeError> {
        let Some((namespace, found)) = self.find(target, "status").await? else {
            return Ok(None);
        };
        Ok(match found {
            Found::Service(deployment) => status::deployment_state(&deployment),
            Found::Job(job) => {
                let exit_code = self.job_exit_code(&namespace, target).await?;
                status::job_state(&job, exit_code)
            }
        })
    }

    /// The exit code of the job's pod, when it has terminated.
    async fn job_exit_code(
        &self,
        namespace: &str,
        target: &DeploymentRef,
    ) -> Result<Option<i64>, RuntimeError> {
        let selector = names::selector(&names::selector_labels(
            &self.config.namespace,
            &target.project_id,
            &target.deployment_id,
        ));
        let pods = self
            .api::<Pod>(namespace)
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|error| classify("status", "pods", error))?;
        Ok(pods.items.iter().find_map(status::pod_exit_code))
    }

    pub(super) async fn list_deployments(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<DeploymentState>, RuntimeError> {
        let (deployments, jobs) = self.list_objects(project_id).await?;
        let mut states: Vec<DeploymentState> = deployments
            .iter()
            .filter_map(status::deployment_state)
            .chain(jobs.iter().filter_map(|j| status::job_state(j, None)))
            .collect();
        states.sort_by(|a, b| a.deployment_id.cmp(&b.deployment_id));
        Ok(states)
    }

    /// Our Deployments and Jobs, of every project or of one.
    pub(super) async fn list_objects(
        &self,
        project_id: Option<&str>,
    ) -> Result<(Vec<Deployment>, Vec<Job>), RuntimeError> {
        let mut labels = vec![format!("{}={}", names::NAMESPACE, self.config.namespace)];
        if let Some(project) = project_id {
            labels.push(format!("{}={project}", names::PROJECT));
        }
        let params = ListParams::default().labels(&labels.join(","));
        let deployments = Api::<Deployment>::all(self.client.clone())
            .list(&params)
            .await
            .map_err(|error| classify("list", "deployments", error))?;
        let jobs = Api::<Job>::all(self.client.clone())
            .list(&params)
            .await
            .map_err(|error| classify("list", "jobs", error))?;
        Ok((deployments.items, jobs.items))
    }
}
