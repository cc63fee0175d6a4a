//! Actions: every change to the world is one. Recorded in PostgreSQL first,
//! then carried by the broker to a worker.
//!
//! An action travels as a wire name (`deployment.deploy`) and a JSON payload;
//! [`Action::parse`] turns the two into one typed value at the edge, and that
//! value, not a string, travels on. Each family has an enum of its own, so a
//! family's executor matches exactly its own actions. Adding a family means
//! one [`Action`] variant, one enum, one module in the worker.
//!
//! - [`kind`]: [`ActionKind`] (the wire names) and [`ActionFamily`].
//! - [`file`]: [`FileAction`], the `file.*` family.
//! - [`status`]: [`ActionStatus`], [`ErrorClass`], [`ActionOrigin`].

pub mod file;
pub mod kind;
pub mod status;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use file::FileAction;
pub use kind::{ActionFamily, ActionKind, UnknownActionKind};
pub use status::{ActionOrigin, ActionStatus, ErrorClass};

use super::payload::{
    CancelPayload, DeletePayload, DeployPayload, InvalidFilePayload, NetworkAttachmentPayload,
    NetworkPayload, RestartPayload,
};

/// What an action does, with its parameters: one variant per family.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Acts on one deployment (service or job) of the project.
    Deployment {
        /// The deployment (its id is also its container's name); the
        /// message's `resource_id`.
        deployment_id: String,
        /// What to do with it.
        action: DeploymentAction,
    },
    /// Acts on the project's network.
    Network(NetworkAction),
    /// Acts on the project's files.
    File(FileAction),
    /// Acts on the project itself.
    Project(ProjectAction),
}

/// `deployment.*`.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentAction {
    /// Create (or adopt) its container.
    Deploy(Box<DeployPayload>),
    /// Remove its container (and volume when asked), then its record.
    Delete(DeletePayload),
    /// Start it when stopped.
    Start,
    /// Stop it when running.
    Stop,
    /// Restart it, or make it anew from its recorded input.
    Restart(RestartPayload),
    /// Stop a job that has not finished, and record why.
    Cancel(CancelPayload),
}

/// `network.*`: the project's network.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkAction {
    /// Create it if missing.
    Ensure,
    /// Remove it and free its subnet.
    Delete,
    /// Attach a deployment to it.
    Connect(NetworkAttachmentPayload),
    /// Detach a deployment from it.
    Disconnect(NetworkAttachmentPayload),
}

/// `project.*`.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectAction {
    /// Remove the project and everything it owns.
    Delete,
}

/// Why a kind, resource and payload do not make an action.
#[derive(Debug, thiserror::Error)]
pub enum InvalidAction {
    /// `deployment.*` names no deployment.
    #[error("{kind} needs resource_id (the deployment id)")]
    MissingResource {
        /// The kind.
        kind: ActionKind,
    },
    /// The payload is not the kind's.
    #[error("payload of {kind}: {source}")]
    Payload {
        /// The kind.
        kind: ActionKind,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A file payload that reads well but breaks a rule.
    #[error("payload of {kind}: {problem}")]
    File {
        /// The kind.
        kind: ActionKind,
        /// The rule.
        #[source]
        problem: InvalidFilePayload,
    },
    /// A kind handed to another family's parser (a bug, never a message's
    /// fault, yet not worth a panic).
    #[error("{kind} is not a {} action", family.as_str())]
    NotOfFamily {
        /// The kind.
        kind: ActionKind,
        /// The family it was taken for.
        family: ActionFamily,
    },
}

impl Action {
    /// The action a kind, a resource and a payload describe. Start, stop and
    /// project deletion take no parameters and ignore what a payload holds;
    /// the network kinds refuse unknown fields.
    pub fn parse(
        kind: ActionKind,
        resource_id: Option<&str>,
        payload: &serde_json::Value,
    ) -> Result<Self, InvalidAction> {
        let deployment = |action: DeploymentAction| {
            let deployment_id = resource_id
                .ok_or(InvalidAction::MissingResource { kind })?
                .to_owned();
            Ok(Self::Deployment {
                deployment_id,
                action,
            })
        };
        match kind {
            ActionKind::DeploymentDeploy => deployment(DeploymentAction::Deploy(Box::new(
                payload_of(kind, payload)?,
            ))),
            ActionKind::DeploymentDelete => {
                deployment(DeploymentAction::Delete(payload_of(kind, payload)?))
            }
            ActionKind::DeploymentStart => deployment(DeploymentAction::Start),
            ActionKind::DeploymentStop => deployment(DeploymentAction::Stop),
            ActionKind::DeploymentRestart => {
                deployment(DeploymentAction::Restart(payload_of(kind, payload)?))
            }
            ActionKind::DeploymentCancel => {
                deployment(DeploymentAction::Cancel(payload_of(kind, payload)?))
            }
            ActionKind::NetworkEnsure => {
                payload_of::<NetworkPayload>(kind, payload)?;
                Ok(Self::Network(NetworkAction::Ensure))
            }
            ActionKind::NetworkDelete => {
                payload_of::<NetworkPayload>(kind, payload)?;
                Ok(Self::Network(NetworkAction::Delete))
            }
            ActionKind::NetworkConnect => Ok(Self::Network(NetworkAction::Connect(payload_of(
                kind, payload,
            )?))),
            ActionKind::NetworkDisconnect => Ok(Self::Network(NetworkAction::Disconnect(
                payload_of(kind, payload)?,
            ))),
            ActionKind::FileDelete
            | ActionKind::FileDeleteByDate
            | ActionKind::FileCopy
            | ActionKind::FileMove
            | ActionKind::FileDeleteStorage => FileAction::parse(kind, payload).map(Self::File),
            ActionKind::ProjectDelete => Ok(Self::Project(ProjectAction::Delete)),
        }
    }

    /// Its wire name, also its routing key.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Deployment { action, .. } => match action {
                DeploymentAction::Deploy(_) => ActionKind::DeploymentDeploy,
                DeploymentAction::Delete(_) => ActionKind::DeploymentDelete,
                DeploymentAction::Start => ActionKind::DeploymentStart,
                DeploymentAction::Stop => ActionKind::DeploymentStop,
                DeploymentAction::Restart(_) => ActionKind::DeploymentRestart,
                DeploymentAction::Cancel(_) => ActionKind::DeploymentCancel,
            },
            Self::Network(action) => match action {
                NetworkAction::Ensure => ActionKind::NetworkEnsure,
                NetworkAction::Delete => ActionKind::NetworkDelete,
                NetworkAction::Connect(_) => ActionKind::NetworkConnect,
                NetworkAction::Disconnect(_) => ActionKind::NetworkDisconnect,
            },
            Self::File(action) => action.kind(),
            Self::Project(ProjectAction::Delete) => ActionKind::ProjectDelete,
        }
    }

    /// The resource it acts on, where there is one (the message's
    /// `resource_id`).
    pub fn resource_id(&self) -> Option<&str> {
        match self {
            Self::Deployment { deployment_id, .. } => Some(deployment_id),
            Self::Network(_) | Self::File(_) | Self::Project(_) => None,
        }
    }

    /// Its parameters as the wire carries them (a JSON object).
    pub fn payload(&self) -> serde_json::Value {
        let empty = || serde_json::Value::Object(serde_json::Map::new());
        match self {
            Self::Deployment { action, .. } => match action {
                DeploymentAction::Deploy(payload) => to_json(payload),
                DeploymentAction::Delete(payload) => to_json(payload),
                DeploymentAction::Restart(payload) => to_json(payload),
                DeploymentAction::Cancel(payload) => to_json(payload),
                DeploymentAction::Start | DeploymentAction::Stop => empty(),
            },
            Self::Network(action) => match action {
                NetworkAction::Connect(payload) | NetworkAction::Disconnect(payload) => {
                    to_json(payload)
                }
                NetworkAction::Ensure | NetworkAction::Delete => empty(),
            },
            Self::File(action) => action.payload(),
            Self::Project(ProjectAction::Delete) => empty(),
        }
    }
}

pub(crate) fn payload_of<T: DeserializeOwned>(
    kind: ActionKind,
    payload: &serde_json::Value,
) -> Result<T, InvalidAction> {
    T::deserialize(payload).map_err(|source| InvalidAction::Payload { kind, source })
}

pub(crate) fn to_json(payload: &impl Serialize) -> serde_json::Value {
    // Payloads are plain structs of strings, numbers and maps with string
    // keys: serializing them to a JSON value cannot fail.
    serde_json::to_value(payload).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample_payload(kind: ActionKind) -> serde_json::Value {
        match kind {
            ActionKind::DeploymentDeploy => json!({
                "deployment_type": "job",
                "input": {"container_image": "busybox", "display_name": "once"}
            }),
            ActionKind::DeploymentDelete => json!({"delete_volumes": true}),
            ActionKind::DeploymentRestart => json!({"recreate": true}),
            ActionKind::DeploymentCancel => json!({"reason": "deadline"}),
            ActionKind::NetworkConnect | ActionKind::NetworkDisconnect => {
                json!({"deployment_id": "ctxy-p-demo-s-web"})
            }
            ActionKind::FileDelete => {
                json!({"files": [{"key": "a/b.txt"}, {"key": "c", "version": "v1"}]})
            }
            ActionKind::FileDeleteByDate => json!({"date_from": "2026-01-01T00:00:00Z"}),
            ActionKind::FileCopy | ActionKind::FileMove => {
                json!({"source": "a.txt", "destination": "b/a.txt"})
            }
            _ => json!({}),
        }
    }

    #[test]
    fn every_kind_parses_and_writes_back_the_same_kind_resource_and_payload() {
        for kind in ActionKind::ALL {
            let resource = (kind.family() == ActionFamily::Deployment).then_some("dep");
            let action = Action::parse(kind, resource, &sample_payload(kind))
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(action.kind(), kind);
            assert_eq!(action.resource_id(), resource);
            let again = Action::parse(kind, action.resource_id(), &action.payload())
                .expect("its own payload parses");
            assert_eq!(again, action, "{kind}");
        }
    }

    #[test]
    fn a_deployment_action_needs_its_deployment() {
        let error =
            Action::parse(ActionKind::DeploymentStop, None, &json!({})).expect_err("no resource");
        assert!(error.to_string().contains("resource_id"), "{error}");
    }

    #[test]
    fn a_payload_that_is_not_the_kinds_is_refused_naming_the_kind() {
        let cases = [
            (ActionKind::DeploymentDeploy, json!({})),
            (
                ActionKind::DeploymentDelete,
                json!({"delete_volumes": "yes"}),
            ),
            (ActionKind::NetworkEnsure, json!({"subnet": "10.0.0.0/24"})),
            (ActionKind::NetworkConnect, json!({})),
            (
                ActionKind::FileDelete,
                json!({"files": [{"key": "/etc/passwd"}]}),
            ),
            (ActionKind::FileDelete, json!({"files": []})),
            (
                ActionKind::FileDeleteByDate,
                json!({"date_from": "2026-02-01T00:00:00Z", "date_to": "2026-01-01T00:00:00Z"}),
            ),
            (
                ActionKind::FileMove,
                json!({"source": "a", "destination": "a", "source_version": "v"}),
            ),
        ];
        for (kind, payload) in cases {
            let error = Action::parse(kind, Some("dep"), &payload).expect_err("refused");
            assert!(
                error.to_string().starts_with(&format!("payload of {kind}")),
                "{error}"
            );
        }
    }

    #[test]
    fn kinds_without_parameters_ignore_their_payload_where_they_always_did() {
        for kind in [ActionKind::DeploymentStart, ActionKind::ProjectDelete] {
            let action = Action::parse(kind, Some("dep"), &json!({"anything": 1})).expect("ok");
            assert_eq!(action.payload(), json!({}));
        }
    }
}
