//! The container a deployment becomes, built as a pure function of the spec
//! so the security defaults can be read (and tested) in one place.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HostConfig, HostConfigLogConfig, Mount,
    MountType, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum,
};

use super::config::DockerRuntimeConfig;
use super::labels;
use crate::runtime::spec::{DeploymentSpec, DeploymentType};
use crate::runtime::validate::MIB;

/// Every capability is dropped, then these few are given back: what common
/// images need to start as root and drop to a user, own their files, bind
/// low ports and signal their children. Not NET_RAW (no raw sockets, so no
/// ARP or ICMP spoofing inside the network), nothing administrative.
pub const CAPABILITIES_ADDED: [&str; 7] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETGID",
    "SETUID",
    "NET_BIND_SERVICE",
    "KILL",
];

/// A process cannot gain privileges through setuid binaries or file
/// capabilities.
pub const SECURITY_OPTIONS: [&str; 1] = ["no-new-privileges"];

/// The create request for `spec`, attached to its project's network only
/// (`network`: the network's name, which is deterministic, or its id).
pub fn container_body(
    config: &DockerRuntimeConfig,
    spec: &DeploymentSpec,
    network: &str,
) -> ContainerCreateBody {
    let env = spec
        .env
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let exposed_ports = spec
        .endpoints
        .iter()
        .map(|endpoint| format!("{}/tcp", endpoint.port))
        .collect::<Vec<_>>();
    let endpoint = EndpointSettings {
        aliases: Some(vec![spec.deployment_id.clone()]),
        ..EndpointSettings::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: non_empty(&spec.command),
        cmd: non_empty(&spec.args),
        env: Some(env),
        labels: Some(labels::container_labels(&config.namespace, spec)),
        exposed_ports: (!exposed_ports.is_empty()).then_some(exposed_ports),
        stop_timeout: Some(i64::from(config.stop_timeout_secs)),
        tty: Some(false),
        open_stdin: Some(false),
        host_config: Some(host_config(config, spec, network)),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network.to_owned(), endpoint)])),
        }),
        ..ContainerCreateBody::default()
    }
}

fn host_config(config: &DockerRuntimeConfig, spec: &DeploymentSpec, network: &str) -> HostConfig {
    let memory = memory_limit_bytes(config, spec);
    let restart = match spec.kind {
        DeploymentType::Service => RestartPolicyNameEnum::UNLESS_STOPPED,
        DeploymentType::Job => RestartPolicyNameEnum::NO,
    };
    HostConfig {
        // Untrusted code: none of the host's powers, paths or devices.
        privileged: Some(false),
        // Docker's init (tini) as PID 1: it forwards the stop's SIGTERM to
        // the program (a shell or server as PID 1 would ignore it and be
        // killed after the timeout) and reaps orphaned children.
        init: Some(true),
        cap_drop: Some(vec!["ALL".to_owned()]),
        cap_add: Some(CAPABILITIES_ADDED.iter().map(|c| (*c).to_owned()).collect()),
        security_opt: Some(SECURITY_OPTIONS.iter().map(|o| (*o).to_owned()).collect()),
        binds: None,
        mounts: volume_mount(spec).map(|mount| vec![mount]),
        publish_all_ports: Some(false),
        network_mode: Some(network.to_owned()),
        pids_limit: Some(spec.compute.pids_limit.unwrap_or(config.default_pids_limit)),
        memory: Some(memory),
        // Equal to the memory limit: no swap on top of it.
        memory_swap: Some(memory),
        nano_cpus: Some(nano_cpus(cpu_limit(config, spec))),
        device_requests: gpu_request(spec.compute.gpus),
        restart_policy: Some(RestartPolicy {
            name: Some(restart),
            maximum_retry_count: None,
        }),
        auto_remove: Some(false),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".to_owned()),
            config: Some(HashMap::from([
                ("max-size".to_owned(), config.log_max_size.clone()),
                ("max-file".to_owned(), config.log_max_files.to_string()),
            ])),
        }),
        ..HostConfig::default()
    }
}

/// The memory limit: the spec's maximum, else the configured default but at
/// least the spec's minimum (a limit below what it needs would kill it).
pub fn memory_limit_bytes(config: &DockerRuntimeConfig, spec: &DeploymentSpec) -> i64 {
    let compute = &spec.compute;
    let mb = compute.max_memory_mb.unwrap_or_else(|| {
        config
            .default_memory_mb
            .max(compute.min_memory_mb.unwrap_or(0))
    });
    i64::try_from(mb.saturating_mul(MIB)).unwrap_or(i64::MAX)
}

/// The CPU limit in cores: the spec's maximum, else the configured default
/// but at least the spec's minimum.
pub fn cpu_limit(config: &DockerRuntimeConfig, spec: &DeploymentSpec) -> f64 {
    let compute = &spec.compute;
    compute.max_cpus.unwrap_or_else(|| {
        (f64::from(config.default_cpu_millicores) / 1000.0).max(compute.min_cpus.unwrap_or(0.0))
    })
}

/// Cores as Docker's `NanoCpus` (billionths of a core).
pub fn nano_cpus(cores: f64) -> i64 {
    // Validation bounds cores to 0.01..=host cores, so this cannot overflow.
    (cores * 1e9).round() as i64
}

/// GPUs through a device request to the NVIDIA driver, as `docker run
/// --gpus N` does; none when zero or absent.
pub fn gpu_request(gpus: Option<u32>) -> Option<Vec<DeviceRequest>> {
    let count = gpus.filter(|n| *n > 0)?;
    Some(vec![DeviceRequest {
        driver: Some("nvidia".to_owned()),
        count: Some(i64::from(count)),
        capabilities: Some(vec![vec!["gpu".to_owned()]]),
        ..DeviceRequest::default()
    }])
}

/// The named volume at `volume_path`, when the spec has one. Only volumes
/// are ever mounted: never a host path.
pub fn volume_mount(spec: &DeploymentSpec) -> Option<Mount> {
    let target = spec.volume_path.clone()?;
    Some(Mount {
        target: Some(target),
        source: Some(labels::volume_name(spec)),
        typ: Some(MountType::VOLUME),
        read_only: Some(false),
        ..Mount::default()
    })
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

#[cfg(test)]
#[path = "container_body_tests.rs"]
mod tests;
