//! The container runtime the worker drives.
//!
//! Only the Docker Engine connection exists so far; the `Runtime` trait with
//! its Docker and Kubernetes backends arrives with deployments.

use bollard::Docker;
use contaxy_common::ops::Probe;

/// Why the runtime could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `CONTAXY_DOCKER_HOST` could not be used.
    #[error("CONTAXY_DOCKER_HOST={host} is not usable: {source}")]
    BadDockerHost {
        /// The configured address.
        host: String,
        /// What bollard said.
        #[source]
        source: bollard::errors::Error,
    },
}

/// Opens a Docker client for `host` (no request is made yet).
pub fn connect_docker(host: &str) -> Result<Docker, RuntimeError> {
    Docker::connect_with_host(host).map_err(|source| RuntimeError::BadDockerHost {
        host: host.to_owned(),
        source,
    })
}

/// The `/readyz` probe: the Docker Engine answers a ping.
pub fn docker_probe(docker: Docker) -> Probe {
    Probe::new("docker", move || {
        let docker = docker.clone();
        async move {
            docker
                .ping()
                .await
                .map(drop)
                .map_err(|e| format!("ping failed: {e}"))
        }
    })
}
