//! The action message: what travels on the `actions` exchange.
//!
//! It is self-contained (a worker needs nothing else to act on it, and creates
//! the action's row if it has none) and versioned, because other systems
//! publish such messages directly. The public contract is documented in
//! `docs/messages.md`; [`SCHEMA_VERSION`] changes only with a new contract.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ProjectId;
use crate::domain::action::{Action, ActionKind, InvalidAction, NetworkAction};

/// The message schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// AMQP header names contaxy sets. Tracing context travels in them so a
/// worker's spans carry the same `action_id` and `project_id` as the request.
pub mod headers {
    /// The action's id.
    pub const ACTION_ID: &str = "x-contaxy-action-id";
    /// The action's project.
    pub const PROJECT_ID: &str = "x-contaxy-project-id";
    /// The attempt about to be made (1 for the first delivery).
    pub const ATTEMPT: &str = "x-contaxy-attempt";
    /// How many times a worker gave the message back to its queue because
    /// something other than the message's data went wrong (absent: never);
    /// past `CONTAXY_WORKER_MAX_REDELIVERIES` it is dead-lettered.
    pub const REDELIVERIES: &str = "x-contaxy-redeliveries";
    /// On a dead-lettered message: why it was given up.
    pub const REASON: &str = "x-contaxy-reason";
    /// On a dead-lettered message: the error class (`transient` when retries
    /// ran out, `permanent`, `malformed`).
    pub const ERROR_CLASS: &str = "x-contaxy-error-class";
    /// On a dead-lettered message: the routing key it was first published
    /// with, so an operator can replay it.
    pub const ORIGINAL_ROUTING_KEY: &str = "x-contaxy-original-routing-key";
}

/// An action as carried by the broker, parsed: the envelope and the typed
/// [`Action`]. Its JSON form (the public contract) is [`WireMessage`].
#[derive(Debug, Clone, PartialEq)]
pub struct ActionMessage {
    /// The action's id; a repeat of the same id is the same action.
    pub action_id: Uuid,
    /// The project it acts in.
    pub project_id: String,
    /// What to do, with its parameters.
    pub action: Action,
    /// The sender's idempotency key, if it gave one.
    pub idempotency_key: Option<String>,
    /// Who asked (a token subject, or the sending system's name).
    pub requested_by: Option<String>,
}

/// The JSON form of an [`ActionMessage`], field for field as documented in
/// `docs/messages.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireMessage {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The action's id.
    pub action_id: Uuid,
    /// What to do; also the routing key.
    pub kind: ActionKind,
    /// The project it acts in.
    pub project_id: String,
    /// The resource it acts on (a deployment id, …), where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Kind-specific parameters (a JSON object).
    #[serde(default = "empty_object")]
    pub payload: serde_json::Value,
    /// The sender's idempotency key, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Why a message body is not an action message. Never retried.
#[derive(Debug, thiserror::Error)]
pub enum MalformedMessage {
    /// Not JSON, or not the schema.
    #[error("not a valid action message: {0}")]
    Invalid(#[from] serde_json::Error),
    /// A schema version this build does not read.
    #[error("unsupported schema_version {0} (this worker reads {SCHEMA_VERSION})")]
    UnsupportedVersion(u32),
    /// `payload` is not a JSON object.
    #[error("payload must be a JSON object")]
    PayloadNotObject,
    /// A field's value is out of bounds.
    #[error("{field}: {problem}")]
    BadField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The kind, resource and payload do not make an action.
    #[error("not a valid action message: {0}")]
    Action(#[from] InvalidAction),
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("the message is {0} bytes long; at most {MAX_MESSAGE_BYTES} are read")]
    TooLarge(usize),
}

/// The longest message body a worker reads. The API never sends more (its
/// request bodies are smaller); a bigger message from another producer is
/// dead-lettered unread.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

impl ActionMessage {
    /// Reads and checks a message body, once: what comes out is typed.
    pub fn parse(body: &[u8]) -> Result<Self, MalformedMessage> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(MalformedMessage::TooLarge(body.len()));
        }
        Self::from_wire(serde_json::from_slice(body)?)
    }

    /// Checks a message's JSON form and types its action.
    pub fn from_wire(wire: WireMessage) -> Result<Self, MalformedMessage> {
        if wire.schema_version != SCHEMA_VERSION {
            return Err(MalformedMessage::UnsupportedVersion(wire.schema_version));
        }
        if !wire.payload.is_object() {
            return Err(MalformedMessage::PayloadNotObject);
        }
        if let Err(invalid) = ProjectId::parse(&wire.project_id) {
            return Err(MalformedMessage::BadField {
                field: "project_id",
                problem: invalid.reason.to_owned(),
            });
        }
        if let Some(key) = &wire.idempotency_key
            && (key.is_empty() || key.len() > 255)
        {
            return Err(MalformedMessage::BadField {
                field: "idempotency_key",
                problem: "must be 1 to 255 characters".to_owned(),
            });
        }
        let action = Action::parse(wire.kind, wire.resource_id.as_deref(), &wire.payload)?;
        check_deployment_ids(&action)?;
        Ok(Self {
            action_id: wire.action_id,
            project_id: wire.project_id,
            action,
            idempotency_key: wire.idempotency_key,
            requested_by: wire.requested_by,
        })
    }

    /// What to do, by wire name; also the routing key.
    pub fn kind(&self) -> ActionKind {
        self.action.kind()
    }

    /// Its JSON form.
    pub fn to_wire(&self) -> WireMessage {
        WireMessage {
            schema_version: SCHEMA_VERSION,
            action_id: self.action_id,
            kind: self.action.kind(),
            project_id: self.project_id.clone(),
            resource_id: self.action.resource_id().map(str::to_owned),
            payload: self.action.payload(),
            idempotency_key: self.idempotency_key.clone(),
            requested_by: self.requested_by.clone(),
        }
    }

    /// The JSON body.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_wire()).expect("an action message always serializes")
    }

    /// The id found in a body that failed to parse, if any, so its row can
    /// be marked failed.
    pub fn salvage_action_id(body: &[u8]) -> Option<Uuid> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        value.get("action_id")?.as_str()?.parse().ok()
    }
}

/// A deployment id as the API makes them ([`crate::domain::deployment::deployment_id`]):
/// 1–63 lower-case letters, digits and `-`, starting and ending with a letter or
/// digit (a container name and a DNS label).
fn is_deployment_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// Refuses deployment ids another producer could not have got from the API.
fn check_deployment_ids(action: &Action) -> Result<(), MalformedMessage> {
    let (field, id) = match action {
        Action::Deployment { deployment_id, .. } => ("resource_id", deployment_id.as_str()),
        Action::Network(NetworkAction::Connect(p) | NetworkAction::Disconnect(p)) => {
            ("payload.deployment_id", p.deployment_id.as_str())
        }
        _ => return Ok(()),
    };
    if is_deployment_id(id) {
        Ok(())
    } else {
        Err(MalformedMessage::BadField {
            field,
            problem: "must be a deployment id: 1 to 63 lower-case letters, digits or '-', \
                      starting and ending with a letter or digit"
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&value).expect("json")
    }

    #[test]
    fn a_minimal_message_parses_with_defaults() {
        let id = Uuid::new_v4();
        let message = ActionMessage::parse(&body(json!({
            "schema_version": 1, "action_id": id, "kind": "deployment.stop",
            "project_id": "demo", "resource_id": "ctxy-p-demo-j-x"
        })))
        .expect("valid");
        assert_eq!(message.action_id, id);
        assert_eq!(message.kind(), ActionKind::DeploymentStop);
        assert_eq!(message.action.resource_id(), Some("ctxy-p-demo-j-x"));
        assert_eq!(
            ActionMessage::parse(&message.to_body()).expect("round trip"),
            message
        );
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        let id = Uuid::new_v4();
        let cases = [
            (b"not json".to_vec(), "not a valid action message"),
            (
                body(
                    json!({"schema_version": 2, "action_id": id, "kind": "deployment.deploy", "project_id": "demo"}),
                ),
                "unsupported schema_version 2",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.explode", "project_id": "demo"}),
                ),
                "unknown variant",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": "nope", "kind": "deployment.deploy", "project_id": "demo"}),
                ),
                "UUID",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.deploy", "project_id": "demo", "surprise": 1}),
                ),
                "unknown field",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.deploy", "project_id": "demo", "payload": [1]}),
                ),
                "payload must be a JSON object",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.deploy", "project_id": ""}),
                ),
                "project_id",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.deploy", "project_id": "demo", "resource_id": "d"}),
                ),
                "payload of deployment.deploy",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.stop", "project_id": "demo"}),
                ),
                "needs resource_id",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.stop", "project_id": "demo", "resource_id": "x".repeat(MAX_MESSAGE_BYTES)}),
                ),
                "at most 1048576 are read",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.stop", "project_id": "Demo_Project"}),
                ),
                "project_id",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.stop", "project_id": "demo", "resource_id": "Web.Server"}),
                ),
                "resource_id: must be a deployment id",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "deployment.stop", "project_id": "demo", "resource_id": "x".repeat(200)}),
                ),
                "resource_id: must be a deployment id",
            ),
            (
                body(
                    json!({"schema_version": 1, "action_id": id, "kind": "network.connect", "project_id": "demo", "payload": {"deployment_id": "-bad"}}),
                ),
                "payload.deployment_id",
            ),
        ];
        for (input, expected) in cases {
            let error = ActionMessage::parse(&input)
                .expect_err("must be refused")
                .to_string();
            assert!(
                error.contains(expected),
                "{error} should mention {expected}"
            );
        }
    }

    #[test]
    fn the_id_of_a_bad_message_can_be_salvaged() {
        let id = Uuid::new_v4();
        let bad = body(json!({"schema_version": 9, "action_id": id}));
        assert_eq!(ActionMessage::salvage_action_id(&bad), Some(id));
        assert_eq!(ActionMessage::salvage_action_id(b"garbage"), None);
    }
}
