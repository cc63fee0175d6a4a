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
    /// Archive the container's logs to the project's object storage first
    /// ([`crate::storage::logs_archive`]) and keep the deployment's row, marked
    /// archived: what the finished-job TTL cleanup asks for, so that the
    /// job's record and logs still answer once its container is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archive_logs: bool,
}

/// `deployment.cancel`: stop a job that has not finished and say why. A
/// job that already finished stays as it was (the action is a no-op).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelPayload {
    /// Why it is stopped.
    #[serde(default)]
    pub reason: CancelReason,
}

/// Why a job is cancelled, hence the status it ends in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A client asked (`POST …/jobs/{id}:cancel`): it ends `cancelled`.
    #[default]
    Requested,
    /// It ran past its `deadline_seconds`: it ends `failed`, with the
    /// deadline as its reason.
    Deadline,
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

/// `network.ensure` and `network.delete` act on the action's project and
/// take no parameters; the payload is an empty object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPayload {}

/// `network.connect` and `network.disconnect`: which deployment of the
/// action's project to attach to, or detach from, the project's network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAttachmentPayload {
    /// The deployment (its id is also its container's name).
    pub deployment_id: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn network_payloads_name_what_they_need_and_nothing_else() {
        let attach: NetworkAttachmentPayload =
            serde_json::from_value(json!({"deployment_id": "ns-p-demo-s-web"})).expect("valid");
        assert_eq!(attach.deployment_id, "ns-p-demo-s-web");
        assert!(serde_json::from_value::<NetworkAttachmentPayload>(json!({})).is_err());
        assert!(
            serde_json::from_value::<NetworkAttachmentPayload>(
                json!({"deployment_id": "x", "extra": 1})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<NetworkPayload>(json!({})).is_ok());
        assert!(
            serde_json::from_value::<NetworkPayload>(json!({"subnet": "10.0.0.0/24"})).is_err()
        );
    }
}
