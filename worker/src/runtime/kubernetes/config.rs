//! Settings of the Kubernetes backend.

use crate::runtime::error::RuntimeError;
use crate::runtime::validate::MIN_MEMORY_LIMIT_MB;

/// How the Kubernetes backend runs deployments. The defaults are safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRuntimeConfig {
    /// The installation (`CONTAXY_NAMESPACE`): the `ctxy.namespace` label on
    /// everything made, and the first part of every project's Kubernetes
    /// namespace (`{namespace}-p-{project}`). Same rule as on Docker:
    /// lowercase letters, digits and hyphens, 1-20 characters.
    pub namespace: String,
    /// The Kubernetes namespace the platform (API, worker, proxy) runs in:
    /// the only namespace besides the project's own from which its
    /// deployments accept traffic.
    pub platform_namespace: String,
    /// Memory limit in MiB of a deployment that asks for none: a limit is
    /// always set, as on Docker.
    pub default_memory_mb: u64,
    /// CPU limit, in thousandths of a core, of a deployment that asks for
    /// none (`CONTAXY_DEFAULT_CPU_MILLICORES`, as on Docker): at least its
    /// `min_cpus`, at most the largest node's allocatable CPU. Without a
    /// CPU request, Kubernetes takes the limit as the request too.
    pub default_cpu_millicores: u32,
    /// Size in MiB of a volume whose deployment gives no `max_volume_size`.
    pub default_volume_size_mb: u64,
    /// Storage class of volumes; the cluster's default when absent.
    pub storage_class: Option<String>,
    /// Seconds a finished Job (and its pods, with their logs) is kept
    /// before the cluster removes it (`ttlSecondsAfterFinished`).
    pub job_ttl_secs: u32,
    /// Longest a Job may run, in seconds (`activeDeadlineSeconds`); no
    /// deadline when absent.
    pub job_deadline_secs: Option<u32>,
    /// Seconds a pod gets between SIGTERM and SIGKILL.
    pub stop_timeout_secs: u32,
}

impl Default for KubeRuntimeConfig {
    fn default() -> Self {
        Self {
            namespace: "ctxy".to_owned(),
            platform_namespace: "contaxy".to_owned(),
            default_memory_mb: 1024,
            default_cpu_millicores: 1000,
            default_volume_size_mb: 1024,
            storage_class: None,
            job_ttl_secs: 3600,
            job_deadline_secs: None,
            stop_timeout_secs: 10,
        }
    }
}

impl KubeRuntimeConfig {
    /// The defaults with another namespace.
    pub fn with_namespace(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            ..Self::default()
        }
    }

    /// Checks the settings can be used as they are.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        if !is_dns_label(&self.namespace) || self.namespace.len() > 20 {
            return Err(RuntimeError::invalid(
                "namespace",
                format!(
                    "{:?}: lowercase letters, digits, hyphens; 1-20",
                    self.namespace
                ),
            ));
        }
        if !is_dns_label(&self.platform_namespace) {
            return Err(RuntimeError::invalid(
                "platform_namespace",
                format!(
                    "{:?} is not a Kubernetes namespace name",
                    self.platform_namespace
                ),
            ));
        }
        if self.default_memory_mb < MIN_MEMORY_LIMIT_MB {
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
        if self.default_volume_size_mb == 0 {
            return Err(RuntimeError::invalid(
                "default_volume_size_mb",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// An RFC 1123 label: what Kubernetes namespace and service names are.
pub fn is_dns_label(value: &str) -> bool {
    (1..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}
