//! A deployment as the API shows it: contaxy's `Service` / `Job` shape, the
//! recorded input's fields plus the ones the platform keeps.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use contaxy_common::domain::action::ActionStatus;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentStatus, DeploymentType};
use contaxy_common::store::actions::ActionRecord;
use contaxy_common::store::deployments::DeploymentRecord;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routes::schema;
use crate::state::AppState;

/// A service or job: the input it was deployed with (jobs have no
/// `idle_timeout` or `clear_volume_on_stop`; they are `null`) and what the
/// platform keeps about it. Where contaxy's models have a default instead
/// of `null`, the answer has that default: `description` is `""` when none
/// was given, a service's `clear_volume_on_stop` is `false` (contaxy's
/// `Service` and `Job` refuse `null` there). Answers to a change also carry the action's
/// `action_id`, `action_status` and, once it failed, `action_error`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deployment {
    /// The input it was deployed with.
    #[serde(flatten)]
    #[schema(value_type = DeployedInput)]
    pub input: DeploymentInput,
    /// Its id (also its container's name).
    pub id: String,
    /// Its id again, as contaxy named it.
    pub internal_id: String,
    /// Its project.
    pub project_id: String,
    /// `service` or `job`.
    #[schema(schema_with = schema::deployment_type)]
    pub deployment_type: DeploymentType,
    /// Where it stands.
    #[schema(schema_with = schema::deployment_status)]
    pub status: DeploymentStatus,
    /// Why it is in that status, when there is more to say.
    pub status_detail: Option<String>,
    /// A finished container's exit code.
    pub exit_code: Option<i32>,
    /// Whether it will not change status on its own any more.
    pub is_stopped: bool,
    /// When its container last started.
    pub started_at: Option<DateTime<Utc>>,
    /// When its container last stopped.
    pub stopped_at: Option<DateTime<Utc>>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Who recorded it.
    pub created_by: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// When it was last reached through the API, or reported accessed
    /// (`…:update-service-access`): what a service's `idle_timeout` counts
    /// from.
    pub last_access_time: Option<DateTime<Utc>>,
    /// The action this answer is about (answers to changes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<Uuid>,
    /// Where that action stands (answers to changes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::action_status)]
    pub action_status: Option<ActionStatus>,
    /// Why that action failed, once it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_error: Option<String>,
}

/// The input a deployment was deployed with, as recorded: the fields of
/// `ServiceInput`, without the limits a new input must meet (it met them
/// when it was accepted; where the API counts bytes, the document's limits
/// are stricter than the API's). Jobs have `idle_timeout` and
/// `clear_volume_on_stop` `null`.
#[derive(Debug, ToSchema)]
pub struct DeployedInput {
    /// The image it runs.
    pub container_image: String,
    /// Its human name.
    pub display_name: Option<String>,
    /// Free text; `""` when none was given.
    pub description: String,
    /// An icon name or URL.
    pub icon: Option<String>,
    /// Free-form labels, plus the platform's (`ctxy.namespace`,
    /// `ctxy.projectName`, `ctxy.deploymentId`, `ctxy.deploymentType`,
    /// `ctxy.displayName`, `ctxy.endpoints`, `ctxy.createdBy`), as on its
    /// container.
    pub metadata: BTreeMap<String, String>,
    /// Recorded but not deployed.
    pub disabled: bool,
    /// Environment variables of the container.
    pub parameters: BTreeMap<String, String>,
    /// The ENTRYPOINT override.
    pub command: Option<Vec<String>>,
    /// The CMD override.
    pub args: Option<Vec<String>>,
    /// Requirement tags.
    pub requirements: Vec<String>,
    /// Ports it serves.
    pub endpoints: Vec<String>,
    /// Resources.
    pub compute: DeployedCompute,
    /// Services: idle seconds before it is stopped.
    pub idle_timeout: Option<u64>,
    /// Services: whether the volume is emptied when stopped (`false`
    /// unless given); jobs: `null`.
    pub clear_volume_on_stop: Option<bool>,
    /// Jobs, when given: seconds it may run once started.
    #[schema(required = false)]
    pub deadline_seconds: Option<u64>,
    /// Jobs, when given: seconds its container is kept once it finished.
    #[schema(required = false)]
    pub ttl_seconds_after_finished: Option<u64>,
}

/// The resources a deployment was deployed with (`compute` of `ServiceInput`).
#[derive(Debug, ToSchema)]
pub struct DeployedCompute {
    /// Cores the host must have.
    pub min_cpus: f64,
    /// CPU limit.
    pub max_cpus: Option<f64>,
    /// Memory the host must have, MB.
    pub min_memory: u64,
    /// Memory limit, MB.
    pub max_memory: Option<u64>,
    /// GPUs it needs.
    pub min_gpus: Option<u32>,
    /// GPUs at most.
    pub max_gpus: Option<u32>,
    /// Where its volume is mounted.
    pub volume_path: Option<String>,
    /// Volume size limit, MB.
    pub max_volume_size: Option<u64>,
    /// Writable-layer size limit, MB.
    pub max_container_size: Option<u64>,
    /// Replicas at most.
    pub max_replicas: u32,
    /// Seconds it must live before cleanup may stop it.
    pub min_lifetime: u64,
}

impl Deployment {
    /// The deployment as `state`'s clients are answered: with
    /// `CONTAXY_API_CONTAXY_STATUSES`, a status contaxy's enum lacks
    /// (`cancelled`) is shown as contaxy's nearest (`stopped`).
    pub fn answer(
        state: &AppState,
        record: DeploymentRecord,
        action: Option<&ActionRecord>,
    ) -> Self {
        let mut shown = Self::new(record, action);
        if state.contaxy_statuses && shown.status == DeploymentStatus::Cancelled {
            shown.status = DeploymentStatus::Stopped;
        }
        shown
    }

    /// The deployment `record`, with `action` when the answer is about one.
    pub fn new(record: DeploymentRecord, action: Option<&ActionRecord>) -> Self {
        let mut input = with_contaxy_defaults(record.input.0.clone(), record.deployment_type);
        input.metadata.extend(system_labels(&record));
        // Templates as the container got them, once a worker deployed it
        // (a value changed since, by a PATCH not yet deployed, as given).
        if let Some(expanded) = &record.expanded_parameters {
            for (key, value) in &mut input.parameters {
                if value.contains("{env.")
                    && let Some(as_deployed) = expanded.0.get(key)
                {
                    value.clone_from(as_deployed);
                }
            }
        }
        Self {
            input,
            // The runtime's id once deployed (a container id on Docker).
            internal_id: record
                .internal_id
                .clone()
                .unwrap_or_else(|| record.id.clone()),
            id: record.id,
            project_id: record.project_id,
            deployment_type: record.deployment_type,
            is_stopped: record.status.is_final(),
            status: record.status,
            status_detail: record.status_detail,
            exit_code: record.exit_code,
            started_at: record.started_at,
            stopped_at: record.stopped_at,
            created_at: record.created_at,
            created_by: record.created_by,
            updated_at: record.updated_at,
            updated_by: record.updated_by,
            last_access_time: record.last_access_at,
            action_id: action.map(|a| a.id),
            action_status: action.map(|a| a.status),
            action_error: action.and_then(|a| a.last_error.clone()),
        }
    }
}

/// The platform's labels of a deployment, as its container carries them
/// and contaxy returns them in `metadata` (a client cannot set them: they
/// are dropped from inputs).
fn system_labels(record: &DeploymentRecord) -> BTreeMap<String, String> {
    let marker = format!("-p-{}--", record.project_id);
    let namespace = record
        .id
        .split_once(&marker)
        .map(|(namespace, _)| namespace.to_owned())
        .unwrap_or_default();
    BTreeMap::from([
        ("ctxy.namespace".to_owned(), namespace),
        ("ctxy.projectName".to_owned(), record.project_id.clone()),
        ("ctxy.deploymentId".to_owned(), record.id.clone()),
        (
            "ctxy.deploymentType".to_owned(),
            record.deployment_type.as_str().to_owned(),
        ),
        ("ctxy.displayName".to_owned(), record.display_name.clone()),
        (
            "ctxy.endpoints".to_owned(),
            record.input.endpoints.join(","),
        ),
        (
            "ctxy.createdBy".to_owned(),
            record.created_by.clone().unwrap_or_default(),
        ),
    ])
}

/// `input` with contaxy's defaults where it has none: contaxy's models
/// refuse `null` for `description` and a service's `clear_volume_on_stop`.
fn with_contaxy_defaults(mut input: DeploymentInput, kind: DeploymentType) -> DeploymentInput {
    input.description.get_or_insert_with(String::new);
    if kind == DeploymentType::Service {
        input.clear_volume_on_stop.get_or_insert(false);
    }
    input
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use contaxy_common::domain::action::ActionOrigin;
    use serde_json::{Value, json};
    use sqlx::types::Json;

    use super::*;

    fn record() -> DeploymentRecord {
        let at = Utc
            .with_ymd_and_hms(2030, 1, 2, 3, 4, 5)
            .single()
            .expect("time");
        DeploymentRecord {
            id: "ctxy-p-demo--s-web".to_owned(),
            project_id: "demo".to_owned(),
            deployment_type: DeploymentType::Service,
            display_name: "web".to_owned(),
            input: Json(DeploymentInput {
                container_image: "nginx:1".to_owned(),
                display_name: Some("web".to_owned()),
                endpoints: vec!["80".to_owned()],
                ..DeploymentInput::default()
            }),
            status: DeploymentStatus::Running,
            exit_code: None,
            status_detail: None,
            created_at: at,
            created_by: Some("users/admin".to_owned()),
            updated_at: at,
            updated_by: None,
            started_at: Some(at),
            stopped_at: None,
            deadline_at: None,
            archived_at: None,
            last_access_at: None,
            deleting_since: None,
            internal_id: None,
            expanded_parameters: None,
        }
    }

    /// What the API answered before the response was a type: the input
    /// serialized, extended with the platform's fields.
    fn as_before(record: &DeploymentRecord, action: Option<&ActionRecord>) -> Value {
        let mut out = serde_json::to_value(&record.input.0).expect("JSON");
        // contaxy's defaults where the input has none.
        out["description"] = json!(record.input.0.description.clone().unwrap_or_default());
        if record.deployment_type == DeploymentType::Service {
            out["clear_volume_on_stop"] =
                json!(record.input.0.clear_volume_on_stop.unwrap_or(false));
        }
        // The platform's labels, in metadata.
        for (key, value) in system_labels(record) {
            out["metadata"][key] = json!(value);
        }
        let extra = json!({
            "id": record.id, "internal_id": record.id, "project_id": record.project_id,
            "deployment_type": record.deployment_type, "status": record.status,
            "status_detail": record.status_detail, "exit_code": record.exit_code,
            "is_stopped": record.status.is_final(), "started_at": record.started_at,
            "stopped_at": record.stopped_at, "created_at": record.created_at,
            "created_by": record.created_by, "updated_at": record.updated_at,
            "updated_by": record.updated_by, "last_access_time": record.last_access_at,
        });
        let (Value::Object(map), Value::Object(extra)) = (&mut out, extra) else {
            panic!("objects")
        };
        map.extend(extra);
        if let Some(action) = action {
            map.insert("action_id".to_owned(), json!(action.id));
            map.insert("action_status".to_owned(), json!(action.status));
            if let Some(error) = &action.last_error {
                map.insert("action_error".to_owned(), json!(error));
            }
        }
        out
    }

    #[test]
    fn the_answer_schema_names_exactly_the_fields_of_deployment_input() {
        use utoipa::PartialSchema;
        let keys = |value: &Value| {
            value
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        let input = serde_json::to_value(DeploymentInput {
            deadline_seconds: Some(1),
            ttl_seconds_after_finished: Some(1),
            ..DeploymentInput::default()
        })
        .expect("JSON");
        let schema = serde_json::to_value(DeployedInput::schema()).expect("schema");
        assert_eq!(keys(&schema["properties"]), keys(&input));
        let compute = serde_json::to_value(DeployedCompute::schema()).expect("schema");
        assert_eq!(keys(&compute["properties"]), keys(&input["compute"]));
    }

    #[test]
    fn the_typed_answer_is_the_hand_built_one() {
        let at = Utc::now();
        let mut action = ActionRecord {
            id: Uuid::now_v7(),
            project_id: "demo".to_owned(),
            kind: "deployment.deploy".to_owned(),
            resource_id: Some("ctxy-p-demo--s-web".to_owned()),
            payload: json!({}),
            status: ActionStatus::Queued,
            attempts: 0,
            last_error: None,
            error_class: None,
            idempotency_key: None,
            requested_by: None,
            origin: ActionOrigin::Api,
            published_at: None,
            created_at: at,
            updated_at: at,
            started_at: None,
            finished_at: None,
            result: None,
            broker_user: None,
            replays: 0,
            replayed_at: None,
            replayed_by: None,
        };
        let typed = |action: Option<&ActionRecord>| {
            serde_json::to_value(Deployment::new(record(), action)).expect("JSON")
        };
        assert_eq!(typed(None), as_before(&record(), None));
        assert_eq!(typed(Some(&action)), as_before(&record(), Some(&action)));
        action.status = ActionStatus::Failed;
        action.last_error = Some("image not found".to_owned());
        assert_eq!(typed(Some(&action)), as_before(&record(), Some(&action)));
    }
}
