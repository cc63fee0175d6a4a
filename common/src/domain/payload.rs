//! Kind-specific payloads of action messages. They make a message
//! self-contained: a worker can act on a `deployment.deploy` published by
//! another system without any row existing yet.

use serde::{Deserialize, Serialize};

use super::deployment::{DeploymentInput, DeploymentType};

/// `deployment.deploy`: what to deploy. The action's `resource_id` is the
/// deployment id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployPayload {
    /// Service or job.
    pub deployment_type: DeploymentType,
    /// The client's input (validated again by the worker).
    pub input: DeploymentInput,
}

/// `deployment.delete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletePayload {
    /// Also delete the deployment's volume.
    #[serde(default)]
    pub delete_volumes: bool,
}

/// `deployment.restart`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPayload {
    /// Make the container anew from the recorded input (after a change),
    /// keeping its volume; otherwise restart it as it is.
    #[serde(default)]
    pub recreate: bool,
}
