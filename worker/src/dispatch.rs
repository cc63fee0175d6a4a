//! One attempt of one action: the typed action picks its family's module,
//! once. Execution only reports what happened (and, for the families that
//! count what they did, a report for the action's `result`); deciding about
//! retries is [`crate::retry::decide`]'s job.

use contaxy_common::domain::action::Action;
use contaxy_common::message::ActionMessage;

use crate::actions::{deployment, file, network, project};
use crate::context::ActionContext;
use crate::error::ActionError;

/// What an attempt that succeeded reports (the action's `result`), if
/// anything.
pub type Report = Option<serde_json::Value>;

/// Executes one attempt of the action.
pub async fn execute(ctx: &ActionContext, message: &ActionMessage) -> Result<Report, ActionError> {
    match &message.action {
        Action::Deployment {
            deployment_id,
            action,
        } => deployment::execute(ctx, message, deployment_id, action)
            .await
            .map(|()| None),
        Action::Network(action) => network::execute(ctx, message, action).await.map(|()| None),
        Action::File(action) => file::execute(ctx, message, action)
            .await
            .map(|report| report.to_json()),
        Action::Project(action) => project::execute(ctx, message, action)
            .await
            .map(|report| report.to_json()),
    }
}
