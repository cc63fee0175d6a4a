//! Logs from the pod log API of the deployment's newest pod: `lines` is
//! `tailLines`, `since` is `sinceSeconds` (whole seconds, rounded up so
//! nothing after `since` is lost), `follow` keeps the stream open. The API
//! merges stdout and stderr, so every chunk is tagged stdout.

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};

use super::errors::classify;
use super::{KubeRuntime, names};
use crate::runtime::LogStream;
use crate::runtime::error::RuntimeError;
use crate::runtime::logs::{LogChunk, LogOptions, LogSource};
use crate::runtime::spec::DeploymentRef;

/// The log request's parameters for `options`, at `now`.
pub fn log_params(options: &LogOptions, now: chrono::DateTime<chrono::Utc>) -> LogParams {
    LogParams {
        container: Some("main".to_owned()),
        follow: options.follow,
        tail_lines: options.lines.map(i64::from),
        since_seconds: options
            .since
            .map(|since| (now - since).num_seconds().saturating_add(1).max(1)),
        timestamps: options.timestamps,
        ..LogParams::default()
    }
}

impl KubeRuntime {
    pub(super) async fn deployment_logs(
        &self,
        target: &DeploymentRef,
        options: LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        let namespace = names::project_namespace(&self.config.namespace, &target.project_id);
        let selector = names::selector(&names::selector_labels(
            &self.config.namespace,
            &target.project_id,
            &target.deployment_id,
        ));
        let pods = self.api::<Pod>(&namespace);
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|error| classify("logs", "pods", error))?;
        let newest = list
            .items
            .iter()
            .filter(|pod| {
                super::status::identity(&pod.metadata)
                    .is_some_and(|(_, id)| id == target.deployment_id)
            })
            .max_by_key(|pod| pod.metadata.creation_timestamp.clone())
            .and_then(|pod| pod.metadata.name.clone())
            .ok_or_else(|| RuntimeError::NotFound {
                what: target.to_string(),
            })?;
        let reader = pods
            .log_stream(&newest, &log_params(&options, chrono::Utc::now()))
            .await
            .map_err(|error| classify("logs", &format!("pod {newest}"), error))?;
        let lines = reader
            .lines()
            .map_err(|error| RuntimeError::Unreachable {
                operation: "logs",
                source: Box::new(error),
            })
            .map_ok(|line| LogChunk {
                source: LogSource::Stdout,
                bytes: format!("{line}\n").into_bytes(),
            });
        Ok(lines.boxed())
    }
}
