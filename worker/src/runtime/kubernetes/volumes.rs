//! Deployment volumes on Kubernetes: the PersistentVolumeClaims carrying
//! this installation's label, in any project namespace, for the project
//! deletion and the orphan sweep. A claim's name is only unique in its
//! namespace, so a volume is named `{namespace}/{claim}` to the rest of
//! the worker.
//!
//! A claim is in use while a pod that has not ended mounts it (what the
//! cluster's own `pvc-protection` counts): removing one then is `false`
//! and it stays, rather than hanging in `Terminating` until the pod goes.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::ListParams;

use super::client::{delete, get};
use super::errors::classify;
use super::{KubeRuntime, names, status};
use crate::runtime::docker::labels::PROJECT_INCARNATION;
use crate::runtime::error::RuntimeError;
use crate::runtime::volume::VolumeInfo;

/// The volume name of claim `claim` in namespace `namespace`.
pub fn volume_name(namespace: &str, claim: &str) -> String {
    format!("{namespace}/{claim}")
}

/// Whether the pod mounts `claim` and has not ended.
fn mounts(pod: &Pod, claim: &str) -> bool {
    let ended = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .is_some_and(|phase| matches!(phase, "Succeeded" | "Failed"));
    let mounted = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.volumes.as_ref())
        .is_some_and(|volumes| {
            volumes.iter().any(|volume| {
                volume
                    .persistent_volume_claim
                    .as_ref()
                    .is_some_and(|source| source.claim_name == claim)
            })
        });
    mounted && !ended
}

impl KubeRuntime {
    pub(super) async fn list_deployment_volumes(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<VolumeInfo>, RuntimeError> {
        let mut labels = vec![format!("{}={}", names::NAMESPACE, self.config.namespace)];
        if let Some(project) = project_id {
            labels.push(format!("{}={project}", names::PROJECT));
        }
        let claims = Api::<PersistentVolumeClaim>::all(self.client.clone())
            .list(&ListParams::default().labels(&labels.join(",")))
            .await
            .map_err(|error| classify("list volumes", "persistentvolumeclaims", error))?;
        let mut volumes: Vec<VolumeInfo> = claims
            .items
            .into_iter()
            // One being deleted is gone for contaxy.
            .filter(|claim| claim.metadata.deletion_timestamp.is_none())
            .filter_map(|claim| {
                let meta = claim.metadata;
                let labels = meta.labels?;
                Some(VolumeInfo {
                    name: volume_name(&meta.namespace?, &meta.name?),
                    project_id: labels.get(names::PROJECT)?.clone(),
                    project_incarnation: labels
                        .get(PROJECT_INCARNATION)
                        .and_then(|value| value.parse().ok()),
                    created_at: meta.creation_timestamp.as_ref().and_then(status::time),
                })
            })
            .collect();
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(volumes)
    }

    /// Removes the claim `name` (`{namespace}/{claim}`) if it is ours: gone
    /// (or not ours, or not such a name) is removed, mounted is `false`.
    pub(super) async fn remove_volume_by_name(&self, name: &str) -> Result<bool, RuntimeError> {
        let Some((namespace, claim)) = name.split_once('/') else {
            return Ok(true);
        };
        let claims = self.api::<PersistentVolumeClaim>(namespace);
        let Some(found) = get(&claims, "remove volume", claim).await? else {
            return Ok(true);
        };
        let ours = found
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(names::NAMESPACE))
            .is_some_and(|value| *value == self.config.namespace);
        if !ours || found.metadata.deletion_timestamp.is_some() {
            return Ok(true);
        }
        let pods = self
            .api::<Pod>(namespace)
            .list(&ListParams::default())
            .await
            .map_err(|error| classify("remove volume", "pods", error))?;
        if pods.items.iter().any(|pod| mounts(pod, claim)) {
            return Ok(false);
        }
        delete(&claims, "remove volume", claim).await?;
        tracing::info!(volume = %name, "Removed a volume claim.");
        Ok(true)
    }
}
