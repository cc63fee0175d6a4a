//! Docker container states as deployment statuses and states (pure).

use bollard::models::{ContainerInspectResponse, ContainerSummary};
use chrono::{DateTime, Utc};

use super::labels;
use crate::runtime::spec::DeploymentType;
use crate::runtime::state::{DeploymentState, DeploymentStatus};

/// contaxy's mapping, with the states it left as unknown made explicit:
/// created → pending, running → running, exited 0 → succeeded, exited ≠ 0 →
/// failed. A container restarting after a crash is pending again; one being
/// removed is terminating; a dead one (removal failed) is failed.
pub fn status_from_docker(state: &str, exit_code: Option<i64>) -> DeploymentStatus {
    match state {
        "created" | "restarting" => DeploymentStatus::Pending,
        "running" => DeploymentStatus::Running,
        "exited" if exit_code == Some(0) => DeploymentStatus::Succeeded,
        "exited" | "dead" => DeploymentStatus::Failed,
        "removing" | "stopping" => DeploymentStatus::Terminating,
        _ => DeploymentStatus::Unknown,
    }
}

/// The exit code in a container list's status text, `Exited (3) 2 minutes
/// ago`: listing does not return it otherwise, and inspecting every
/// container of a list would cost one request each.
pub fn exit_code_from_status_text(text: &str) -> Option<i64> {
    let rest = text.strip_prefix("Exited (")?;
    let (code, _) = rest.split_once(')')?;
    code.parse().ok()
}

/// Docker's RFC 3339 times; its "never" (`0001-01-01T00:00:00Z`) is `None`.
pub fn parse_time(value: Option<&str>) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(value?)
        .ok()?
        .with_timezone(&Utc);
    (time.timestamp() > 0).then_some(time)
}

/// The state of a container we manage, from its inspection. `None` when it
/// lacks our labels.
pub fn state_from_inspect(container: &ContainerInspectResponse) -> Option<DeploymentState> {
    let config_labels = container.config.as_ref()?.labels.as_ref()?;
    let label = |key: &str| config_labels.get(key).cloned();
    let state = container.state.as_ref();
    let docker_state = state
        .and_then(|s| s.status.as_ref())
        .map_or("", AsRef::as_ref);
    let running = state.and_then(|s| s.running).unwrap_or(false);
    let exit_code = state
        .and_then(|s| s.exit_code)
        .filter(|_| matches!(docker_state, "exited" | "dead"));
    let oom_killed = state.and_then(|s| s.oom_killed).unwrap_or(false);
    let error = state
        .and_then(|s| s.error.clone())
        .filter(|e| !e.is_empty());
    let reason = if oom_killed && !running {
        Some("out of memory".to_owned())
    } else {
        error
    };
    Some(DeploymentState {
        project_id: label(labels::PROJECT)?,
        deployment_id: label(labels::DEPLOYMENT_ID)?,
        kind: DeploymentType::parse(&label(labels::DEPLOYMENT_TYPE)?)?,
        display_name: label(labels::DISPLAY_NAME).unwrap_or_default(),
        status: status_from_docker(docker_state, exit_code),
        exit_code,
        reason,
        internal_id: container.id.clone().unwrap_or_default(),
        created_at: parse_time(container.created.as_deref()),
        started_at: parse_time(state.and_then(|s| s.started_at.as_deref())),
        finished_at: parse_time(state.and_then(|s| s.finished_at.as_deref())).filter(|_| !running),
    })
}

/// The state of a listed container we manage. Listing carries no start or
/// finish times. `None` when it lacks our labels.
pub fn state_from_summary(container: &ContainerSummary) -> Option<DeploymentState> {
    let summary_labels = container.labels.as_ref()?;
    let label = |key: &str| summary_labels.get(key).cloned();
    let docker_state = container.state.as_ref().map_or("", AsRef::as_ref);
    let exit_code = container
        .status
        .as_deref()
        .and_then(exit_code_from_status_text);
    Some(DeploymentState {
        project_id: label(labels::PROJECT)?,
        deployment_id: label(labels::DEPLOYMENT_ID)?,
        kind: DeploymentType::parse(&label(labels::DEPLOYMENT_TYPE)?)?,
        display_name: label(labels::DISPLAY_NAME).unwrap_or_default(),
        status: status_from_docker(docker_state, exit_code),
        exit_code,
        reason: None,
        internal_id: container.id.clone().unwrap_or_default(),
        created_at: container
            .created
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
        started_at: None,
        finished_at: None,
    })
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
