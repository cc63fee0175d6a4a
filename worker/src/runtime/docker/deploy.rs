//! Deploy as "find or create": what an earlier delivery of the same action
//! created is adopted, never duplicated.

use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerInspectResponse, VolumeCreateRequest};
use bollard::query_parameters::{CreateContainerOptions, CreateImageOptions};
use contaxy_common::domain::ImageRef;
use futures::StreamExt;

use super::DockerRuntime;
use super::container_body::container_body;
use super::errors::{classify, is_transport, missing_network, status_of};
use super::labels;
use super::lifecycle::Lookup;
use super::status::state_from_inspect;
use crate::runtime::RuntimeError;
use crate::runtime::spec::{DeploymentRef, DeploymentSpec, DeploymentType};
use crate::runtime::state::{Deployed, DeploymentState};
use crate::runtime::validate::validate_spec;

/// Pauses before each look for a container whose name a concurrent create
/// holds (1.55 s in all).
const CONFLICT_LOOKUP_PAUSES_MS: [u64; 6] = [0, 50, 100, 200, 400, 800];

impl DockerRuntime {
    /// Deploys into the project's network by its deterministic name, without
    /// looking for it first: the caller ensured it (under its lock). If it
    /// is gone by the time the container starts (or is created, on engines
    /// that check then), the container is removed and
    /// [`RuntimeError::NetworkMissing`] tells the caller to ensure it again.
    pub(super) async fn deploy_container(
        &self,
        spec: &DeploymentSpec,
    ) -> Result<Deployed, RuntimeError> {
        validate_spec(spec, &self.engine.capacity)?;
        let target = spec.target();
        if let Some(deployed) = self.adopt_existing(spec).await? {
            return Ok(deployed);
        }
        self.ensure_image(&spec.image).await?;
        if spec.volume_path.is_some() {
            self.ensure_volume(spec).await?;
        }
        let options = CreateContainerOptions {
            name: Some(spec.deployment_id.clone()),
            platform: String::new(),
        };
        let network = labels::network_name(self.namespace(), &spec.project_id);
        let body = container_body(&self.config, spec, &network);
        let id = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created.id,
            // Another delivery created it since we looked: adopt that one.
            Err(error) if status_of(&error) == Some(409) => {
                return self.adopt_after_conflict(spec, error).await;
            }
            Err(error) => {
                return Err(match missing_network(&error) {
                    Some(network) => RuntimeError::NetworkMissing { network },
                    None => classify("create container", &target.to_string(), error),
                });
            }
        };
        tracing::info!(deployment_id = %spec.deployment_id, container_id = %id, "Created a container.");
        self.start_new(&id, &target).await?;
        Ok(Deployed {
            state: self.current_state(&target).await?,
            adopted: false,
        })
    }

    /// Adopts the container an earlier attempt created, starting it when it
    /// should run and does not. `None` when there is none.
    async fn adopt_existing(
        &self,
        spec: &DeploymentSpec,
    ) -> Result<Option<Deployed>, RuntimeError> {
        let container = match self.lookup(&spec.project_id, &spec.deployment_id).await? {
            Lookup::Missing => return Ok(None),
            Lookup::Foreign => {
                return Err(RuntimeError::NotManaged {
                    what: format!("container {}", spec.deployment_id),
                });
            }
            Lookup::Ours(container) => container,
        };
        let target = spec.target();
        let existing = state_from_inspect(&container).ok_or_else(|| RuntimeError::NotManaged {
            what: format!("container {}", spec.deployment_id),
        })?;
        if existing.kind != spec.kind {
            return Err(RuntimeError::invalid(
                "kind",
                format!(
                    "{} exists as a {}, not a {}",
                    spec.deployment_id, existing.kind, spec.kind
                ),
            ));
        }
        if should_start(spec.kind, &container) {
            let id = container.id.clone().unwrap_or_default();
            self.start_new(&id, &target).await?;
        }
        tracing::info!(deployment_id = %spec.deployment_id, "Adopted an existing container.");
        Ok(Some(Deployed {
            state: self.current_state(&target).await?,
            adopted: true,
        }))
    }

    /// Adopts the container whose creation beat ours. The engine reserves a
    /// name before the container can be inspected, so it may be invisible
    /// for a few milliseconds; after the last look the conflict is returned
    /// (retryable), and the retried deploy adopts it.
    async fn adopt_after_conflict(
        &self,
        spec: &DeploymentSpec,
        conflict: BollardError,
    ) -> Result<Deployed, RuntimeError> {
        for pause_ms in CONFLICT_LOOKUP_PAUSES_MS {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            if let Some(deployed) = self.adopt_existing(spec).await? {
                return Ok(deployed);
            }
        }
        Err(classify(
            "create container",
            &spec.target().to_string(),
            conflict,
        ))
    }

    /// Starts a container this deploy is responsible for. If it can never
    /// start (a bad command, no GPU driver, its network gone) it is removed,
    /// so a failed deploy leaves nothing behind; a transient failure keeps
    /// it for the retry.
    async fn start_new(&self, id: &str, target: &DeploymentRef) -> Result<(), RuntimeError> {
        let Err(error) = self.start_by_id(id, target).await else {
            return Ok(());
        };
        if !error.is_retryable()
            && let Err(cleanup) = self.remove_by_id(id, target).await
        {
            tracing::warn!(
                deployment_id = %target.deployment_id,
                error = %cleanup,
                "Could not remove a container that failed to start."
            );
        }
        Err(error)
    }

    async fn current_state(&self, target: &DeploymentRef) -> Result<DeploymentState, RuntimeError> {
        self.container_state(target)
            .await?
            .ok_or_else(|| RuntimeError::NotFound {
                what: target.to_string(),
            })
    }

    /// Makes sure `image` is in the local store, pulling it once if not. A
    /// failed pull is permanent: retrying the same pull will not make a
    /// missing image or an unreachable registry appear.
    pub(super) async fn ensure_image(&self, image: &str) -> Result<(), RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(error) if status_of(&error) == Some(404) => {}
            Err(error) => return Err(classify("inspect image", image, error)),
        }
        tracing::info!(image, "Pulling an image that is not available locally.");
        // Validated with the spec; parsed again only for its parts.
        let (from_image, tag) = ImageRef::parse(image)
            .map_err(|e| RuntimeError::invalid("container_image", e.to_string()))?
            .pull_parts();
        let options = CreateImageOptions {
            from_image: Some(from_image),
            tag,
            ..CreateImageOptions::default()
        };
        let mut progress = self.docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            match step {
                Ok(step) => {
                    if let Some(detail) = step.error_detail {
                        return Err(unavailable(image, detail.message.unwrap_or_default()));
                    }
                }
                Err(error) if is_transport(&error) => {
                    return Err(classify("pull image", image, error));
                }
                Err(error) => return Err(unavailable(image, engine_message(error))),
            }
        }
        Ok(())
    }

    async fn ensure_volume(&self, spec: &DeploymentSpec) -> Result<(), RuntimeError> {
        let name = labels::volume_name(spec);
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            driver: Some("local".to_owned()),
            labels: Some(labels::volume_labels(self.namespace(), spec)),
            ..VolumeCreateRequest::default()
        };
        // Creating a volume that exists returns it: idempotent as it is.
        let volume = self
            .docker
            .create_volume(request)
            .await
            .map_err(|e| classify("create volume", &name, e))?;
        if !labels::owned_by(
            Some(&volume.labels),
            self.namespace(),
            &spec.project_id,
            Some(&spec.deployment_id),
        ) {
            return Err(RuntimeError::NotManaged {
                what: format!("volume {name}"),
            });
        }
        Ok(())
    }
}

/// Whether an adopted container should be started: a job only if it never
/// ran (a finished job is not run again), a service whenever it is not up.
fn should_start(kind: DeploymentType, container: &ContainerInspectResponse) -> bool {
    let state = container
        .state
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .map_or("", AsRef::as_ref);
    match kind {
        DeploymentType::Job => state == "created",
        DeploymentType::Service => matches!(state, "created" | "exited"),
    }
}

fn unavailable(image: &str, reason: String) -> RuntimeError {
    RuntimeError::ImageUnavailable {
        image: image.to_owned(),
        reason,
    }
}

fn engine_message(error: BollardError) -> String {
    match error {
        BollardError::DockerResponseServerError { message, .. } => message,
        BollardError::DockerStreamError { error } => error,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerState, ContainerStateStatusEnum};

    use super::*;

    fn in_state(status: ContainerStateStatusEnum) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(status),
                ..ContainerState::default()
            }),
            ..ContainerInspectResponse::default()
        }
    }

    #[test]
    fn an_adopted_job_runs_at_most_once_and_a_service_is_brought_up() {
        use ContainerStateStatusEnum::{CREATED, EXITED, RUNNING};
        let cases = [
            (DeploymentType::Job, CREATED, true),
            (DeploymentType::Job, RUNNING, false),
            (DeploymentType::Job, EXITED, false),
            (DeploymentType::Service, CREATED, true),
            (DeploymentType::Service, RUNNING, false),
            (DeploymentType::Service, EXITED, true),
        ];
        for (kind, state, expected) in cases {
            assert_eq!(
                should_start(kind, &in_state(state)),
                expected,
                "{kind} {state}"
            );
        }
    }

    #[test]
    fn engine_messages_are_kept_without_bollards_wrapping() {
        let answer = BollardError::DockerResponseServerError {
            status_code: 500,
            message: "no such host".to_owned(),
        };
        assert_eq!(engine_message(answer), "no such host");
        let error = unavailable("x:1", "no such host".to_owned());
        assert_eq!(
            error.to_string(),
            "image x:1 is not available locally and could not be pulled: no such host"
        );
        assert!(!error.is_retryable());
    }
}
