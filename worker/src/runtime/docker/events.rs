//! Status changes from the engine's own event stream, filtered to our
//! namespace's containers.

use std::collections::HashMap;

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptions;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::DockerRuntime;
use super::errors::classify;
use super::labels;
use crate::runtime::StatusChangeStream;
use crate::runtime::spec::DeploymentType;
use crate::runtime::state::{DeploymentStatus, StatusChange};

/// The container events that change a deployment's status. Others (attach,
/// kill, stop, oom, health) are followed by one of these or change nothing:
/// `docker stop` is kill → die → stop, and `die` carries the exit code.
const STATUS_EVENTS: [&str; 4] = ["create", "start", "die", "destroy"];

impl DockerRuntime {
    pub(super) fn container_status_changes(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> StatusChangeStream {
        let namespace = self.namespace().to_owned();
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("{}={namespace}", labels::NAMESPACE)],
            ),
            (
                "event".to_owned(),
                STATUS_EVENTS.iter().map(|e| (*e).to_owned()).collect(),
            ),
        ]);
        let options = EventsOptions {
            since: since.map(engine_time),
            until: None,
            filters: Some(filters),
        };
        self.docker
            .events(Some(options))
            .filter_map(move |event| {
                let change = match event {
                    Ok(event) => status_change(&namespace, &event).map(Ok),
                    Err(error) => Some(Err(classify("watch events", "the event stream", error))),
                };
                std::future::ready(change)
            })
            .boxed()
    }
}

/// The engine's `since`: seconds with nanoseconds after the point.
fn engine_time(time: DateTime<Utc>) -> String {
    format!("{}.{:09}", time.timestamp(), time.timestamp_subsec_nanos())
}

/// The status change an engine event means for one of our deployments;
/// `None` for events of other namespaces, objects or kinds.
pub fn status_change(namespace: &str, event: &EventMessage) -> Option<StatusChange> {
    if event.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let attributes = event.actor.as_ref()?.attributes.as_ref()?;
    if attributes.get(labels::NAMESPACE).map(String::as_str) != Some(namespace) {
        return None;
    }
    let exit_code = attributes
        .get("exitCode")
        .and_then(|code| code.parse::<i64>().ok());
    let (status, exit_code) = match event.action.as_deref()? {
        "create" => (DeploymentStatus::Pending, None),
        "start" => (DeploymentStatus::Running, None),
        "die" if exit_code == Some(0) => (DeploymentStatus::Succeeded, exit_code),
        "die" => (DeploymentStatus::Failed, exit_code),
        "destroy" => (DeploymentStatus::Stopped, None),
        _ => return None,
    };
    let at = event
        .time_nano
        .map(DateTime::from_timestamp_nanos)
        .or_else(|| {
            event
                .time
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        })
        .unwrap_or_else(Utc::now);
    Some(StatusChange {
        project_id: attributes.get(labels::PROJECT)?.clone(),
        deployment_id: attributes.get(labels::DEPLOYMENT_ID)?.clone(),
        kind: DeploymentType::parse(attributes.get(labels::DEPLOYMENT_TYPE)?)?,
        status,
        exit_code,
        at,
    })
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
