//! Deployment volumes: listing them (for the project deletion and the
//! orphan sweep) and removing them, one deployment's or one by name. Only
//! volumes carrying this namespace's label are ever seen or removed.

use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};

use super::DockerRuntime;
use super::errors::{classify, status_of};
use super::labels;
use super::status::parse_time;
use crate::runtime::RuntimeError;
use crate::runtime::spec::DeploymentRef;
use crate::runtime::volume::VolumeInfo;

impl DockerRuntime {
    /// Every volume of this namespace (or of one project) that names its
    /// project.
    pub(super) async fn list_deployment_volumes(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<VolumeInfo>, RuntimeError> {
        let mut wanted = vec![(labels::NAMESPACE, self.namespace())];
        if let Some(project_id) = project_id {
            wanted.push((labels::PROJECT, project_id));
        }
        Ok(self
            .volumes_labelled(&wanted)
            .await?
            .into_iter()
            .filter_map(|volume| {
                let project_id = volume.labels.get(labels::PROJECT)?.clone();
                Some(VolumeInfo {
                    project_incarnation: volume
                        .labels
                        .get(labels::PROJECT_INCARNATION)
                        .and_then(|value| value.parse().ok()),
                    created_at: parse_time(volume.created_at.as_deref()),
                    name: volume.name,
                    project_id,
                })
            })
            .collect())
    }

    /// Removes the volume `name` if it is this namespace's; gone is removed,
    /// in use (a 409) is false.
    pub(super) async fn remove_volume_by_name(&self, name: &str) -> Result<bool, RuntimeError> {
        let volume = match self.docker.inspect_volume(name).await {
            Ok(volume) => volume,
            Err(error) if status_of(&error) == Some(404) => return Ok(true),
            Err(error) => return Err(classify("inspect volume", name, error)),
        };
        let ours = volume
            .labels
            .get(labels::NAMESPACE)
            .is_some_and(|namespace| namespace == self.namespace());
        if !ours {
            return Ok(true);
        }
        self.remove_named_volume(name).await
    }

    /// Removes every volume of the deployment (found by label, so only ours;
    /// whatever project incarnation made it).
    pub(super) async fn remove_volumes(&self, target: &DeploymentRef) -> Result<(), RuntimeError> {
        let wanted = [
            (labels::NAMESPACE, self.namespace()),
            (labels::PROJECT, target.project_id.as_str()),
            (labels::DEPLOYMENT_ID, target.deployment_id.as_str()),
        ];
        for volume in self.volumes_labelled(&wanted).await? {
            if !self.remove_named_volume(&volume.name).await? {
                return Err(RuntimeError::Conflict {
                    operation: "remove volume",
                    message: format!("volume {} is still in use", volume.name),
                });
            }
        }
        Ok(())
    }

    async fn volumes_labelled(
        &self,
        wanted: &[(&str, &str)],
    ) -> Result<Vec<bollard::models::Volume>, RuntimeError> {
        let found = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(labels::label_filter(wanted)),
            }))
            .await
            .map_err(|e| classify("list volumes", "volumes", e))?;
        Ok(found.volumes.unwrap_or_default())
    }

    async fn remove_named_volume(&self, name: &str) -> Result<bool, RuntimeError> {
        match self
            .docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
            .await
        {
            Ok(()) => Ok(true),
            Err(error) if status_of(&error) == Some(404) => Ok(true),
            Err(error) if status_of(&error) == Some(409) => Ok(false),
            Err(error) => Err(classify("remove volume", name, error)),
        }
    }
}
