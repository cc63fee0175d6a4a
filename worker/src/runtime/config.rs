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
use super::kubernetes::{KubeRuntime, KubeRuntimeConfig};
use super::{Runtime, RuntimeError};

/// Which backend runs deployments (`CONTAXY_RUNTIME`): the tag of
/// [`RuntimeConfig`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeBackend {
    /// The Docker Engine, over bollard.
    #[default]
    Docker,
    /// A Kubernetes cluster, over kube.
    Kubernetes,
}

impl RuntimeBackend {
    /// Its name in configuration, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Kubernetes { .. } => "kubernetes",
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
    /// A Kubernetes cluster, reached with the standard configuration
    /// (`KUBECONFIG`, `~/.kube/config`, or the in-cluster service account).
    Kubernetes {
        /// How deployments are run there (namespace, platform namespace,
        /// default limits, job TTL).
        settings: KubeRuntimeConfig,
    },
}

impl RuntimeConfig {
    /// The backend this configuration chose.
    pub fn backend(&self) -> RuntimeBackend {
        match self {
            Self::Docker { .. } => RuntimeBackend::Docker,
            Self::Kubernetes { .. } => RuntimeBackend::Kubernetes,
        }
    }

    /// Where the runtime is reached: the key its host's capacity is
    /// recorded under.
    pub fn address(&self) -> &str {
        match self {
            Self::Docker { host, .. } => host,
            Self::Kubernetes { .. } => "kubernetes",
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
        RuntimeConfig::Kubernetes { settings } => {
            settings.validate()?;
            Ok(kube_probe())
        }
    }
}

/// The `/readyz` probe of a cluster: the API server answers its version
/// request, with the configuration the runtime was built from.
fn kube_probe() -> Probe {
    Probe::new("kubernetes", || async {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("no cluster configuration: {e}"))?;
        client
            .apiserver_version()
            .await
            .map(drop)
            .map_err(|e| format!("the API server did not answer: {e}"))
    })
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
            let runtime = wait_for("The Docker Engine", connect).await?;
            Ok(Arc::new(runtime))
        }
        RuntimeConfig::Kubernetes { settings } => {
            let connect = || KubeRuntime::connect(settings.clone());
            let runtime = wait_for("The Kubernetes API server", connect).await?;
            Ok(Arc::new(runtime))
        }
    }
}

/// Runs `connect` until it succeeds or fails permanently: retryable errors
/// are waited out with a jittered backoff of at most 5 s, a warning each
/// time.
pub async fn wait_for<T, F, Fut>(what: &'static str, connect: F) -> Result<T, RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RuntimeError>>,
{
    connect
        .retry(
            ExponentialBuilder::default()
                .with_jitter()
                .with_max_delay(Duration::from_secs(5))
                .without_max_times(),
        )
        .when(RuntimeError::is_retryable)
        .notify(|error, delay| {
            tracing::warn!(%error, ?delay, "{what} is not reachable yet.");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_settings_are_checked_at_start_without_a_cluster() {
        let good = RuntimeConfig::Kubernetes {
            settings: KubeRuntimeConfig::with_namespace("ns1"),
        };
        assert_eq!(good.backend(), RuntimeBackend::Kubernetes);
        assert_eq!(good.address(), "kubernetes");
        probe(&good).expect("valid settings give a probe");
        let bad = RuntimeConfig::Kubernetes {
            settings: KubeRuntimeConfig::with_namespace("Not A Namespace"),
        };
        let error = probe(&bad).unwrap_err();
        assert!(
            matches!(
                error,
                RuntimeError::InvalidSpec {
                    field: "namespace",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    // figment's `Jail` closures return its large error type; that is its API.
    #[allow(clippy::result_large_err)]
    fn kubernetes_without_a_cluster_configuration_is_a_permanent_bad_setting() {
        figment::Jail::expect_with(|jail| {
            // Neither a kubeconfig nor the in-cluster environment.
            jail.set_env("KUBECONFIG", "/nonexistent/kubeconfig");
            jail.set_env("HOME", "/nonexistent");
            let config = RuntimeConfig::Kubernetes {
                settings: KubeRuntimeConfig::with_namespace("ns1"),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let error = runtime.block_on(build(&config)).expect_err("no cluster");
            assert_eq!(error.kind(), "bad_setting", "{error}");
            assert!(!error.is_retryable(), "the worker does not wait for it");
            assert!(error.to_string().starts_with("KUBECONFIG="), "{error}");
            Ok(())
        });
    }

    #[tokio::test]
    async fn a_retryable_failure_is_waited_out_and_a_permanent_one_returned() {
        let mut attempts = 0;
        let result = wait_for("test", || {
            attempts += 1;
            let attempt = attempts;
            async move {
                if attempt < 3 {
                    Err(RuntimeError::EngineFailure {
                        operation: "connect",
                        status: 503,
                        message: "starting".to_owned(),
                    })
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(result.expect("connected"), 3);
        let mut attempts = 0;
        let result: Result<(), _> = wait_for("test", || {
            attempts += 1;
            async {
                Err(RuntimeError::Rejected {
                    operation: "connect",
                    status: 403,
                    message: "forbidden".to_owned(),
                })
            }
        })
        .await;
        assert!(matches!(
            result,
            Err(RuntimeError::Rejected { status: 403, .. })
        ));
        assert_eq!(attempts, 1, "a permanent error is not retried");
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
