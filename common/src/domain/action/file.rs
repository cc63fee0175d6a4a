//! `file.*`: the slow or bulk work on a project's files, done by a worker
//! (the API streams single uploads and downloads itself).

use super::{ActionFamily, ActionKind, InvalidAction, payload_of, to_json};
use crate::domain::payload::{
    FileCopyPayload, FileDeleteByDatePayload, FileDeletePayload, InvalidFilePayload,
};

/// `file.*`: files of the action's project.
#[derive(Debug, Clone, PartialEq)]
pub enum FileAction {
    /// Remove files, each wholly or one version of it.
    Delete(FileDeletePayload),
    /// Remove every version and delete marker modified in a date range.
    DeleteByDate(FileDeleteByDatePayload),
    /// Copy a file to another key.
    Copy(FileCopyPayload),
    /// Copy a file to another key, then remove it.
    Move(FileCopyPayload),
    /// Remove all of the project's storage.
    DeleteStorage,
}

impl FileAction {
    /// The file action a kind of the file family and a payload describe.
    pub(super) fn parse(
        kind: ActionKind,
        payload: &serde_json::Value,
    ) -> Result<Self, InvalidAction> {
        let checked = |result: Result<(), InvalidFilePayload>| {
            result.map_err(|problem| InvalidAction::File { kind, problem })
        };
        Ok(match kind {
            ActionKind::FileDelete => {
                let payload: FileDeletePayload = payload_of(kind, payload)?;
                checked(payload.check())?;
                Self::Delete(payload)
            }
            ActionKind::FileDeleteByDate => {
                let payload: FileDeleteByDatePayload = payload_of(kind, payload)?;
                checked(payload.check())?;
                Self::DeleteByDate(payload)
            }
            ActionKind::FileCopy => {
                let payload: FileCopyPayload = payload_of(kind, payload)?;
                checked(payload.check(false))?;
                Self::Copy(payload)
            }
            ActionKind::FileMove => {
                let payload: FileCopyPayload = payload_of(kind, payload)?;
                checked(payload.check(true))?;
                Self::Move(payload)
            }
            ActionKind::FileDeleteStorage => Self::DeleteStorage,
            other => {
                return Err(InvalidAction::NotOfFamily {
                    kind: other,
                    family: ActionFamily::File,
                });
            }
        })
    }

    /// Its wire name.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Delete(_) => ActionKind::FileDelete,
            Self::DeleteByDate(_) => ActionKind::FileDeleteByDate,
            Self::Copy(_) => ActionKind::FileCopy,
            Self::Move(_) => ActionKind::FileMove,
            Self::DeleteStorage => ActionKind::FileDeleteStorage,
        }
    }

    /// Its parameters as the wire carries them.
    pub fn payload(&self) -> serde_json::Value {
        match self {
            Self::Delete(payload) => to_json(payload),
            Self::DeleteByDate(payload) => to_json(payload),
            Self::Copy(payload) | Self::Move(payload) => to_json(payload),
            Self::DeleteStorage => serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}
