//! `file.*`: the slow or bulk work on a project's files, against the object
//! store (`contaxy_common::storage`), with the same claim, retries and dead
//! letters as every action. Storage that is away is a transient error (the
//! delay queues wait it out); anything else the storage refuses, or a copy
//! whose source is missing, is permanent.
//!
//! Every kind can run again from the start: removing what is gone is
//! success, a copy makes one more version at its destination, and a move
//! whose source is gone but whose destination exists is taken as done (its
//! first attempt got that far).
//!
//! Only copies and moves write, so only they need the project live: a
//! project being deleted gets no new file (its storage would outlive it).
//! Removals run whatever the project's state.

use contaxy_common::domain::action::FileAction;
use contaxy_common::domain::file::FileKey;
use contaxy_common::domain::payload::{FileCopyPayload, FileVersionRef};
use contaxy_common::message::ActionMessage;
use contaxy_common::storage::bulk::StorageRemoved;
use contaxy_common::storage::{Location, StorageError};
use contaxy_common::store::projects;
use serde::Serialize;

use crate::context::ActionContext;
use crate::error::ActionError;

/// Metric: object versions and delete markers removed by file actions, by
/// kind.
const VERSIONS_DELETED: &str = "contaxy_worker_file_versions_deleted_total";

/// What a file action did: the action's `result`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// Object versions and delete markers removed for good.
    pub deleted: u64,
    /// Bytes copied (copy and move).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied_bytes: Option<i64>,
    /// The version the copy made at its destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_version: Option<String>,
    /// Unfinished uploads aborted (`file.delete_storage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted_uploads: Option<u64>,
    /// Whether the project's bucket was removed (`file.delete_storage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_deleted: Option<bool>,
}

impl FileReport {
    /// As the action's `result`.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
}

impl From<StorageRemoved> for FileReport {
    fn from(removed: StorageRemoved) -> Self {
        Self {
            deleted: removed.versions,
            aborted_uploads: Some(removed.uploads),
            bucket_deleted: Some(removed.bucket),
            ..Self::default()
        }
    }
}

/// Executes one `file.*` action.
pub async fn execute(
    ctx: &ActionContext,
    message: &ActionMessage,
    action: &FileAction,
) -> Result<FileReport, ActionError> {
    let project_id = message.project_id.as_str();
    let location = ctx.storage.location(project_id);
    let report = match action {
        FileAction::Delete(payload) => FileReport {
            deleted: ctx.storage.delete_files(&location, &payload.files).await?,
            ..FileReport::default()
        },
        FileAction::DeleteByDate(range) => FileReport {
            deleted: ctx
                .storage
                .delete_versions_where(&location.bucket, &location.prefix, |listed| {
                    listed.last_modified.is_some_and(|at| range.contains(at))
                })
                .await?,
            ..FileReport::default()
        },
        FileAction::Copy(copy) => copy_file(ctx, project_id, copy).await?,
        FileAction::Move(copy) => move_file(ctx, project_id, copy).await?,
        FileAction::DeleteStorage => delete_storage(ctx, project_id).await?.into(),
    };
    metrics::counter!(VERSIONS_DELETED, "kind" => action.kind().as_str()).increment(report.deleted);
    tracing::info!(
        kind = %action.kind(),
        deleted = report.deleted,
        copied_bytes = report.copied_bytes,
        "The file action is done."
    );
    Ok(report)
}

/// Removes all of a project's storage (`file.delete_storage`, and
/// `project.delete` before the project's row goes).
pub(crate) async fn delete_storage(
    ctx: &ActionContext,
    project_id: &str,
) -> Result<StorageRemoved, ActionError> {
    let removed = ctx.storage.delete_storage(project_id).await?;
    tracing::info!(
        project_id,
        versions = removed.versions,
        uploads = removed.uploads,
        bucket = removed.bucket,
        "Removed the project's storage."
    );
    Ok(removed)
}

/// The project's storage, made if missing, for a write: only in a live
/// project.
async fn writable(ctx: &ActionContext, project_id: &str) -> Result<Location, ActionError> {
    if !projects::is_live(&ctx.pool, project_id).await? {
        return Err(ActionError::FilesOfProjectNotLive {
            project_id: project_id.to_owned(),
        });
    }
    Ok(ctx.storage.ensure(project_id).await?)
}

async fn copy_file(
    ctx: &ActionContext,
    project_id: &str,
    copy: &FileCopyPayload,
) -> Result<FileReport, ActionError> {
    let location = writable(ctx, project_id).await?;
    let copied = ctx
        .storage
        .copy_file(
            &location,
            &copy.source,
            copy.source_version.as_deref(),
            &copy.destination,
        )
        .await?;
    Ok(FileReport {
        copied_bytes: Some(copied.size),
        destination_version: copied.version_id,
        ..FileReport::default()
    })
}

/// A copy, then the source goes: the version named, or, with none, the
/// whole file (every version and delete marker).
async fn move_file(
    ctx: &ActionContext,
    project_id: &str,
    copy: &FileCopyPayload,
) -> Result<FileReport, ActionError> {
    let location = writable(ctx, project_id).await?;
    let mut report = match copy_file(ctx, project_id, copy).await {
        Ok(report) => report,
        Err(ActionError::Storage(StorageError::NotFound(missing))) => {
            if exists(ctx, &location, &copy.destination).await? {
                tracing::info!("The source is gone and the destination is there: moved before.");
                return Ok(FileReport::default());
            }
            return Err(StorageError::NotFound(missing).into());
        }
        Err(other) => return Err(other),
    };
    let source = FileVersionRef {
        key: copy.source.clone(),
        version: copy.source_version.clone(),
    };
    report.deleted = ctx.storage.delete_files(&location, &[source]).await?;
    Ok(report)
}

async fn exists(
    ctx: &ActionContext,
    location: &Location,
    key: &FileKey,
) -> Result<bool, ActionError> {
    let versions = ctx.storage.listed_versions_of(location, key).await?;
    Ok(versions.iter().any(|listed| !listed.delete_marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_only_what_its_kind_did() {
        let deleted = FileReport {
            deleted: 1000,
            ..FileReport::default()
        };
        assert_eq!(
            deleted.to_json(),
            Some(serde_json::json!({"deleted": 1000}))
        );
        let storage = FileReport::from(StorageRemoved {
            versions: 3,
            uploads: 1,
            bucket: true,
        });
        assert_eq!(
            storage.to_json(),
            Some(serde_json::json!({"deleted": 3, "aborted_uploads": 1, "bucket_deleted": true}))
        );
    }
}
