//! Accepting an action that arrived on the broker from another system: the
//! worker records it as the API would have, through the one submit path
//! (`contaxy_common::submit::record`), with the resource row it implies, in
//! one transaction. What the API checks at its door is checked here:
//!
//! - a `deployment.deploy` records its deployment row now (not when it
//!   runs), in a project that is live, holding the project's row so that a
//!   deletion starting meanwhile waits and then finds the new row; a deploy
//!   that runs later and finds no row was overtaken by a delete, and does
//!   nothing;
//! - a new deployment must fit in the project's limits (`store::quotas`),
//!   and its image must be allowed by the image allow-list
//!   (`store::allowed_images`);
//! - `deployment.start|stop|restart` need a recorded deployment.
//!
//! A refusal keeps the action's row (it is failed with the reason, and the
//! message dead-lettered), so the producer can read why.

use contaxy_common::domain::action::{Action, DeploymentAction};
use contaxy_common::message::ActionMessage;
use contaxy_common::store::allowed_images;
use contaxy_common::store::deployments::{self, NewDeployment};
use contaxy_common::store::projects;
use contaxy_common::store::quotas::{self, QuotaError, Quotas};
use contaxy_common::submit::ResourceWrite;
use sqlx::PgConnection;

/// The resource row a broker-origin action implies.
pub(crate) struct BrokerResource<'a> {
    /// The message, as parsed.
    pub message: &'a ActionMessage,
    /// The per-tenant limits a new deployment must fit in, as at the API.
    pub quotas: &'a Quotas,
}

/// `Err(reason)`: the action is recorded but refused.
pub(crate) type Acceptance = Result<(), String>;

impl ResourceWrite<sqlx::Error> for BrokerResource<'_> {
    type Row = Acceptance;

    async fn write(self, conn: &mut PgConnection) -> Result<Acceptance, sqlx::Error> {
        let project = self.message.project_id.as_str();
        let Action::Deployment {
            deployment_id: id,
            action,
        } = &self.message.action
        else {
            return Ok(Ok(()));
        };
        match action {
            DeploymentAction::Deploy(payload) => {
                if !projects::lock_live(conn, project).await? {
                    return Ok(Err(format!(
                        "project {project} does not exist or is being deleted"
                    )));
                }
                let recorded = deployments::find(&mut *conn, project, id).await?;
                if recorded.is_some_and(|r| r.deleting_since.is_none()) {
                    // A deploy of a recorded deployment runs what is recorded
                    // (one being deleted is taken back by the insert below).
                    return Ok(Ok(()));
                }
                if let Err(errors) = payload.input.validate(payload.deployment_type) {
                    return Ok(Err(errors.to_string()));
                }
                if let Err(refused) =
                    allowed_images::check(conn, &payload.input.container_image).await?
                {
                    return Ok(Err(format!("refused: {refused}")));
                }
                match quotas::check_new_deployment(conn, self.quotas, project).await {
                    Ok(()) => {}
                    Err(QuotaError::Exceeded(exceeded)) => {
                        return Ok(Err(format!("refused: {exceeded}")));
                    }
                    Err(QuotaError::Database(error)) => return Err(error),
                }
                let new = NewDeployment {
                    id,
                    project_id: project,
                    deployment_type: payload.deployment_type,
                    input: &payload.input,
                    created_by: self.message.requested_by.as_deref(),
                };
                Ok(match deployments::insert(conn, &new).await? {
                    Some(_) => Ok(()),
                    None => Err(format!("deployment id {id} is taken by another project")),
                })
            }
            DeploymentAction::Stop => {
                Ok(match deployments::find(&mut *conn, project, id).await? {
                    Some(r) if r.deleting_since.is_none() => Ok(()),
                    Some(_) => Err(format!("deployment {id} is being deleted")),
                    None => Err(format!("project {project} has no deployment {id}")),
                })
            }
            DeploymentAction::Start | DeploymentAction::Restart(_) => {
                if deployments::find(&mut *conn, project, id).await?.is_none() {
                    return Ok(Err(format!("project {project} has no deployment {id}")));
                }
                let action_id = self.message.action_id;
                match quotas::check_start(conn, self.quotas, project, id, action_id).await {
                    Ok(()) => Ok(Ok(())),
                    Err(QuotaError::Exceeded(exceeded)) => Ok(Err(format!("refused: {exceeded}"))),
                    Err(QuotaError::Database(error)) => Err(error),
                }
            }
            // Removing what is not there is done; a cancel of a job that
            // is gone has nothing to stop.
            DeploymentAction::Delete(_) | DeploymentAction::Cancel(_) => Ok(Ok(())),
        }
    }
}
