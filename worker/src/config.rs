//! Settings of the `contaxy-worker` binary (besides the shared ones in
//! [`contaxy_common::config::CommonConfig`]).

use std::net::SocketAddr;

use contaxy_common::config::Config;
use contaxy_common::domain::network::{PoolError, SubnetPool};
use serde::Deserialize;

use crate::runtime::kubernetes::KubeRuntimeConfig;
use crate::runtime::{DockerRuntimeConfig, RuntimeBackend, RuntimeConfig};

/// The whole configuration of the worker binary.
pub type WorkerConfig = Config<WorkerSettings>;

/// Settings only the worker has.
///
/// One field is one `CONTAXY_*` variable: the loader maps flat keys, so the
/// runtime's settings are fields here too, and [`WorkerSettings::runtime`]
/// puts them together as the chosen backend's [`RuntimeConfig`]. Fields
/// marked "Docker" are read only when `runtime` is `docker`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// Address of the worker's small HTTP server for `/healthz`, `/readyz`
    /// and `/metrics` (`CONTAXY_WORKER_LISTEN_ADDR`). Port 0 picks a free
    /// port.
    pub worker_listen_addr: SocketAddr,
    /// The runtime backend (`CONTAXY_RUNTIME`): `docker` (the default) or
    /// `kubernetes` (a cluster reached through `KUBECONFIG`,
    /// `~/.kube/config` or the in-cluster service account).
    pub runtime: RuntimeBackend,
    /// Docker: the Engine's address (`CONTAXY_DOCKER_HOST`):
    /// `unix:///path/to.sock` or `tcp://host:port`.
    pub docker_host: String,
    /// How many actions one worker executes at once, across all family
    /// queues (`CONTAXY_WORKER_CONCURRENCY`); also each family consumer's
    /// RabbitMQ prefetch.
    pub worker_concurrency: u16,
    /// Attempts before a transiently failing action is given up and
    /// dead-lettered (`CONTAXY_WORKER_MAX_ATTEMPTS`).
    pub worker_max_attempts: u32,
    /// Times one message is given back to its queue after an error that is
    /// neither its data's fault nor a dependency away (an unexpected
    /// database error while recording or claiming it) before it is
    /// dead-lettered (`CONTAXY_WORKER_MAX_REDELIVERIES`).
    pub worker_max_redeliveries: u32,
    /// Longest one attempt may take, in seconds
    /// (`CONTAXY_WORKER_ATTEMPT_TIMEOUT_SECS`).
    pub worker_attempt_timeout_secs: u64,
    /// How long a claim on an action holds without renewal, in seconds
    /// (`CONTAXY_WORKER_LEASE_SECS`): the worker renews it every third of
    /// that while the attempt runs, so the claim of a worker that died runs
    /// out within this long and another worker takes the action over.
    pub worker_lease_secs: u64,
    /// Seconds between two reconciles of deployment statuses with the
    /// runtime (`CONTAXY_WORKER_RECONCILE_INTERVAL_SECS`).
    pub worker_reconcile_interval_secs: u64,
    /// Longest a stopping worker waits for its attempts in flight, in
    /// seconds (`CONTAXY_WORKER_DRAIN_TIMEOUT_SECS`). On SIGTERM it stops
    /// taking deliveries and lets its attempts finish (their outcomes and
    /// retries recorded, their deliveries acknowledged) while its RabbitMQ
    /// connection stays open; an attempt still running at this deadline is
    /// handed back (its claim released, its delivery requeued, the attempt
    /// not counted) for another worker. Keep it below the orchestrator's
    /// grace period (Kubernetes: `terminationGracePeriodSeconds`, 30 s by
    /// default).
    pub worker_drain_timeout_secs: u64,
    /// Logs requests one worker streams at once
    /// (`CONTAXY_WORKER_MAX_LOG_STREAMS`, at least 1); also its prefetch on
    /// the logs queue, so RabbitMQ hands a busy worker's requests to
    /// another one. When every worker is full, a request waits in the queue
    /// and the API answers 503 after `CONTAXY_API_LOGS_TIMEOUT_MS`.
    pub worker_max_log_streams: u16,
    /// Longest one logs stream lasts, in seconds
    /// (`CONTAXY_WORKER_LOG_STREAM_MAX_SECS`, at least 1, at most 1500):
    /// a `follow` still open then ends as if the output had ended (a
    /// client follows on with `since`). A stream holds its request's
    /// delivery unacknowledged, so this stays below RabbitMQ's consumer
    /// timeout (30 minutes by default).
    pub worker_log_stream_max_secs: u64,
    /// Kubernetes: the namespace the platform runs in
    /// (`CONTAXY_KUBE_PLATFORM_NAMESPACE`), the only one besides a
    /// project's own whose pods may reach the project's deployments.
    pub kube_platform_namespace: String,
    /// Docker and Kubernetes: memory limit in MB of a deployment that sets
    /// no `max_memory` (`CONTAXY_DEFAULT_MEMORY_MB`): a limit is always set.
    pub default_memory_mb: u64,
    /// Docker: process limit of every deployment
    /// (`CONTAXY_DEFAULT_PIDS_LIMIT`).
    pub default_pids_limit: i64,
    /// Docker and Kubernetes: CPU limit, in thousandths of a core, of a
    /// deployment that sets no `max_cpus` (`CONTAXY_DEFAULT_CPU_MILLICORES`);
    /// at least its `min_cpus`, at most the host's (the largest node's)
    /// cores.
    pub default_cpu_millicores: u32,
    /// `CONTAXY_BASE_URL` as containers see it (`CONTAXY_CONTAINER_BASE_URL`).
    pub container_base_url: String,
    /// `CONTAXY_API_ENDPOINT` as containers see it
    /// (`CONTAXY_CONTAINER_API_ENDPOINT`).
    pub container_api_endpoint: String,
    /// IPv4 range the subnets of project networks are cut from
    /// (`CONTAXY_NETWORK_POOL`). Keep it clear of the host's own networks
    /// and of other installations on the same runtime; see
    /// `docs/networks.md`.
    pub network_pool: String,
    /// Prefix length of each project's subnet
    /// (`CONTAXY_NETWORK_PREFIX_LEN`), from the pool's own up to 29: 24
    /// gives a project 253 container addresses, and the default pool 1024
    /// projects.
    pub network_prefix_len: u8,
}

impl WorkerSettings {
    /// The chosen runtime backend with its settings, for the installation
    /// `namespace` (`CONTAXY_NAMESPACE`).
    pub fn runtime(&self, namespace: &str) -> RuntimeConfig {
        match self.runtime {
            RuntimeBackend::Docker => RuntimeConfig::Docker {
                host: self.docker_host.clone(),
                settings: DockerRuntimeConfig {
                    namespace: namespace.to_owned(),
                    default_memory_mb: self.default_memory_mb,
                    default_pids_limit: self.default_pids_limit,
                    default_cpu_millicores: self.default_cpu_millicores,
                    ..DockerRuntimeConfig::default()
                },
            },
            RuntimeBackend::Kubernetes => RuntimeConfig::Kubernetes {
                settings: KubeRuntimeConfig {
                    namespace: namespace.to_owned(),
                    platform_namespace: self.kube_platform_namespace.clone(),
                    default_memory_mb: self.default_memory_mb,
                    default_cpu_millicores: self.default_cpu_millicores,
                    ..KubeRuntimeConfig::default()
                },
            },
        }
    }

    /// The subnet pool, or why the two network settings do not make one.
    pub fn subnet_pool(&self) -> Result<SubnetPool, PoolError> {
        SubnetPool::new(&self.network_pool, self.network_prefix_len)
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            worker_listen_addr: SocketAddr::from(([127, 0, 0, 1], 9101)),
            runtime: RuntimeBackend::Docker,
            docker_host: "unix:///var/run/docker.sock".to_owned(),
            worker_concurrency: 8,
            worker_max_attempts: 5,
            worker_max_redeliveries: 10,
            worker_attempt_timeout_secs: 300,
            worker_lease_secs: 10,
            worker_reconcile_interval_secs: 30,
            worker_drain_timeout_secs: 20,
            worker_max_log_streams: 32,
            worker_log_stream_max_secs: 900,
            kube_platform_namespace: "contaxy".to_owned(),
            default_memory_mb: 1024,
            default_pids_limit: 512,
            default_cpu_millicores: 1000,
            container_base_url: "http://127.0.0.1:8080".to_owned(),
            container_api_endpoint: "http://127.0.0.1:8080".to_owned(),
            network_pool: "10.96.0.0/14".to_owned(),
            network_prefix_len: 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pool_holds_1024_project_subnets() {
        let pool = WorkerSettings::default().subnet_pool().expect("valid");
        assert_eq!(pool.capacity(), 1024);
        assert_eq!(pool.prefix_len(), 24);
    }

    #[test]
    fn docker_is_the_default_runtime_and_gets_the_docker_settings() {
        let settings = WorkerSettings {
            docker_host: "tcp://127.0.0.1:2375".to_owned(),
            default_memory_mb: 256,
            default_pids_limit: 64,
            ..WorkerSettings::default()
        };
        let RuntimeConfig::Docker { host, settings } = settings.runtime("ns1") else {
            panic!("docker is the default");
        };
        assert_eq!(host, "tcp://127.0.0.1:2375");
        assert_eq!(settings.namespace, "ns1");
        assert_eq!(
            (settings.default_memory_mb, settings.default_pids_limit),
            (256, 64)
        );
        let kubernetes = WorkerSettings {
            runtime: RuntimeBackend::Kubernetes,
            default_memory_mb: 256,
            default_cpu_millicores: 250,
            ..WorkerSettings::default()
        };
        let RuntimeConfig::Kubernetes { settings } = kubernetes.runtime("ns1") else {
            panic!("kubernetes was chosen");
        };
        assert_eq!(settings.namespace, "ns1");
        assert_eq!(settings.platform_namespace, "contaxy");
        assert_eq!(
            (settings.default_memory_mb, settings.default_cpu_millicores),
            (256, 250)
        );
    }

    #[test]
    // figment's `Jail` closures return its large error type; that is its API.
    #[allow(clippy::result_large_err)]
    fn the_runtime_is_chosen_by_contaxy_runtime() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CONTAXY_RUNTIME", "kubernetes");
            jail.set_env("CONTAXY_DOCKER_HOST", "tcp://127.0.0.1:1");
            let config =
                contaxy_common::config::load::<WorkerSettings>().map_err(|e| e.to_string())?;
            assert_eq!(config.settings.runtime, RuntimeBackend::Kubernetes);
            assert_eq!(config.settings.docker_host, "tcp://127.0.0.1:1");
            jail.set_env("CONTAXY_RUNTIME", "podman");
            let error = contaxy_common::config::load::<WorkerSettings>().unwrap_err();
            assert!(error.to_string().contains("CONTAXY_RUNTIME"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_prefix_length_the_pool_cannot_hold_is_refused() {
        let settings = WorkerSettings {
            network_pool: "10.96.0.0/24".to_owned(),
            network_prefix_len: 16,
            ..WorkerSettings::default()
        };
        assert!(settings.subnet_pool().is_err());
    }
}
