//! Deploy: find or create. The project's namespace must exist (it is the
//! project's "network"); the token Secret, the volume claim, the Deployment
//! or Job and the Service are applied server-side, so a redelivered deploy
//! converges on the same objects instead of failing. A job found already is
//! adopted as it is (a job that ran is not run again). A deploy that fails
//! permanently removes what it created, the volume claim included (unless
//! the claim was there before: it holds an earlier deployment's data).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Secret, Service};
use kube::Api;

use super::client::{apply, delete, get};
use super::{KubeRuntime, names, objects, status};
use crate::runtime::error::RuntimeError;
use crate::runtime::spec::DeploymentSpec;
use crate::runtime::state::Deployed;
use crate::runtime::validate::validate_spec;

impl KubeRuntime {
    pub(super) async fn deploy_objects(
        &self,
        spec: &DeploymentSpec,
    ) -> Result<Deployed, RuntimeError> {
        validate_spec(spec, &self.capacity)?;
        let namespace = self.require_namespace(&spec.project_id).await?;
        let name = names::object_name(&spec.deployment_id);
        let (existing, existing_job) = if objects::is_service(spec) {
            let found = get(&self.api::<Deployment>(&namespace), "deploy", &name).await?;
            (found.map(|d| d.metadata), None)
        } else {
            let found = get(&self.api::<Job>(&namespace), "deploy", &name).await?;
            (found.as_ref().map(|j| j.metadata.clone()), found)
        };
        if let Some(meta) = &existing
            && status::identity(meta) != Some((spec.project_id.clone(), spec.deployment_id.clone()))
        {
            return Err(RuntimeError::NotManaged {
                what: format!("{name} in namespace {namespace}"),
            });
        }
        // A job that exists has run or is running: it is adopted as it is.
        if let Some(state) = existing_job
            .as_ref()
            .and_then(|j| status::job_state(j, None))
        {
            return Ok(Deployed {
                state,
                adopted: true,
            });
        }
        let adopted = existing.is_some();
        // A claim kept from an earlier deployment of this id (deleted
        // without its volume) holds data: a failed deploy must not take it.
        let claim_existed = match spec.volume_path {
            Some(_) => get(
                &self.api::<PersistentVolumeClaim>(&namespace),
                "deploy",
                &names::volume_claim_name(&spec.deployment_id),
            )
            .await?
            .is_some(),
            None => false,
        };
        match self.apply_objects(spec, &namespace).await {
            Ok(state) => Ok(Deployed { state, adopted }),
            Err(error) => {
                if !adopted && !error.is_retryable() {
                    // Nothing half-made stays: best effort, the error that
                    // matters is the deploy's.
                    if let Err(cleanup) =
                        self.delete_objects(spec, &namespace, !claim_existed).await
                    {
                        tracing::warn!(error = %cleanup, "Could not remove a failed deploy's objects.");
                    }
                }
                Err(error)
            }
        }
    }

    async fn apply_objects(
        &self,
        spec: &DeploymentSpec,
        namespace: &str,
    ) -> Result<crate::runtime::state::DeploymentState, RuntimeError> {
        if let Some(secret) = objects::token_secret(&self.config, spec) {
            apply(&self.api::<Secret>(namespace), "deploy", &secret).await?;
        }
        if let Some(claim) = objects::volume_claim(&self.config, spec) {
            apply(
                &self.api::<PersistentVolumeClaim>(namespace),
                "deploy",
                &claim,
            )
            .await?;
        }
        let state = if objects::is_service(spec) {
            let applied = apply(
                &self.api::<Deployment>(namespace),
                "deploy",
                &objects::deployment(&self.config, spec),
            )
            .await?;
            status::deployment_state(&applied)
        } else {
            let applied = apply(
                &self.api::<Job>(namespace),
                "deploy",
                &objects::job(&self.config, spec),
            )
            .await?;
            status::job_state(&applied, None)
        };
        if let Some(service) = objects::service(&self.config, spec) {
            apply(&self.api::<Service>(namespace), "deploy", &service).await?;
        }
        state.ok_or_else(|| RuntimeError::Protocol {
            operation: "deploy",
            source: "the applied object came back without our labels".into(),
        })
    }

    /// Removes every object of a deployment; `volumes`: its claim too.
    pub(super) async fn delete_objects(
        &self,
        spec: &DeploymentSpec,
        namespace: &str,
        volumes: bool,
    ) -> Result<(), RuntimeError> {
        let name = names::object_name(&spec.deployment_id);
        if objects::is_service(spec) {
            delete(&self.api::<Deployment>(namespace), "delete", &name).await?;
        } else {
            delete(&self.api::<Job>(namespace), "delete", &name).await?;
        }
        delete(&self.api::<Service>(namespace), "delete", &name).await?;
        delete(
            &self.api::<Secret>(namespace),
            "delete",
            &names::token_secret_name(&spec.deployment_id),
        )
        .await?;
        if volumes {
            delete(
                &self.api::<PersistentVolumeClaim>(namespace),
                "delete",
                &names::volume_claim_name(&spec.deployment_id),
            )
            .await?;
        }
        Ok(())
    }

    /// The project's namespace name, when it exists and is ours:
    /// `NetworkMissing` when it does not, `NotManaged` when it is not ours.
    pub(super) async fn require_namespace(&self, project_id: &str) -> Result<String, RuntimeError> {
        let name = names::project_namespace(&self.config.namespace, project_id);
        let api: Api<Namespace> = Api::all(self.client.clone());
        match get(&api, "namespace lookup", &name).await? {
            None => Err(RuntimeError::NetworkMissing { network: name }),
            Some(found) if !self.owns_project(&found.metadata, project_id) => {
                Err(RuntimeError::NotManaged {
                    what: format!("namespace {name}"),
                })
            }
            Some(found) if found.metadata.deletion_timestamp.is_some() => {
                Err(RuntimeError::NetworkMissing { network: name })
            }
            Some(_) => Ok(name),
        }
    }

    pub(super) fn owns_project(
        &self,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        project_id: &str,
    ) -> bool {
        let labels = meta.labels.as_ref();
        let has =
            |key: &str, value: &str| labels.and_then(|l| l.get(key)).is_some_and(|v| v == value);
        has(names::NAMESPACE, &self.config.namespace) && has(names::PROJECT, project_id)
    }
}
