//! Kind-specific payloads of action messages. They make a message
//! self-contained: a worker can act on a `deployment.deploy` published by
//! another system without any row existing yet.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::deployment::{DeploymentInput, DeploymentType};
use super::file::FileKey;

/// Most files one `file.delete` names (a bound on one message and one
/// attempt; more go in several actions).
pub const MAX_FILES_PER_DELETE: usize = 10_000;

/// Longest version id accepted (S3's are about 32 characters).
pub const MAX_VERSION_ID_CHARS: usize = 1024;

/// `deployment.deploy`: what to deploy. The action's `resource_id` is the
/// deployment id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployPayload {
    /// Service or job.
    pub deployment_type: DeploymentType,
    /// The client's input (validated again by the worker).
    pub input: DeploymentInput,
}

/// `deployment.delete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletePayload {
    /// Also delete the deployment's volume.
    #[serde(default)]
    pub delete_volumes: bool,
    /// Archive the container's logs to the project's object storage first
    /// ([`crate::storage::logs_archive`]) and keep the deployment's row, marked
    /// archived: what the finished-job TTL cleanup asks for, so that the
    /// job's record and logs still answer once its container is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archive_logs: bool,
}

/// `deployment.cancel`: stop a job that has not finished and say why. A
/// job that already finished stays as it was (the action is a no-op).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelPayload {
    /// Why it is stopped.
    #[serde(default)]
    pub reason: CancelReason,
}

/// Why a job is cancelled, hence the status it ends in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A client asked (`POST …/jobs/{id}:cancel`): it ends `cancelled`.
    #[default]
    Requested,
    /// It ran past its `deadline_seconds`: it ends `failed`, with the
    /// deadline as its reason.
    Deadline,
}

/// `deployment.restart`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPayload {
    /// Make the container anew from the recorded input (after a change),
    /// keeping its volume; otherwise restart it as it is.
    #[serde(default)]
    pub recreate: bool,
}

/// `network.ensure` and `network.delete` act on the action's project and
/// take no parameters; the payload is an empty object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPayload {}

/// `network.connect` and `network.disconnect`: which deployment of the
/// action's project to attach to, or detach from, the project's network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAttachmentPayload {
    /// The deployment (its id is also its container's name).
    pub deployment_id: String,
}

/// `file.delete`: files of the action's project to remove.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDeletePayload {
    /// 1 to [`MAX_FILES_PER_DELETE`] files.
    pub files: Vec<FileVersionRef>,
}

/// One file, or one version of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVersionRef {
    /// The file.
    pub key: FileKey,
    /// Only this version (for good); absent: every version and delete
    /// marker of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `file.delete_by_date`: every version and delete marker of the project's
/// files last modified in `[date_from, date_to]` (an open end is unbounded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDeleteByDatePayload {
    /// Modified at or after (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_from: Option<DateTime<Utc>>,
    /// Modified at or before (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_to: Option<DateTime<Utc>>,
}

impl FileDeleteByDatePayload {
    /// Whether `modified` is in the range.
    pub fn contains(&self, modified: DateTime<Utc>) -> bool {
        self.date_from.is_none_or(|from| modified >= from)
            && self.date_to.is_none_or(|to| modified <= to)
    }
}

/// `file.copy` and `file.move`: a file (or one version of it) to another key
/// of the same project, with its content type and metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCopyPayload {
    /// The file copied.
    pub source: FileKey,
    /// Which version of it; absent: the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Where the copy goes (a new version there if it exists).
    pub destination: FileKey,
}

/// Why a file payload that reads well is still not an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFilePayload {
    /// `files` is empty or too long.
    #[error("files must name 1 to {MAX_FILES_PER_DELETE} files (it names {0})")]
    FileCount(usize),
    /// A version id is empty or too long.
    #[error("a version must be 1 to {MAX_VERSION_ID_CHARS} characters")]
    Version,
    /// `date_from` is after `date_to`.
    #[error("date_from must not be after date_to")]
    DateOrder,
    /// Copying or moving a file onto itself.
    #[error("source and destination are the same file")]
    SameFile,
}

fn check_version(version: Option<&String>) -> Result<(), InvalidFilePayload> {
    match version {
        Some(v) if v.is_empty() || v.chars().count() > MAX_VERSION_ID_CHARS => {
            Err(InvalidFilePayload::Version)
        }
        _ => Ok(()),
    }
}

impl FileDeletePayload {
    /// Checks the bounds serde cannot.
    pub fn check(&self) -> Result<(), InvalidFilePayload> {
        if !(1..=MAX_FILES_PER_DELETE).contains(&self.files.len()) {
            return Err(InvalidFilePayload::FileCount(self.files.len()));
        }
        self.files
            .iter()
            .try_for_each(|file| check_version(file.version.as_ref()))
    }
}

impl FileDeleteByDatePayload {
    /// Checks the bounds serde cannot.
    pub fn check(&self) -> Result<(), InvalidFilePayload> {
        match (self.date_from, self.date_to) {
            (Some(from), Some(to)) if from > to => Err(InvalidFilePayload::DateOrder),
            _ => Ok(()),
        }
    }
}

impl FileCopyPayload {
    /// Checks the bounds serde cannot. A copy of an older version onto its
    /// own key (a restore) is fine; a move onto itself never is.
    pub fn check(&self, moving: bool) -> Result<(), InvalidFilePayload> {
        check_version(self.source_version.as_ref())?;
        if self.source == self.destination && (moving || self.source_version.is_none()) {
            return Err(InvalidFilePayload::SameFile);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn network_payloads_name_what_they_need_and_nothing_else() {
        let attach: NetworkAttachmentPayload =
            serde_json::from_value(json!({"deployment_id": "ns-p-demo-s-web"})).expect("valid");
        assert_eq!(attach.deployment_id, "ns-p-demo-s-web");
        assert!(serde_json::from_value::<NetworkAttachmentPayload>(json!({})).is_err());
        assert!(
            serde_json::from_value::<NetworkAttachmentPayload>(
                json!({"deployment_id": "x", "extra": 1})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<NetworkPayload>(json!({})).is_ok());
        assert!(
            serde_json::from_value::<NetworkPayload>(json!({"subnet": "10.0.0.0/24"})).is_err()
        );
    }

    #[test]
    fn file_payloads_check_what_serde_cannot() {
        let key = |k: &str| FileKey::parse(k).expect("valid");
        let none = FileDeletePayload { files: vec![] };
        assert_eq!(none.check(), Err(InvalidFilePayload::FileCount(0)));
        let empty_version = FileDeletePayload {
            files: vec![FileVersionRef {
                key: key("a"),
                version: Some(String::new()),
            }],
        };
        assert_eq!(empty_version.check(), Err(InvalidFilePayload::Version));
        let early = "2026-01-01T00:00:00Z".parse().expect("date");
        let late = "2026-02-01T00:00:00Z".parse().expect("date");
        let backwards = FileDeleteByDatePayload {
            date_from: Some(late),
            date_to: Some(early),
        };
        assert_eq!(backwards.check(), Err(InvalidFilePayload::DateOrder));
        let range = FileDeleteByDatePayload {
            date_from: Some(early),
            date_to: Some(late),
        };
        assert!(range.check().is_ok());
        assert!(range.contains(early) && range.contains(late));
        assert!(!range.contains(late + chrono::Duration::milliseconds(1)));
        assert!(FileDeleteByDatePayload::default().contains(early));
        let onto_itself = FileCopyPayload {
            source: key("a"),
            source_version: None,
            destination: key("./a"),
        };
        assert_eq!(onto_itself.check(false), Err(InvalidFilePayload::SameFile));
        let restore = FileCopyPayload {
            source_version: Some("v1".to_owned()),
            ..onto_itself
        };
        assert!(restore.check(false).is_ok());
        assert_eq!(restore.check(true), Err(InvalidFilePayload::SameFile));
    }

    #[test]
    fn a_bad_key_in_a_file_payload_is_refused_naming_the_rule() {
        let refused = serde_json::from_value::<FileDeletePayload>(
            json!({"files": [{"key": "ok"}, {"key": "a/../../b"}]}),
        )
        .expect_err("refused");
        assert!(refused.to_string().contains("'..' segment"), "{refused}");
    }
}
