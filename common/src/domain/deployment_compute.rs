//! How a [`Compute`] is read: [`ComputeWire`], where `min_memory` may be
//! left out and its default depends on `max_memory`.

use serde::Deserialize;

use super::Compute;

/// [`Compute`] as a client sends it: `min_memory` may be left out, and its
/// default depends on `max_memory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ComputeWire {
    #[serde(default = "default_min_cpus")]
    min_cpus: f64,
    #[serde(default)]
    max_cpus: Option<f64>,
    #[serde(default)]
    min_memory: Option<u64>,
    #[serde(default)]
    max_memory: Option<u64>,
    #[serde(default)]
    min_gpus: Option<u32>,
    #[serde(default)]
    max_gpus: Option<u32>,
    #[serde(default)]
    volume_path: Option<String>,
    #[serde(default)]
    max_volume_size: Option<u64>,
    #[serde(default)]
    max_container_size: Option<u64>,
    #[serde(default = "default_max_replicas")]
    max_replicas: u32,
    #[serde(default)]
    min_lifetime: u64,
}

fn default_min_cpus() -> f64 {
    Compute::default().min_cpus
}

fn default_max_replicas() -> u32 {
    Compute::default().max_replicas
}

impl From<ComputeWire> for Compute {
    fn from(wire: ComputeWire) -> Self {
        let default_min_memory = Compute::default().min_memory;
        Self {
            min_cpus: wire.min_cpus,
            max_cpus: wire.max_cpus,
            // Not above the limit given, so leaving it out never makes an
            // input invalid.
            min_memory: wire.min_memory.unwrap_or_else(|| {
                wire.max_memory
                    .map_or(default_min_memory, |max| max.min(default_min_memory))
            }),
            max_memory: wire.max_memory,
            min_gpus: wire.min_gpus,
            max_gpus: wire.max_gpus,
            volume_path: wire.volume_path,
            max_volume_size: wire.max_volume_size,
            max_container_size: wire.max_container_size,
            max_replicas: wire.max_replicas,
            min_lifetime: wire.min_lifetime,
        }
    }
}
