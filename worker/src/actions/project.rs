//! `project.delete`: removes a project and everything it owns, in an order
//! that can be repeated from the start after a failure at any step:
//!
//! 1. marks it as being deleted (the API already has; a message from
//!    another system may not have), so nothing new is made in it;
//! 2. removes its deployments: every container the runtime has for it and
//!    every one the database knows, with their volumes, then their rows;
//!    then every volume left with its label (those of deployments deleted
//!    earlier with `delete_volumes=false`);
//! 3. removes its network and returns the subnet to the pool;
//! 4. removes its storage: every object, version and delete marker, and
//!    its bucket (the same code as `file.delete_storage`); storage that is
//!    away fails the attempt transiently, so the project stays `deleting`
//!    and the action is retried;
//! 5. removes its tokens, its members and finally its row, only once all of
//!    the above succeeded, so a later project with the same id finds none
//!    of the old one's files.
//!
//! Its actions are kept: their record outlives the project.

use std::collections::BTreeSet;

use contaxy_common::domain::action::ProjectAction;
use contaxy_common::domain::deployment::DeploymentType;
use contaxy_common::message::ActionMessage;
use contaxy_common::store::{deployments, projects};
use serde::Serialize;

use super::file::delete_storage;
use super::network::delete_project_network;
use super::with_retries;
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::runtime::{DeleteOptions, DeploymentRef, RuntimeError};

/// What deleting a project removed: the action's `result`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProjectReport {
    /// Deployments removed.
    pub deployments: usize,
    /// Volumes that outlived their deployment, removed.
    pub volumes: usize,
    /// Object versions and delete markers removed from its storage.
    pub file_versions_deleted: u64,
    /// Whether its bucket was removed by this attempt.
    pub bucket_deleted: bool,
}

impl ProjectReport {
    /// As the action's `result`.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
}

/// Executes one `project.*` action.
pub async fn execute(
    ctx: &ActionContext,
    message: &ActionMessage,
    action: &ProjectAction,
) -> Result<ProjectReport, ActionError> {
    match action {
        ProjectAction::Delete => delete(ctx, &message.project_id).await,
    }
}

async fn delete(ctx: &ActionContext, project_id: &str) -> Result<ProjectReport, ActionError> {
    let existed = projects::mark_deleting(&ctx.pool, project_id).await?;
    let mut ids = BTreeSet::new();
    for deployment_type in [DeploymentType::Service, DeploymentType::Job] {
        for record in deployments::list(&ctx.pool, project_id, deployment_type).await? {
            ids.insert(record.id);
        }
    }
    for state in with_retries(|| ctx.runtime.list(Some(project_id))).await? {
        ids.insert(state.deployment_id);
    }
    let options = DeleteOptions {
        delete_volumes: true,
    };
    for id in &ids {
        let target = DeploymentRef::new(project_id, id);
        with_retries(|| ctx.runtime.delete(&target, options)).await?;
        deployments::delete(&ctx.pool, project_id, id).await?;
    }
    let volumes = remove_project_volumes(ctx, project_id).await?;
    delete_project_network(ctx, project_id).await?;
    let storage = delete_storage(ctx, project_id).await?;
    projects::remove(&ctx.pool, project_id).await?;
    tracing::info!(
        project_id,
        deployments = ids.len(),
        volumes,
        file_versions = storage.versions,
        existed,
        "Deleted the project and everything it owned."
    );
    Ok(ProjectReport {
        deployments: ids.len(),
        volumes,
        file_versions_deleted: storage.versions,
        bucket_deleted: storage.bucket,
    })
}

/// Removes every volume still carrying the project's label, whatever
/// deployment or incarnation made it; its containers are gone by now.
async fn remove_project_volumes(
    ctx: &ActionContext,
    project_id: &str,
) -> Result<usize, ActionError> {
    let volumes = with_retries(|| ctx.runtime.list_volumes(Some(project_id))).await?;
    for volume in &volumes {
        if !with_retries(|| ctx.runtime.remove_volume(&volume.name)).await? {
            return Err(RuntimeError::Conflict {
                operation: "remove volume",
                message: format!("volume {} is still in use", volume.name),
            }
            .into());
        }
    }
    Ok(volumes.len())
}
