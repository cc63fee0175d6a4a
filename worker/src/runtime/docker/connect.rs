//! Reaching the Docker Engine and agreeing on an API version.

use bollard::Docker;
use contaxy_common::domain::capacity::HostCapacity;
use contaxy_common::ops::Probe;

use super::errors::classify;
use crate::runtime::error::RuntimeError;

/// The oldest Engine API this backend is tested against (Docker 20.10).
pub const MIN_API_VERSION: (u32, u32) = (1, 41);

/// Opens a Docker client for `host` (no request is made yet).
pub fn connect_docker(host: &str) -> Result<Docker, RuntimeError> {
    Docker::connect_with_host(host).map_err(|source| RuntimeError::BadSetting {
        setting: "CONTAXY_DOCKER_HOST",
        value: host.to_owned(),
        source: source.into(),
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

/// What the engine told us when we connected.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFacts {
    /// The API version both sides speak.
    pub api_version: String,
    /// What the host can give one deployment.
    pub capacity: HostCapacity,
}

/// Lowers the client's API version to the engine's when the engine is older
/// (bollard 0.21 defaults to 1.53), refuses engines older than
/// [`MIN_API_VERSION`], and reads the host's capacity.
pub async fn negotiate(docker: Docker) -> Result<(Docker, EngineFacts), RuntimeError> {
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| classify("version negotiation", "the engine's version", e))?;
    let version = docker
        .version()
        .await
        .map_err(|e| classify("version", "the engine's version", e))?;
    let api_version = version.api_version.unwrap_or_default();
    if !is_supported(&api_version) {
        return Err(RuntimeError::UnsupportedEngine {
            found: api_version,
            required: format!("{}.{}", MIN_API_VERSION.0, MIN_API_VERSION.1),
        });
    }
    let info = docker
        .info()
        .await
        .map_err(|e| classify("info", "the engine's info", e))?;
    let capacity = HostCapacity {
        cpus: info.ncpu.unwrap_or(0) as f64,
        memory_bytes: info
            .mem_total
            .and_then(|m| u64::try_from(m).ok())
            .unwrap_or(0),
    };
    Ok((
        docker,
        EngineFacts {
            api_version,
            capacity,
        },
    ))
}

/// Whether an API version `major.minor` is at least [`MIN_API_VERSION`].
pub fn is_supported(api_version: &str) -> bool {
    let parsed = api_version
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    parsed.is_some_and(|version| version >= MIN_API_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_from_api_1_41_on_are_supported() {
        for ok in ["1.41", "1.43", "1.53", "2.0"] {
            assert!(is_supported(ok), "{ok}");
        }
        for old in ["1.40", "1.24", "0.99", "", "1", "x.y", "1.4x"] {
            assert!(!is_supported(old), "{old}");
        }
    }
}
