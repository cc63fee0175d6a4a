//! What the worker asks a runtime to run: [`DeploymentSpec`], built by the
//! action executor from an accepted action (it is not the API's input type:
//! templates are expanded, tokens injected and ids chosen before it exists).

use std::collections::BTreeMap;
use std::fmt;

/// Service (long-running, restarted unless stopped) or job (runs once).
pub use contaxy_common::domain::deployment::DeploymentType;

/// One deployment to run. The runtime's namespace (one per installation) is
/// not part of it: the runtime is bound to its namespace when it is built,
/// so a spec cannot name another installation's objects. Nor is its
/// network: that is the project's, named from the namespace and the
/// project, and ensured before the deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSpec {
    /// The owning project.
    pub project_id: String,
    /// Deterministic id, unique per installation; the container's name.
    pub deployment_id: String,
    /// Service or job.
    pub kind: DeploymentType,
    /// Image reference, e.g. `registry/name:tag`.
    pub image: String,
    /// Replaces the image's entrypoint when not empty.
    pub command: Vec<String>,
    /// Replaces the image's command (CMD) when not empty.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Shown to people; stored as a label.
    pub display_name: String,
    /// Who asked for it; stored as a label.
    pub created_by: String,
    /// Ports the deployment serves on, inside its project network.
    pub endpoints: Vec<Endpoint>,
    /// Resource requests and limits.
    pub compute: ComputeSpec,
    /// Where a persistent volume is mounted, if any.
    pub volume_path: Option<String>,
    /// Size the volume may grow to, in MiB (recorded on the volume; see the
    /// runtime README for what each backend enforces).
    pub max_volume_size_mb: Option<u64>,
    /// The incarnation of the owning project (`projects.incarnation`): it
    /// enters the volume's name, so a later project with the same id never
    /// mounts the volume of an earlier one. `None` only for specs made
    /// outside a project's record (the runtime's own tests).
    pub project_incarnation: Option<uuid::Uuid>,
}

impl DeploymentSpec {
    /// A spec with only the required parts; the rest empty or default.
    pub fn new(
        project_id: impl Into<String>,
        deployment_id: impl Into<String>,
        kind: DeploymentType,
        image: impl Into<String>,
    ) -> Self {
        Self {
            project_id: project_id.into(),
            deployment_id: deployment_id.into(),
            kind,
            image: image.into(),
            command: Vec::new(),
            args: Vec::new(),
            env: BTreeMap::new(),
            display_name: String::new(),
            created_by: String::new(),
            endpoints: Vec::new(),
            compute: ComputeSpec::default(),
            volume_path: None,
            max_volume_size_mb: None,
            project_incarnation: None,
        }
    }

    /// The reference other operations use to find this deployment.
    pub fn target(&self) -> DeploymentRef {
        DeploymentRef::new(&self.project_id, &self.deployment_id)
    }
}

/// Which deployment an operation is about. The project is part of it so that
/// every lookup is scoped by tenant: naming another project's deployment
/// finds nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeploymentRef {
    /// The owning project.
    pub project_id: String,
    /// The deployment id (the container's name on Docker).
    pub deployment_id: String,
}

impl DeploymentRef {
    /// A reference to `deployment_id` in `project_id`.
    pub fn new(project_id: impl Into<String>, deployment_id: impl Into<String>) -> Self {
        Self {
            project_id: project_id.into(),
            deployment_id: deployment_id.into(),
        }
    }
}

impl fmt::Display for DeploymentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deployment {} of project {}",
            self.deployment_id, self.project_id
        )
    }
}

/// Resources. `min_*` are only checked against the host's capacity; `max_*`
/// become limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComputeSpec {
    /// Cores the deployment needs at least.
    pub min_cpus: Option<f64>,
    /// Cores it may use at most (a CPU limit).
    pub max_cpus: Option<f64>,
    /// Memory it needs at least, MiB.
    pub min_memory_mb: Option<u64>,
    /// Memory it may use at most, MiB (the limit; the runtime's default when
    /// absent, so a limit is always set).
    pub max_memory_mb: Option<u64>,
    /// GPUs to attach.
    pub gpus: Option<u32>,
    /// Most processes it may run (the runtime's default when absent).
    pub pids_limit: Option<i64>,
}

/// A port a deployment serves on, with an optional path prefix, written
/// `"8080"` or `"9001/webapp/ui"` as in contaxy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// TCP port inside the container.
    pub port: u16,
    /// Path below the port, without the leading slash; empty when none.
    pub path: String,
}

impl Endpoint {
    /// Parses `"<port>"` or `"<port>/<path>"`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (port, path) = value.split_once('/').unwrap_or((value, ""));
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("{value:?} does not start with a port 1-65535"))?;
        if path.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(format!("{value:?} has whitespace or a comma in its path"));
        }
        Ok(Self {
            port,
            path: path.to_owned(),
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.port)
        } else {
            write!(f, "{}/{}", self.port, self.path)
        }
    }
}

/// Options of [`crate::runtime::Runtime::delete`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Also remove the deployment's volume (its data is lost).
    pub delete_volumes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_contaxy_writes_them() {
        assert_eq!(
            Endpoint::parse("8080").unwrap(),
            Endpoint {
                port: 8080,
                path: String::new()
            }
        );
        let with_path = Endpoint::parse("9001/webapp/ui").unwrap();
        assert_eq!(
            (with_path.port, with_path.path.as_str()),
            (9001, "webapp/ui")
        );
        for value in ["8080", "9001/webapp/ui", "1", "65535/x"] {
            assert_eq!(Endpoint::parse(value).unwrap().to_string(), value);
        }
    }

    #[test]
    fn endpoints_without_a_valid_port_or_with_separators_in_the_path_are_refused() {
        for bad in [
            "", "0", "65536", "http", "-1", "80a", "/ui", "80/a b", "80/a,b",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for kind in [DeploymentType::Service, DeploymentType::Job] {
            assert_eq!(DeploymentType::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert_eq!(DeploymentType::parse("Service"), None);
    }

    #[test]
    fn a_spec_names_its_own_target() {
        let spec = DeploymentSpec::new("proj", "dep", DeploymentType::Job, "img");
        assert_eq!(spec.target(), DeploymentRef::new("proj", "dep"));
        assert_eq!(spec.target().to_string(), "deployment dep of project proj");
    }
}
