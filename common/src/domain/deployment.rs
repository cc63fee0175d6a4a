//! Deployments: services (long-running) and jobs (run to completion), with
//! contaxy's input shape (`ServiceInput` / `JobInput`) and its validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::capacity::HostCapacity;
use super::image::ImageRef;
use super::validation::{FieldErrors, check_len};

/// Service or job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeploymentType {
    /// Long-running; restarted when it stops.
    Service,
    /// Runs once to completion.
    Job,
}

impl DeploymentType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Job => "job",
        }
    }

    /// The inverse of [`DeploymentType::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "service" => Some(Self::Service),
            "job" => Some(Self::Job),
            _ => None,
        }
    }

    /// The letter in the deployment id (`-s-` or `-j-`).
    fn id_letter(self) -> char {
        match self {
            Self::Service => 's',
            Self::Job => 'j',
        }
    }
}

/// A deployment's state, as contaxy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Recorded or created, not running yet.
    Pending,
    /// Running.
    Running,
    /// A job that exited 0.
    Succeeded,
    /// Exited non-zero, or could not be created.
    Failed,
    /// Being removed.
    Terminating,
    /// Known but has no running container (a stopped service).
    Stopped,
    /// The runtime reports something we cannot map.
    Unknown,
    /// A job stopped on a client's request (`POST …/jobs/{id}:cancel`):
    /// our extension, distinct from `failed`.
    Cancelled,
}

impl std::fmt::Display for DeploymentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeploymentStatus {
    /// Whether the deployment will not change status on its own any more
    /// (its container ended, or it has none).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Stopped | Self::Cancelled
        )
    }

    /// Whether a job in this status has ended for good (what its TTL and
    /// a cancel look at).
    pub fn is_finished_job(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The wire name (also the last part of event routing keys).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Terminating => "terminating",
            Self::Stopped => "stopped",
            Self::Unknown => "unknown",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Resource requests and limits (contaxy's `compute`). Memory and sizes in
/// MB, CPUs in cores.
///
/// Read through [`ComputeWire`]: a `min_memory` left out defaults to
/// 1000 MB, or to `max_memory` when that is lower (contaxy's standard input
/// `{"max_memory": 100}` is accepted); a `min_memory` given above
/// `max_memory` is refused by [`DeploymentInput::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ComputeWire")]
pub struct Compute {
    /// Cores the host must have for it (checked, not reserved).
    pub min_cpus: f64,
    /// CPU limit in cores.
    pub max_cpus: Option<f64>,
    /// Memory the host must have for it, in MB.
    pub min_memory: u64,
    /// Memory limit in MB (a default limit applies when unset).
    pub max_memory: Option<u64>,
    /// GPUs it needs.
    pub min_gpus: Option<u32>,
    /// GPUs attached at most.
    pub max_gpus: Option<u32>,
    /// Where a persistent volume is mounted in the container.
    pub volume_path: Option<String>,
    /// Volume size limit in MB.
    pub max_volume_size: Option<u64>,
    /// Container writable-layer size limit in MB.
    pub max_container_size: Option<u64>,
    /// Replicas at most.
    pub max_replicas: u32,
    /// Seconds it must live before cleanup may stop it.
    pub min_lifetime: u64,
}

impl Default for Compute {
    fn default() -> Self {
        Self {
            min_cpus: 1.0,
            max_cpus: None,
            min_memory: 1000,
            max_memory: None,
            min_gpus: None,
            max_gpus: None,
            volume_path: None,
            max_volume_size: None,
            max_container_size: None,
            max_replicas: 1,
            min_lifetime: 0,
        }
    }
}

/// What a client sends to deploy a service or a job (contaxy's
/// `ServiceInput` / `JobInput`; the service-only fields are refused for jobs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentInput {
    /// The image to run.
    pub container_image: String,
    /// A human name (4–128 characters); the id's slug comes from it.
    pub display_name: Option<String>,
    /// Up to 240 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// An icon name or URL.
    #[serde(default)]
    pub icon: Option<String>,
    /// Free-form labels (numbers and booleans read as strings; the
    /// platform's `ctxy.*` keys dropped: [`super::lenient::metadata`]).
    #[serde(default, deserialize_with = "super::lenient::metadata")]
    pub metadata: BTreeMap<String, String>,
    /// Recorded but not deployed.
    #[serde(default)]
    pub disabled: bool,
    /// Environment variables for the container (`NVIDIA_VISIBLE_DEVICES`
    /// dropped: [`super::lenient::parameters`]).
    #[serde(default, deserialize_with = "super::lenient::parameters")]
    pub parameters: BTreeMap<String, String>,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Overrides the image's CMD.
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// Free-form requirement tags.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Ports it serves (`"8080"`, `"9001/webapp/ui"`).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Resources.
    #[serde(default)]
    pub compute: Compute,
    /// Services only: stop it after this many idle seconds (a float is
    /// rounded: [`super::lenient::whole_seconds`]).
    #[serde(default, deserialize_with = "super::lenient::whole_seconds")]
    pub idle_timeout: Option<u64>,
    /// Services only: empty the volume when stopped.
    #[serde(default)]
    pub clear_volume_on_stop: Option<bool>,
    /// Jobs only (our extension): seconds the job may run once started;
    /// past them it is stopped and marked `failed` ("ran past its deadline
    /// of N s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<u64>,
    /// Jobs only (our extension, named as Kubernetes names it): seconds a
    /// finished job is kept before the cleanup removes its container (its
    /// logs archived first); overrides `CONTAXY_JOB_TTL_SECS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<u64>,
}

/// Bounds that keep absurd values out.
const MAX_CPUS: f64 = 1024.0;
const MAX_MEMORY_MB: u64 = 16 * 1024 * 1024;
const MIN_MEMORY_LIMIT_MB: u64 = 6;
const MAX_GPUS: u32 = 64;
const MAX_REPLICAS: u32 = 100;
const MAX_LIST: usize = 100;
const MAX_ITEM: usize = 4096;
const MAX_PARAM_VALUE: usize = 32 * 1024;
/// All parameters together (names, values and `=`), well under what Linux
/// lets a process's environment be (a job given more dies at exec with
/// "argument list too long").
const MAX_PARAMS_TOTAL: usize = 256 * 1024;
/// Ten years: the longest deadline, TTL or lifetime accepted.
pub const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

impl DeploymentInput {
    /// Checks every field; returns each problem with its field path.
    pub fn validate(&self, kind: DeploymentType) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        check_image(&self.container_image, &mut errors);
        match &self.display_name {
            Some(name) => check_len(&mut errors, "display_name", name, 4, 128),
            None => errors.push("display_name", "is required to deploy"),
        }
        if let Some(description) = &self.description {
            check_len(&mut errors, "description", description, 0, 240);
        }
        if let Some(icon) = &self.icon {
            check_len(&mut errors, "icon", icon, 0, 2000);
        }
        check_map(&mut errors, "metadata", &self.metadata, 1024);
        check_map(&mut errors, "parameters", &self.parameters, MAX_PARAM_VALUE);
        let total: usize = self
            .parameters
            .iter()
            .map(|(k, v)| k.len() + v.len() + 1)
            .sum();
        if total > MAX_PARAMS_TOTAL {
            errors.push(
                "parameters",
                &format!("hold {total} bytes in all; at most {MAX_PARAMS_TOTAL} are allowed"),
            );
        }
        for key in self.parameters.keys() {
            if !is_env_name(key) {
                errors.push(
                    &format!("parameters.{key}"),
                    "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                );
            } else if key.starts_with("CONTAXY_") {
                errors.push(
                    &format!("parameters.{key}"),
                    "CONTAXY_* variables are set by the platform",
                );
            }
        }
        for (field, list) in [
            ("command", self.command.as_deref()),
            ("args", self.args.as_deref()),
        ] {
            check_list(&mut errors, field, list.unwrap_or_default());
        }
        check_list(&mut errors, "requirements", &self.requirements);
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            if parse_endpoint_port(endpoint).is_none() {
                errors.push(
                    &format!("endpoints[{i}]"),
                    "must be a port 1-65535, optionally followed by /path",
                );
            }
        }
        if self.endpoints.len() > MAX_LIST {
            errors.push("endpoints", "too many entries");
        }
        check_compute(&self.compute, &mut errors);
        if kind == DeploymentType::Job {
            if self.idle_timeout.is_some() {
                errors.push("idle_timeout", "applies to services only");
            }
            if self.clear_volume_on_stop.is_some() {
                errors.push("clear_volume_on_stop", "applies to services only");
            }
        } else {
            for (field, value) in [
                ("deadline_seconds", self.deadline_seconds),
                (
                    "ttl_seconds_after_finished",
                    self.ttl_seconds_after_finished,
                ),
            ] {
                if value.is_some() {
                    errors.push(field, "applies to jobs only");
                }
            }
        }
        if self
            .deadline_seconds
            .is_some_and(|s| !(1..=MAX_SECONDS).contains(&s))
        {
            errors.push(
                "deadline_seconds",
                "must be between 1 and ten years in seconds",
            );
        }
        if self
            .ttl_seconds_after_finished
            .is_some_and(|s| s > MAX_SECONDS)
        {
            errors.push(
                "ttl_seconds_after_finished",
                "must be at most ten years in seconds",
            );
        }
        errors.into_result()
    }
}

/// The one image check ([`ImageRef::parse`]), as a field error.
fn check_image(image: &str, errors: &mut FieldErrors) {
    if let Err(error) = ImageRef::parse(image) {
        errors.push("container_image", &error.to_string());
    }
}

fn check_map(
    errors: &mut FieldErrors,
    field: &str,
    map: &BTreeMap<String, String>,
    max_value: usize,
) {
    if map.len() > MAX_LIST {
        errors.push(field, "too many entries");
    }
    for (key, value) in map {
        if key.is_empty() || key.len() > 255 {
            errors.push(
                &format!("{field}.{key}"),
                "keys must be 1 to 255 characters",
            );
        }
        if value.len() > max_value {
            errors.push(
                &format!("{field}.{key}"),
                &format!("is longer than {max_value} bytes"),
            );
        }
    }
}

fn check_list(errors: &mut FieldErrors, field: &str, list: &[String]) {
    if list.len() > MAX_LIST {
        errors.push(field, "too many entries");
    }
    if list
        .iter()
        .any(|item| item.len() > MAX_ITEM || item.contains('\0'))
    {
        errors.push(
            field,
            &format!("entries must be under {MAX_ITEM} bytes, without NUL"),
        );
    }
}

fn check_compute(c: &Compute, errors: &mut FieldErrors) {
    let cpus_ok = |v: f64| v.is_finite() && (0.0..=MAX_CPUS).contains(&v);
    if !cpus_ok(c.min_cpus) {
        errors.push(
            "compute.min_cpus",
            &format!("must be between 0 and {MAX_CPUS}"),
        );
    }
    if let Some(max) = c.max_cpus
        && (!cpus_ok(max) || max < 0.01)
    {
        errors.push(
            "compute.max_cpus",
            &format!("must be between 0.01 and {MAX_CPUS}"),
        );
    }
    if !(4..=MAX_MEMORY_MB).contains(&c.min_memory) {
        errors.push(
            "compute.min_memory",
            &format!("must be between 4 and {MAX_MEMORY_MB} MB"),
        );
    }
    if let Some(max) = c.max_memory
        && !(MIN_MEMORY_LIMIT_MB..=MAX_MEMORY_MB).contains(&max)
    {
        errors.push(
            "compute.max_memory",
            &format!("must be between {MIN_MEMORY_LIMIT_MB} and {MAX_MEMORY_MB} MB"),
        );
    }
    if c.max_cpus.is_some_and(|max| max < c.min_cpus) {
        errors.push("compute.max_cpus", "is below min_cpus (default 1)");
    }
    if c.max_memory.is_some_and(|max| max < c.min_memory) {
        errors.push("compute.max_memory", "is below min_memory");
    }
    for (field, value) in [
        ("compute.min_gpus", c.min_gpus),
        ("compute.max_gpus", c.max_gpus),
    ] {
        if value.is_some_and(|v| v > MAX_GPUS) {
            errors.push(field, &format!("must be at most {MAX_GPUS}"));
        }
    }
    if let (Some(min), Some(max)) = (c.min_gpus, c.max_gpus)
        && min > max
    {
        errors.push("compute.min_gpus", "must not exceed max_gpus");
    }
    if let Some(path) = &c.volume_path {
        let bad = !path.starts_with('/')
            || path == "/"
            || path.split('/').any(|p| p == "..")
            || path.len() > 1024;
        if bad || path.contains(['\0', ':', ',']) {
            errors.push(
                "compute.volume_path",
                "must be an absolute path other than /, without ..",
            );
        }
    }
    for (field, value) in [
        ("compute.max_volume_size", c.max_volume_size),
        ("compute.max_container_size", c.max_container_size),
    ] {
        if value.is_some_and(|v| !(1..=MAX_MEMORY_MB * 64).contains(&v)) {
            errors.push(field, "must be at least 1 MB and not absurd");
        }
    }
    if !(1..=MAX_REPLICAS).contains(&c.max_replicas) {
        errors.push(
            "compute.max_replicas",
            &format!("must be between 1 and {MAX_REPLICAS}"),
        );
    }
    if c.min_lifetime > MAX_SECONDS {
        errors.push("compute.min_lifetime", "must be at most ten years");
    }
}

fn is_env_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The port of an endpoint (`"8080"` or `"9001/webapp/ui"`).
pub fn parse_endpoint_port(endpoint: &str) -> Option<u16> {
    let port = endpoint.split_once('/').map_or(endpoint, |(port, _)| port);
    if endpoint.chars().any(char::is_whitespace) || port.starts_with('0') {
        return None;
    }
    port.parse::<u16>().ok().filter(|p| *p > 0)
}

/// The id of a deployment: `{namespace}-p-{project}--{s|j}-{slug}` (jobs add
/// `-{suffix}` so repeats do not clash), at most 63 characters so it is a
/// valid container name and DNS label. The double hyphen ends the project:
/// a project id never holds one, nor does a slug, so two projects can never
/// make the same id (`demo-s-x` + `y` and `demo` + `x s y` would, with one).
pub fn deployment_id(
    namespace: &str,
    project_id: &str,
    kind: DeploymentType,
    display_name: &str,
    job_suffix: &str,
) -> String {
    let prefix = format!("{namespace}-p-{project_id}--{}-", kind.id_letter());
    let suffix = match kind {
        DeploymentType::Service => String::new(),
        DeploymentType::Job => format!("-{job_suffix}"),
    };
    let room = 63usize.saturating_sub(prefix.len() + suffix.len()).max(1);
    let mut slug = slugify(display_name);
    slug.truncate(room);
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "x" } else { slug };
    format!("{prefix}{slug}{suffix}")
}

/// Checks the `min_*` requests against what the largest host offers; a
/// request no host can meet is refused before anything is recorded.
pub fn check_capacity(compute: &Compute, host: &HostCapacity) -> Result<(), FieldErrors> {
    let HostCapacity { cpus, memory_bytes } = *host;
    let mut errors = FieldErrors::default();
    if compute.min_cpus > cpus {
        errors.push(
            "compute.min_cpus",
            &format!(
                "asks for {} cores; the largest host has {cpus}",
                compute.min_cpus
            ),
        );
    }
    if compute.max_cpus.is_some_and(|max| max > cpus) {
        errors.push(
            "compute.max_cpus",
            &format!("is above the {cpus} cores of the largest host"),
        );
    }
    let mib = 1024 * 1024;
    if compute.min_memory.saturating_mul(mib) > memory_bytes {
        errors.push(
            "compute.min_memory",
            &format!(
                "asks for {} MB; the largest host has {} MB",
                compute.min_memory,
                memory_bytes / mib
            ),
        );
    }
    errors.into_result()
}

/// Lower-case letters and digits, runs of anything else as one `-`.
fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
#[path = "deployment_tests.rs"]
mod tests;

#[path = "deployment_compute.rs"]
mod compute_wire;
use compute_wire::ComputeWire;
