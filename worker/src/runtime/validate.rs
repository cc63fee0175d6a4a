//! Checks made before anything is created, as pure functions: a spec that
//! fails here fails permanently, with the field named.

use contaxy_common::domain::ImageRef;
use contaxy_common::domain::capacity::HostCapacity;

use super::error::RuntimeError;
use super::spec::DeploymentSpec;

/// Bytes in one MiB: memory sizes are given in MiB, as Docker's `m` suffix.
pub const MIB: u64 = 1024 * 1024;
/// The smallest memory limit Docker accepts is 6 MiB.
pub const MIN_MEMORY_LIMIT_MB: u64 = 6;
/// contaxy's lower bound for `min_memory`.
pub const MIN_MEMORY_REQUEST_MB: u64 = 4;
/// Docker's CPU limit granularity is a hundredth of a core.
pub const MIN_CPU_LIMIT: f64 = 0.01;

/// Checks `spec` on its own and against what the host can give one
/// deployment.
pub fn validate_spec(spec: &DeploymentSpec, host: &HostCapacity) -> Result<(), RuntimeError> {
    check_project_id(&spec.project_id)?;
    check_deployment_id(&spec.deployment_id)?;
    check_image(&spec.image)?;
    for value in spec.command.iter().chain(&spec.args) {
        check_no_nul("command", value)?;
    }
    for (key, value) in &spec.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(RuntimeError::invalid(
                "env",
                format!("{key:?} is not a variable name (empty, or has '=' or NUL)"),
            ));
        }
        check_no_nul("env", value)?;
    }
    check_no_nul("display_name", &spec.display_name)?;
    check_no_nul("created_by", &spec.created_by)?;
    if let Some(path) = &spec.volume_path {
        check_volume_path(path)?;
    }
    if spec.max_volume_size_mb == Some(0) {
        return Err(RuntimeError::invalid(
            "max_volume_size",
            "must be at least 1 MiB",
        ));
    }
    check_compute(spec, host)
}

fn check_compute(spec: &DeploymentSpec, host: &HostCapacity) -> Result<(), RuntimeError> {
    let compute = &spec.compute;
    if let Some(min) = compute.min_cpus {
        if !min.is_finite() || min < 0.0 {
            return Err(RuntimeError::invalid("min_cpus", "must be a number ≥ 0"));
        }
        if min > host.cpus {
            return Err(insufficient(
                "min_cpus",
                format!("{min} cores"),
                host_cpus(host),
            ));
        }
    }
    if let Some(max) = compute.max_cpus {
        if !max.is_finite() || max < MIN_CPU_LIMIT {
            return Err(RuntimeError::invalid(
                "max_cpus",
                "must be at least 0.01 cores",
            ));
        }
        if compute.min_cpus.is_some_and(|min| min > max) {
            return Err(RuntimeError::invalid("max_cpus", "is below min_cpus"));
        }
        // Docker refuses a CPU limit above the host's core count.
        if max > host.cpus {
            return Err(insufficient(
                "max_cpus",
                format!("{max} cores"),
                host_cpus(host),
            ));
        }
    }
    if let Some(min) = compute.min_memory_mb {
        if min < MIN_MEMORY_REQUEST_MB {
            return Err(RuntimeError::invalid(
                "min_memory",
                "must be at least 4 MiB",
            ));
        }
        if min.saturating_mul(MIB) > host.memory_bytes {
            return Err(insufficient(
                "min_memory",
                format!("{min} MiB"),
                format!("{} MiB", host.memory_bytes / MIB),
            ));
        }
    }
    if let Some(max) = compute.max_memory_mb {
        if max < MIN_MEMORY_LIMIT_MB {
            return Err(RuntimeError::invalid(
                "max_memory",
                "must be at least 6 MiB",
            ));
        }
        if compute.min_memory_mb.is_some_and(|min| min > max) {
            return Err(RuntimeError::invalid("max_memory", "is below min_memory"));
        }
    }
    if compute.pids_limit.is_some_and(|pids| pids < 1) {
        return Err(RuntimeError::invalid("pids_limit", "must be at least 1"));
    }
    Ok(())
}

fn insufficient(field: &'static str, requested: String, available: String) -> RuntimeError {
    RuntimeError::InsufficientCapacity {
        field,
        requested,
        available,
    }
}

fn host_cpus(host: &HostCapacity) -> String {
    format!("{} cores", host.cpus)
}

/// Project ids follow contaxy's identifier rule: letters, digits and single
/// hyphens, starting and ending with a letter or digit, at most 63.
pub fn check_project_id(value: &str) -> Result<(), RuntimeError> {
    let ok = (1..=63).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::invalid(
            "project_id",
            format!("{value:?} is not an identifier (letters, digits, single hyphens; 1-63)"),
        ))
    }
}

/// Deployment ids become container and volume names, so they follow Docker's
/// name rule `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, kept to 200 characters.
pub fn check_deployment_id(value: &str) -> Result<(), RuntimeError> {
    let mut chars = value.chars();
    let ok = value.len() <= 200
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::invalid(
            "deployment_id",
            format!("{value:?} is not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, ≤ 200)"),
        ))
    }
}

/// The one image check ([`ImageRef::parse`]): a spec that did not come
/// through the input validation (another system's message) meets it here.
fn check_image(value: &str) -> Result<(), RuntimeError> {
    ImageRef::parse(value)
        .map(|_| ())
        .map_err(|error| RuntimeError::invalid("container_image", format!("{value:?} {error}")))
}

fn check_volume_path(path: &str) -> Result<(), RuntimeError> {
    let ok = path.starts_with('/')
        && path != "/"
        && !path.split('/').any(|part| part == "..")
        && !path.contains('\0')
        && !path.contains(':');
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::invalid(
            "volume_path",
            format!("{path:?} must be an absolute path below / without '..' or ':'"),
        ))
    }
}

fn check_no_nul(field: &'static str, value: &str) -> Result<(), RuntimeError> {
    if value.contains('\0') {
        return Err(RuntimeError::invalid(field, "must not contain NUL"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
