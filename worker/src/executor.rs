//! Executing one claimed action: dispatch by kind to the family's module.
//! Execution only reports what happened; deciding about retries is
//! [`crate::retry::decide`]'s job.

use std::fmt;
use std::sync::Arc;

use contaxy_common::domain::action::{ActionKind, ErrorClass};
use contaxy_common::store::actions::ActionRecord;
use sqlx::PgPool;

use crate::actions::deployment::{self, DeploymentSettings};
use crate::actions::network::{self, NetworkSettings};
use crate::actions::project;
use crate::runtime::{Runtime, RuntimeError};

/// Why an attempt failed, classed for the retry decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ActionError {
    /// Transient (retry) or permanent (give up).
    pub class: ErrorClass,
    /// What happened, for the action's `last_error` and the dead letter.
    pub message: String,
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ActionError {
    /// Might work later.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Transient,
            message: message.into(),
        }
    }

    /// Will not work however often tried.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            message: message.into(),
        }
    }
}

impl From<RuntimeError> for ActionError {
    fn from(error: RuntimeError) -> Self {
        if error.is_retryable() {
            Self::transient(error.to_string())
        } else {
            Self::permanent(error.to_string())
        }
    }
}

impl From<sqlx::Error> for ActionError {
    fn from(error: sqlx::Error) -> Self {
        // The database being away is worth waiting for; anything else about
        // a query we wrote is not going to change by itself.
        match error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                Self::transient(format!("database unavailable: {error}"))
            }
            other => Self::permanent(format!("database error: {other}")),
        }
    }
}

/// Runs actions against the runtime and the store.
#[derive(Debug)]
pub struct Executor {
    pub(crate) pool: PgPool,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) deployment: DeploymentSettings,
    pub(crate) network: NetworkSettings,
}

impl Executor {
    /// An executor over `runtime`.
    pub fn new(
        pool: PgPool,
        runtime: Arc<dyn Runtime>,
        deployment: DeploymentSettings,
        network: NetworkSettings,
    ) -> Self {
        Self {
            pool,
            runtime,
            deployment,
            network,
        }
    }

    /// Executes one attempt of `action`.
    pub async fn execute(&self, action: &ActionRecord) -> Result<(), ActionError> {
        let kind: ActionKind = action.kind.parse().map_err(
            |e: contaxy_common::domain::action::UnknownActionKind| {
                ActionError::permanent(e.to_string())
            },
        )?;
        match kind {
            ActionKind::DeploymentDeploy
            | ActionKind::DeploymentDelete
            | ActionKind::DeploymentStart
            | ActionKind::DeploymentStop
            | ActionKind::DeploymentRestart => deployment::execute(self, kind, action).await,
            ActionKind::NetworkEnsure
            | ActionKind::NetworkDelete
            | ActionKind::NetworkConnect
            | ActionKind::NetworkDisconnect => network::execute(self, kind, action).await,
            ActionKind::ProjectDelete => project::execute(self, action).await,
        }
    }
}
