//! Which runtime the worker drives, with that backend's settings, and how
//! it is built: [`build`] connects (waiting for a runtime that is not up
//! yet) and returns it as `Arc<dyn Runtime>`; [`probe`] checks the settings
//! at start and gives the `/readyz` probe. Nothing outside this module
//! names a backend.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use contaxy_common::ops::Probe;
use serde::Deserialize;

use super::docker::{self, DockerRuntime, DockerRuntimeConfig};
use super::{Runtime, RuntimeError};

/// Which backend runs deployments (`CONTAXY_RUNTIME`): the tag of
/// [`RuntimeConfig`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeBackend {
    /// The Docker Engine, over bollard.
    #[default]
    Docker,
    /// Kubernetes: chosen here, but not built yet (a later issue).
    Kubernetes,
}

impl RuntimeBackend {
    /// Its name in configuration, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Kubernetes => "kubernetes",
        }
    }
}

/// The chosen backend with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeConfig {
    /// A Docker Engine.
    Docker {
        /// Its address (`CONTAXY_DOCKER_HOST`): `unix:///path/to.sock` or
        /// `tcp://host:port`.
        host: String,
        /// How deployments are run there (namespace, default limits, logs).
        settings: DockerRuntimeConfig,
    },
    /// A Kubernetes cluster (not built yet: [`build`] and [`probe`] refuse
    /// it with [`RuntimeError::BackendNotBuilt`]).
    Kubernetes,
}

impl RuntimeConfig {
    /// The backend this configuration chose.
    pub fn backend(&self) -> RuntimeBackend {
        match self {
            Self::Docker { .. } => RuntimeBackend::Docker,
            Self::Kubernetes => RuntimeBackend::Kubernetes,
        }
    }

    /// Where the runtime is reached: the key its host's capacity is
    /// recorded under.
    pub fn address(&self) -> &str {
        match self {
            Self::Docker { host, .. } => host,
            Self::Kubernetes => "kubernetes",
        }
    }
}

/// Checks the settings without reaching the runtime, and returns the
/// `/readyz` probe that asks the runtime whether it answers. A setting
/// that cannot work fails here, at start.
pub fn probe(config: &RuntimeConfig) -> Result<Probe, RuntimeError> {
    match config {
        RuntimeConfig::Docker { host, settings } => {
            settings.validate()?;
            Ok(docker::docker_probe(docker::connect_docker(host)?))
        }
        RuntimeConfig::Kubernetes => Err(not_built(config)),
    }
}

/// Connects to the chosen runtime. A runtime that cannot be reached yet
/// (retryable errors) is waited for, with a jittered backoff of at most 5 s
/// and a warning each time, for as long as it takes: the caller races this
/// with its shutdown. A permanent error (a bad setting, an engine too old)
/// is returned.
pub async fn build(config: &RuntimeConfig) -> Result<Arc<dyn Runtime>, RuntimeError> {
    match config {
        RuntimeConfig::Docker { host, settings } => {
            let connect = || DockerRuntime::connect(host, settings.clone());
            let runtime = connect
                .retry(
                    ExponentialBuilder::default()
                        .with_jitter()
                        .with_max_delay(Duration::from_secs(5))
                        .without_max_times(),
                )
                .when(RuntimeError::is_retryable)
                .notify(|error, delay| {
                    tracing::warn!(%error, ?delay, "The Docker Engine is not reachable yet.");
                })
                .await?;
            Ok(Arc::new(runtime))
        }
        RuntimeConfig::Kubernetes => Err(not_built(config)),
    }
}

fn not_built(config: &RuntimeConfig) -> RuntimeError {
    RuntimeError::BackendNotBuilt {
        backend: config.backend().as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kubernetes_is_refused_at_start_as_not_built_yet() {
        let error = probe(&RuntimeConfig::Kubernetes).unwrap_err();
        assert!(
            matches!(
                error,
                RuntimeError::BackendNotBuilt {
                    backend: "kubernetes"
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("not built yet"), "{error}");
        assert!(!error.is_retryable());
        let error = build(&RuntimeConfig::Kubernetes).await.unwrap_err();
        assert!(matches!(error, RuntimeError::BackendNotBuilt { .. }));
    }

    #[test]
    fn bad_docker_settings_are_refused_before_anything_is_reached() {
        let bad_host = RuntimeConfig::Docker {
            host: "ftp://nowhere".to_owned(),
            settings: DockerRuntimeConfig::default(),
        };
        let error = probe(&bad_host).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("CONTAXY_DOCKER_HOST=ftp://nowhere is not usable"),
            "{error}"
        );
        let bad_limit = RuntimeConfig::Docker {
            host: "unix:///var/run/docker.sock".to_owned(),
            settings: DockerRuntimeConfig {
                default_pids_limit: 0,
                ..DockerRuntimeConfig::default()
            },
        };
        assert!(probe(&bad_limit).is_err());
    }
}
