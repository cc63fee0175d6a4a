//! One attempt of one action: the typed action picks its family's module,
//! once. Execution only reports what happened; deciding about retries is
//! [`crate::retry::decide`]'s job.

use contaxy_common::domain::action::Action;
use contaxy_common::message::ActionMessage;

use crate::actions::{deployment, network, project};
use crate::context::ActionContext;
use crate::error::ActionError;

/// Executes one attempt of the action.
pub async fn execute(ctx: &ActionContext, message: &ActionMessage) -> Result<(), ActionError> {
    match &message.action {
        Action::Deployment {
            deployment_id,
            action,
        } => deployment::execute(ctx, message, deployment_id, action).await,
        Action::Network(action) => network::execute(ctx, message, action).await,
        Action::Project(action) => project::execute(ctx, message, action).await,
    }
}
