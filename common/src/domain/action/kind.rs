//! Action kinds (wire names, also routing keys) and the families they
//! belong to (one work queue each).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The families of actions; each has its own work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionFamily {
    /// Services and jobs.
    Deployment,
    /// Per-project networks.
    Network,
    /// Files in object storage.
    File,
    /// Whole projects (deletion).
    Project,
}

impl ActionFamily {
    /// Every family, for declaring their queues.
    pub const ALL: [ActionFamily; 4] = [Self::Deployment, Self::Network, Self::File, Self::Project];

    /// The wire name (`deployment`, …), also the routing-key prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "deployment",
            Self::Network => "network",
            Self::File => "file",
            Self::Project => "project",
        }
    }
}

/// What an action does. The wire name (`deployment.deploy`) is also the
/// routing key on the `actions` exchange; it is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionKind {
    /// Create (or adopt) a service or job's container.
    #[serde(rename = "deployment.deploy")]
    DeploymentDeploy,
    /// Remove a deployment's container (and volume when asked).
    #[serde(rename = "deployment.delete")]
    DeploymentDelete,
    /// Start a stopped service.
    #[serde(rename = "deployment.start")]
    DeploymentStart,
    /// Stop a running service.
    #[serde(rename = "deployment.stop")]
    DeploymentStop,
    /// Restart a service.
    #[serde(rename = "deployment.restart")]
    DeploymentRestart,
    /// Stop a job that has not finished (cancelled, or past its deadline).
    #[serde(rename = "deployment.cancel")]
    DeploymentCancel,
    /// Create a project's network if missing.
    #[serde(rename = "network.ensure")]
    NetworkEnsure,
    /// Remove a project's network and free its subnet.
    #[serde(rename = "network.delete")]
    NetworkDelete,
    /// Attach a deployment's container to its project's network.
    #[serde(rename = "network.connect")]
    NetworkConnect,
    /// Detach a deployment's container from its project's network.
    #[serde(rename = "network.disconnect")]
    NetworkDisconnect,
    /// Remove files of a project (every version, or given versions).
    #[serde(rename = "file.delete")]
    FileDelete,
    /// Remove a project's file versions last modified in a date range.
    #[serde(rename = "file.delete_by_date")]
    FileDeleteByDate,
    /// Copy a file within its project.
    #[serde(rename = "file.copy")]
    FileCopy,
    /// Move a file within its project.
    #[serde(rename = "file.move")]
    FileMove,
    /// Remove all of a project's storage (every object, version and
    /// delete marker, then its bucket).
    #[serde(rename = "file.delete_storage")]
    FileDeleteStorage,
    /// Remove a project and everything it owns.
    #[serde(rename = "project.delete")]
    ProjectDelete,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 16] = [
        Self::DeploymentDeploy,
        Self::DeploymentDelete,
        Self::DeploymentStart,
        Self::DeploymentStop,
        Self::DeploymentRestart,
        Self::DeploymentCancel,
        Self::NetworkEnsure,
        Self::NetworkDelete,
        Self::NetworkConnect,
        Self::NetworkDisconnect,
        Self::FileDelete,
        Self::FileDeleteByDate,
        Self::FileCopy,
        Self::FileMove,
        Self::FileDeleteStorage,
        Self::ProjectDelete,
    ];

    /// The wire name, e.g. `deployment.deploy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeploymentDeploy => "deployment.deploy",
            Self::DeploymentDelete => "deployment.delete",
            Self::DeploymentStart => "deployment.start",
            Self::DeploymentStop => "deployment.stop",
            Self::DeploymentRestart => "deployment.restart",
            Self::DeploymentCancel => "deployment.cancel",
            Self::NetworkEnsure => "network.ensure",
            Self::NetworkDelete => "network.delete",
            Self::NetworkConnect => "network.connect",
            Self::NetworkDisconnect => "network.disconnect",
            Self::FileDelete => "file.delete",
            Self::FileDeleteByDate => "file.delete_by_date",
            Self::FileCopy => "file.copy",
            Self::FileMove => "file.move",
            Self::FileDeleteStorage => "file.delete_storage",
            Self::ProjectDelete => "project.delete",
        }
    }

    /// The family, hence the queue, this kind goes to.
    pub fn family(self) -> ActionFamily {
        match self {
            Self::DeploymentDeploy
            | Self::DeploymentDelete
            | Self::DeploymentStart
            | Self::DeploymentStop
            | Self::DeploymentRestart
            | Self::DeploymentCancel => ActionFamily::Deployment,
            Self::NetworkEnsure
            | Self::NetworkDelete
            | Self::NetworkConnect
            | Self::NetworkDisconnect => ActionFamily::Network,
            Self::FileDelete
            | Self::FileDeleteByDate
            | Self::FileCopy
            | Self::FileMove
            | Self::FileDeleteStorage => ActionFamily::File,
            Self::ProjectDelete => ActionFamily::Project,
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A wire name that is not an action kind.
#[derive(Debug, thiserror::Error)]
#[error("unknown action kind `{0}`")]
pub struct UnknownActionKind(pub String);

impl FromStr for ActionKind {
    type Err = UnknownActionKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownActionKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_match_serde() {
        for kind in ActionKind::ALL {
            assert_eq!(kind.as_str().parse::<ActionKind>().expect("parses"), kind);
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert!(kind.as_str().starts_with(kind.family().as_str()));
        }
        assert!("deployment.explode".parse::<ActionKind>().is_err());
    }
}
