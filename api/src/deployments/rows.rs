//! The deployment rows written in the transaction of the action that
//! concerns them ([`crate::actions::ResourceWrite`]).

use contaxy_common::domain::ProjectId;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentType};
use contaxy_common::domain::validation::FieldErrors;
use contaxy_common::store::allowed_images;
use contaxy_common::store::deployments::{self, DeploymentRecord, NewDeployment};
use contaxy_common::store::projects;
use contaxy_common::store::quotas::{self, Quotas};
use sqlx::PgConnection;

use crate::actions::ResourceWrite;
use crate::error::ApiError;

/// A new deployment's row, for its `deployment.deploy`. Refused (409) when
/// a deployment with the same id exists, or when the project has no room
/// for one more (its quotas); 400 naming `container_image` when the image
/// allow-list does not allow its image.
#[derive(Debug)]
pub struct Insert<'a> {
    /// The chosen id.
    pub id: &'a str,
    /// Its project.
    pub project: &'a ProjectId,
    /// Service or job.
    pub kind: DeploymentType,
    /// The validated input.
    pub input: &'a DeploymentInput,
    /// Who asked.
    pub by: &'a str,
    /// The project's limits, checked in the same transaction (409).
    pub quotas: &'a Quotas,
}

impl ResourceWrite<ApiError> for Insert<'_> {
    type Row = DeploymentRecord;

    async fn write(self, conn: &mut PgConnection) -> Result<DeploymentRecord, ApiError> {
        if !projects::lock_live(conn, self.project.as_str()).await? {
            return Err(ApiError::Conflict(format!(
                "The project `{}` is being deleted; nothing new is made in it.",
                self.project
            )));
        }
        check_image(conn, self.input).await?;
        quotas::check_new_deployment(conn, self.quotas, self.project.as_str()).await?;
        let new = NewDeployment {
            id: self.id,
            project_id: self.project.as_str(),
            deployment_type: self.kind,
            input: self.input,
            created_by: Some(self.by),
        };
        deployments::insert(conn, &new).await?.ok_or_else(|| {
            ApiError::Conflict(format!(
                "A {} with the id `{}` exists already; choose another display_name.",
                self.kind, self.id
            ))
        })
    }
}

/// Room for a start or restart of deployment `id` among its project's
/// running ones (its quota, 409), checked in the transaction that records
/// the action `action_id`.
#[derive(Debug)]
pub struct StartRoom<'a> {
    /// The deployment.
    pub id: &'a str,
    /// Its project.
    pub project: &'a ProjectId,
    /// The start or restart being recorded.
    pub action_id: uuid::Uuid,
    /// The project's limits.
    pub quotas: &'a Quotas,
}

impl ResourceWrite<ApiError> for StartRoom<'_> {
    type Row = ();

    async fn write(self, conn: &mut PgConnection) -> Result<(), ApiError> {
        quotas::check_start(
            conn,
            self.quotas,
            self.project.as_str(),
            self.id,
            self.action_id,
        )
        .await?;
        Ok(())
    }
}

/// A changed input (PATCH), for the `deployment.restart` that recreates the
/// container from it. Refused (404) when the deployment is gone; 400 when
/// the image allow-list does not allow its image.
#[derive(Debug)]
pub struct UpdateInput<'a> {
    /// The deployment.
    pub id: &'a str,
    /// Its project.
    pub project: &'a ProjectId,
    /// Service or job (for the message).
    pub kind: DeploymentType,
    /// The merged, validated input.
    pub input: &'a DeploymentInput,
    /// Who asked.
    pub by: &'a str,
}

impl ResourceWrite<ApiError> for UpdateInput<'_> {
    type Row = DeploymentRecord;

    async fn write(self, conn: &mut PgConnection) -> Result<DeploymentRecord, ApiError> {
        check_image(conn, self.input).await?;
        deployments::update_input(
            conn,
            self.project.as_str(),
            self.id,
            self.input,
            Some(self.by),
        )
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("The {} `{}` was not found.", self.kind, self.id))
        })
    }
}

/// The image allow-list's check, in the deploy's transaction: 400 naming
/// `container_image` and the rule.
async fn check_image(conn: &mut PgConnection, input: &DeploymentInput) -> Result<(), ApiError> {
    match allowed_images::check(conn, &input.container_image).await? {
        Ok(()) => Ok(()),
        Err(refused) => {
            let mut errors = FieldErrors::default();
            errors.push("container_image", &refused.to_string());
            Err(errors.into())
        }
    }
}
