//! Deployments, Jobs and pods read as deployment states and status changes.
//!
//! A service (Deployment): marked for deletion → terminating; scaled to
//! zero → stopped; a ready replica → running; otherwise pending. A job
//! (Job): condition `Complete` → succeeded (exit code 0), `Failed` →
//! failed, with the exit code of its pod when the caller read it; suspended
//! (stopped) → stopped; otherwise running once a pod is ready, else
//! pending. A pod (the watch): phase Pending → pending, Running →
//! running, Succeeded → succeeded, Failed → failed with its container's
//! exit code; deleted → stopped.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::names;
use crate::runtime::spec::DeploymentType;
use crate::runtime::state::{DeploymentState, DeploymentStatus, StatusChange};

/// A Kubernetes time as chrono's.
pub fn time(value: &Time) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(value.0.subsec_nanosecond()).unwrap_or(0);
    DateTime::from_timestamp(value.0.as_second(), nanos)
}

/// Project and deployment id of an object we made: the project from its
/// labels, the full deployment id from its annotation.
pub fn identity(meta: &ObjectMeta) -> Option<(String, String)> {
    let project = meta.labels.as_ref()?.get(names::PROJECT)?.clone();
    let deployment = meta
        .annotations
        .as_ref()?
        .get(names::DEPLOYMENT_ID)?
        .clone();
    Some((project, deployment))
}

fn annotation(meta: &ObjectMeta, key: &str) -> String {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .cloned()
        .unwrap_or_default()
}

fn base(meta: &ObjectMeta, kind: DeploymentType) -> Option<DeploymentState> {
    let (project_id, deployment_id) = identity(meta)?;
    Some(DeploymentState {
        project_id,
        deployment_id,
        kind,
        display_name: annotation(meta, names::DISPLAY_NAME),
        status: DeploymentStatus::Unknown,
        exit_code: None,
        reason: None,
        internal_id: meta.uid.clone().unwrap_or_default(),
        created_at: meta.creation_timestamp.as_ref().and_then(time),
        started_at: None,
        finished_at: None,
    })
}

/// A service's state from its Deployment; `None` when it is not ours.
pub fn deployment_state(deployment: &Deployment) -> Option<DeploymentState> {
    let mut state = base(&deployment.metadata, DeploymentType::Service)?;
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let ready = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    state.status = if deployment.metadata.deletion_timestamp.is_some() {
        DeploymentStatus::Terminating
    } else if replicas == 0 {
        DeploymentStatus::Stopped
    } else if ready > 0 {
        DeploymentStatus::Running
    } else {
        DeploymentStatus::Pending
    };
    Some(state)
}

/// A job's state from its Job (and the exit code of its pod, when read);
/// `None` when it is not ours.
pub fn job_state(job: &Job, pod_exit_code: Option<i64>) -> Option<DeploymentState> {
    let mut state = base(&job.metadata, DeploymentType::Job)?;
    let status = job.status.as_ref();
    let condition = |kind: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == kind && c.status == "True"))
    };
    state.started_at = status.and_then(|s| s.start_time.as_ref()).and_then(time);
    state.finished_at = status
        .and_then(|s| s.completion_time.as_ref())
        .and_then(time);
    let suspended = job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false);
    let ready = status.and_then(|s| s.ready).unwrap_or(0);
    if job.metadata.deletion_timestamp.is_some() {
        state.status = DeploymentStatus::Terminating;
    } else if condition("Complete").is_some() {
        state.status = DeploymentStatus::Succeeded;
        state.exit_code = Some(0);
    } else if let Some(failed) = condition("Failed") {
        state.status = DeploymentStatus::Failed;
        state.exit_code = pod_exit_code;
        state.reason = failed.reason.clone();
        state.finished_at = failed.last_transition_time.as_ref().and_then(time);
    } else if suspended {
        state.status = DeploymentStatus::Stopped;
    } else if ready > 0 {
        state.status = DeploymentStatus::Running;
    } else {
        state.status = DeploymentStatus::Pending;
    }
    Some(state)
}

/// The exit code of a pod's container, once it has terminated.
pub fn pod_exit_code(pod: &Pod) -> Option<i64> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| c.state.as_ref()?.terminated.as_ref())
        .map(|t| i64::from(t.exit_code))
}

/// A pod's status as a change of its deployment's; `None` for a pod that
/// is not ours. `deleted`: the watch saw it go.
pub fn pod_change(pod: &Pod, deleted: bool, at: DateTime<Utc>) -> Option<StatusChange> {
    let (project_id, deployment_id) = identity(&pod.metadata)?;
    let kind = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(names::DEPLOYMENT_TYPE))
        .and_then(|t| DeploymentType::parse(t))?;
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let exit_code = pod_exit_code(pod);
    let status = match (deleted, phase) {
        (true, _) => DeploymentStatus::Stopped,
        (false, Some("Pending")) => DeploymentStatus::Pending,
        (false, Some("Running")) => DeploymentStatus::Running,
        (false, Some("Succeeded")) => DeploymentStatus::Succeeded,
        (false, Some("Failed")) => DeploymentStatus::Failed,
        (false, _) => DeploymentStatus::Unknown,
    };
    let exit_code = match status {
        DeploymentStatus::Succeeded => Some(exit_code.unwrap_or(0)),
        DeploymentStatus::Failed | DeploymentStatus::Stopped => exit_code,
        _ => None,
    };
    Some(StatusChange {
        project_id,
        deployment_id,
        kind,
        status,
        exit_code,
        at,
    })
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
