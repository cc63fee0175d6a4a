//! Finding a deployment's container and acting on it: start, stop, restart,
//! delete, status and list.

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    ListContainersOptions, RemoveContainerOptions, RestartContainerOptions, StartContainerOptions,
    StopContainerOptions,
};

use super::DockerRuntime;
use super::errors::{classify, missing_network, status_of};
use super::labels;
use super::status::{state_from_inspect, state_from_summary};
use crate::runtime::RuntimeError;
use crate::runtime::spec::{DeleteOptions, DeploymentRef};
use crate::runtime::state::DeploymentState;
use crate::runtime::validate::{check_deployment_id, check_project_id};

/// What is found under a deployment's container name.
#[derive(Debug)]
pub(super) enum Lookup {
    /// Nothing.
    Missing,
    /// Our container for this deployment.
    Ours(Box<ContainerInspectResponse>),
    /// A container of another namespace, project or deployment, or none of
    /// ours at all.
    Foreign,
}

impl DockerRuntime {
    /// Inspects the container named `deployment_id` and checks it is ours
    /// and `project_id`'s. The ids are checked first: they become URL path
    /// segments.
    pub(super) async fn lookup(
        &self,
        project_id: &str,
        deployment_id: &str,
    ) -> Result<Lookup, RuntimeError> {
        check_project_id(project_id)?;
        check_deployment_id(deployment_id)?;
        match self.docker.inspect_container(deployment_id, None).await {
            Ok(container) => {
                let labels = container.config.as_ref().and_then(|c| c.labels.as_ref());
                if labels::owned_by(labels, self.namespace(), project_id, Some(deployment_id)) {
                    Ok(Lookup::Ours(Box::new(container)))
                } else {
                    Ok(Lookup::Foreign)
                }
            }
            Err(error) if status_of(&error) == Some(404) => Ok(Lookup::Missing),
            Err(error) => Err(classify("inspect container", deployment_id, error)),
        }
    }

    /// Our container for `target`; a container that is not ours is as good as
    /// missing (another tenant's name must not be confirmed).
    async fn find(
        &self,
        target: &DeploymentRef,
    ) -> Result<Option<ContainerInspectResponse>, RuntimeError> {
        match self
            .lookup(&target.project_id, &target.deployment_id)
            .await?
        {
            Lookup::Ours(container) => Ok(Some(*container)),
            Lookup::Missing | Lookup::Foreign => Ok(None),
        }
    }

    /// Our container's id for `target`, or [`RuntimeError::NotFound`].
    pub(super) async fn require(&self, target: &DeploymentRef) -> Result<String, RuntimeError> {
        self.find(target)
            .await?
            .and_then(|container| container.id)
            .ok_or_else(|| RuntimeError::NotFound {
                what: target.to_string(),
            })
    }

    pub(super) async fn start_container(&self, target: &DeploymentRef) -> Result<(), RuntimeError> {
        let id = self.require(target).await?;
        self.start_by_id(&id, target).await
    }

    pub(super) async fn start_by_id(
        &self,
        id: &str,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        // An already running container answers 304, which bollard treats as
        // success: starting is idempotent.
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|error| match missing_network(&error) {
                Some(network) => RuntimeError::NetworkMissing { network },
                None => classify("start container", &target.to_string(), error),
            })
    }

    pub(super) async fn stop_container(&self, target: &DeploymentRef) -> Result<(), RuntimeError> {
        let id = self.require(target).await?;
        self.stop_by_id(&id, target).await
    }

    async fn stop_by_id(&self, id: &str, target: &DeploymentRef) -> Result<(), RuntimeError> {
        let options = StopContainerOptions {
            t: Some(self.stop_timeout()),
            signal: None,
        };
        self.docker
            .stop_container(id, Some(options))
            .await
            .map_err(|e| classify("stop container", &target.to_string(), e))
    }

    pub(super) async fn restart_container(
        &self,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        let id = self.require(target).await?;
        let options = RestartContainerOptions {
            t: Some(self.stop_timeout()),
            signal: None,
        };
        self.docker
            .restart_container(&id, Some(options))
            .await
            .map_err(|e| classify("restart container", &target.to_string(), e))
    }

    /// Stops the container gracefully, removes it, then (when asked) its
    /// volume. Each step treats "already gone" as done, so a retried delete
    /// finishes what an interrupted one began.
    pub(super) async fn delete_container(
        &self,
        target: &DeploymentRef,
        options: DeleteOptions,
    ) -> Result<(), RuntimeError> {
        if let Some(container) = self.find(target).await? {
            let id = container.id.unwrap_or_default();
            let running = container.state.and_then(|s| s.running).unwrap_or(false);
            if running {
                match self.stop_by_id(&id, target).await {
                    Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            self.remove_by_id(&id, target).await?;
        }
        if options.delete_volumes {
            self.remove_volumes(target).await?;
        }
        Ok(())
    }

    pub(super) async fn remove_by_id(
        &self,
        id: &str,
        target: &DeploymentRef,
    ) -> Result<(), RuntimeError> {
        // `v`: its anonymous volumes (an image's `VOLUME`s) go with it; the
        // named deployment volume stays unless the delete asks for it.
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if status_of(&error) == Some(404) => Ok(()),
            Err(error) => Err(classify("remove container", &target.to_string(), error)),
        }
    }

    pub(super) async fn container_state(
        &self,
        target: &DeploymentRef,
    ) -> Result<Option<DeploymentState>, RuntimeError> {
        Ok(self
            .find(target)
            .await?
            .as_ref()
            .and_then(state_from_inspect))
    }

    pub(super) async fn list_containers(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<DeploymentState>, RuntimeError> {
        let mut wanted = vec![(labels::NAMESPACE, self.namespace())];
        if let Some(project_id) = project_id {
            check_project_id(project_id)?;
            wanted.push((labels::PROJECT, project_id));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(labels::label_filter(&wanted)),
            ..ListContainersOptions::default()
        };
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| classify("list containers", "containers", e))?;
        let mut states: Vec<_> = containers.iter().filter_map(state_from_summary).collect();
        states.sort_by(|a, b| a.deployment_id.cmp(&b.deployment_id));
        Ok(states)
    }

    fn stop_timeout(&self) -> i32 {
        i32::try_from(self.config.stop_timeout_secs).unwrap_or(i32::MAX)
    }
}
