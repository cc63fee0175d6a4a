//! Settings of the Docker backend.

use serde::Deserialize;

use crate::runtime::error::RuntimeError;

/// How the Docker backend runs deployments. The defaults are safe; a field
/// is documented where it is not obvious why it exists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerRuntimeConfig {
    /// Label value `ctxy.namespace` put on everything this installation
    /// creates, and required on everything it touches. Lowercase letters,
    /// digits and hyphens, 1-20 characters. Tests use a fresh one each.
    pub namespace: String,
    /// Memory limit in MiB of a deployment that asks for none: a limit is
    /// always set, so one container cannot take the host's memory.
    pub default_memory_mb: u64,
    /// Process limit of a deployment that asks for none (fork bombs stop
    /// there).
    pub default_pids_limit: i64,
    /// CPU limit in thousandths of a core of a deployment that sets no
    /// `max_cpus` (but at least its `min_cpus`): a limit is always set, so
    /// one container cannot take every core. Lowered to the host's cores.
    pub default_cpu_millicores: u32,
    /// Seconds a container gets between SIGTERM and SIGKILL on stop.
    pub stop_timeout_secs: u32,
    /// Largest size of one log file before it is rotated (`json-file`
    /// `max-size`), e.g. `10m`. Logs are kept in bounded files so that a noisy
    /// container cannot fill the disk.
    pub log_max_size: String,
    /// How many rotated log files are kept.
    pub log_max_files: u32,
}

impl Default for DockerRuntimeConfig {
    fn default() -> Self {
        Self {
            namespace: "ctxy".to_owned(),
            default_memory_mb: 1024,
            default_pids_limit: 512,
            default_cpu_millicores: 1000,
            stop_timeout_secs: 10,
            log_max_size: "10m".to_owned(),
            log_max_files: 3,
        }
    }
}

impl DockerRuntimeConfig {
    /// The defaults with another namespace.
    pub fn with_namespace(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            ..Self::default()
        }
    }

    /// Checks the settings can be used as they are.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let namespace_ok = (1..=20).contains(&self.namespace.len())
            && self
                .namespace
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !self.namespace.starts_with('-');
        if !namespace_ok {
            return Err(RuntimeError::invalid(
                "namespace",
                format!(
                    "{:?}: lowercase letters, digits, hyphens; 1-20",
                    self.namespace
                ),
            ));
        }
        if self.default_memory_mb < super::super::validate::MIN_MEMORY_LIMIT_MB {
            return Err(RuntimeError::invalid(
                "default_memory_mb",
                "must be at least 6",
            ));
        }
        if self.default_cpu_millicores < 10 {
            return Err(RuntimeError::invalid(
                "default_cpu_millicores",
                "must be at least 10 (a hundredth of a core)",
            ));
        }
        if self.default_pids_limit < 1 {
            return Err(RuntimeError::invalid(
                "default_pids_limit",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        DockerRuntimeConfig::default().validate().unwrap();
        DockerRuntimeConfig::with_namespace("t1a2b3c4d")
            .validate()
            .unwrap();
    }

    #[test]
    fn a_namespace_must_be_a_short_lowercase_name() {
        for bad in [
            "",
            "Upper",
            "-lead",
            "has space",
            "a_b",
            "x".repeat(21).as_str(),
        ] {
            let error = DockerRuntimeConfig::with_namespace(bad)
                .validate()
                .unwrap_err();
            assert!(
                matches!(
                    error,
                    RuntimeError::InvalidSpec {
                        field: "namespace",
                        ..
                    }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_cannot_be_switched_off() {
        let config = DockerRuntimeConfig {
            default_memory_mb: 5,
            ..DockerRuntimeConfig::default()
        };
        assert!(config.validate().is_err());
        let config = DockerRuntimeConfig {
            default_pids_limit: 0,
            ..DockerRuntimeConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
