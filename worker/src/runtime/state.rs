//! What a runtime reports about deployments: their status, their state and
//! changes of status as they happen.

use chrono::{DateTime, Utc};

pub use contaxy_common::domain::deployment::DeploymentStatus;

use super::spec::DeploymentType;

/// A deployment as the runtime sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentState {
    /// The owning project.
    pub project_id: String,
    /// The deployment id.
    pub deployment_id: String,
    /// Service or job.
    pub kind: DeploymentType,
    /// The display name it was created with.
    pub display_name: String,
    /// Its status.
    pub status: DeploymentStatus,
    /// The exit code once it has exited.
    pub exit_code: Option<i64>,
    /// Why it failed beyond the exit code (e.g. `out of memory`), if known.
    pub reason: Option<String>,
    /// The runtime's own id (a container id on Docker).
    pub internal_id: String,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last started, if ever.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last stopped, if it has.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The outcome of a deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// The deployment after the deploy.
    pub state: DeploymentState,
    /// True when an existing deployment of the same id was found and
    /// adopted (a redelivered deploy), false when it was created now.
    pub adopted: bool,
}

/// A change of status reported by the runtime's own events.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// The owning project.
    pub project_id: String,
    /// The deployment id.
    pub deployment_id: String,
    /// Service or job.
    pub kind: DeploymentType,
    /// The new status.
    pub status: DeploymentStatus,
    /// The exit code, for a deployment that exited.
    pub exit_code: Option<i64>,
    /// When the runtime saw it; resume a stream from here after a break.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_use_contaxys_wire_names() {
        let all = [
            (DeploymentStatus::Pending, "pending"),
            (DeploymentStatus::Running, "running"),
            (DeploymentStatus::Succeeded, "succeeded"),
            (DeploymentStatus::Failed, "failed"),
            (DeploymentStatus::Terminating, "terminating"),
            (DeploymentStatus::Stopped, "stopped"),
            (DeploymentStatus::Unknown, "unknown"),
        ];
        for (status, name) in all {
            assert_eq!(status.as_str(), name);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{name}\"")
            );
        }
    }

    #[test]
    fn only_ended_statuses_are_final() {
        use DeploymentStatus::*;
        for status in [Succeeded, Failed, Stopped] {
            assert!(status.is_final(), "{status}");
        }
        for status in [Pending, Running, Terminating, Unknown] {
            assert!(!status.is_final(), "{status}");
        }
    }
}
