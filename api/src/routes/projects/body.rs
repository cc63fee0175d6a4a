//! What the project routes accept and answer, with the checks of what they
//! accept (the same limits the document states).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use contaxy_common::store::projects::ProjectRecord;
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::error::ApiError;
use crate::routes::schema::{ProjectIdText, map_of, nullable, text_schema};

/// A new project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    /// 4–25 lower-case letters, digits and single hyphens; `system` is
    /// reserved. See `GET /projects:suggest-id`.
    #[schema(value_type = ProjectIdText)]
    pub id: String,
    /// 4–128 characters.
    #[schema(min_length = 4, max_length = 128, pattern = "^[^\\x00]*$")]
    pub display_name: String,
    /// At most 240 characters.
    #[serde(default)]
    #[schema(max_length = 240, pattern = "^[^\\x00]*$")]
    pub description: String,
    /// An icon (URL or name), at most 2000 characters.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = "^[^\\x00]*$")]
    pub icon: String,
    /// At most 100 keys of 1–128 characters, to values of at most 1024.
    #[serde(default)]
    #[schema(schema_with = metadata_input)]
    pub metadata: BTreeMap<String, String>,
}

/// A change to a project. Absent fields stay as they are; in `metadata`, a
/// key set to `null` is removed and the other keys are set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdate {
    /// 4–128 characters.
    #[schema(min_length = 4, max_length = 128, pattern = "^[^\\x00]*$")]
    pub display_name: Option<String>,
    /// At most 240 characters.
    #[schema(max_length = 240, pattern = "^[^\\x00]*$")]
    pub description: Option<String>,
    /// At most 2000 characters.
    #[schema(max_length = 2000, pattern = "^[^\\x00]*$")]
    pub icon: Option<String>,
    /// Keys to set, or to remove with `null` (at most 100 keys of 1–128
    /// characters, to values of at most 1024).
    #[schema(schema_with = metadata_update)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// A project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    /// Its id.
    pub id: String,
    /// Shown to people.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// An icon.
    pub icon: String,
    /// String keys to string values.
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// Set once its deletion is queued; it then refuses changes (409).
    pub deleting_since: Option<DateTime<Utc>>,
}

impl From<ProjectRecord> for Project {
    fn from(row: ProjectRecord) -> Self {
        Self {
            id: row.id,
            display_name: row.display_name,
            description: row.description,
            icon: row.icon,
            metadata: row.metadata,
            created_at: row.created_at,
            created_by: row.created_by,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
            deleting_since: row.deleting_since,
        }
    }
}

text_schema! {
    /// A project's metadata key: 1–128 characters.
    pub struct MetadataKeyText { pattern: "^[^\\x00]*$", min_length: 1, max_length: 128 }
}

text_schema! {
    /// A project's metadata value: at most 1024 characters.
    pub struct MetadataValueText { pattern: "^[^\\x00]*$", max_length: MAX_METADATA_VALUE }
}

/// A new project's `metadata`.
fn metadata_input() -> Object {
    map_of(
        MetadataKeyText::schema(),
        MetadataValueText::schema(),
        MAX_METADATA_KEYS,
    )
}

/// A change's `metadata`: `null` removes a key; the whole may be `null`.
fn metadata_update() -> RefOr<Schema> {
    let map = map_of(
        MetadataKeyText::schema(),
        nullable(MetadataValueText::schema()),
        MAX_METADATA_KEYS,
    );
    nullable(map.into())
}

const MAX_METADATA_KEYS: usize = 100;
const MAX_METADATA_VALUE: usize = 1024;

pub(super) fn check_len(what: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(ApiError::Invalid(format!(
            "{what} must be {min} to {max} characters long (got {len})."
        )));
    }
    Ok(())
}

pub(crate) fn check_metadata<'a>(
    keys: impl ExactSizeIterator<Item = (&'a String, Option<&'a String>)>,
) -> Result<(), ApiError> {
    if keys.len() > MAX_METADATA_KEYS {
        return Err(ApiError::Invalid(format!(
            "metadata may have at most {MAX_METADATA_KEYS} keys."
        )));
    }
    for (key, value) in keys {
        check_len("A metadata key", key, 1, 128)?;
        if let Some(value) = value {
            check_len("A metadata value", value, 0, MAX_METADATA_VALUE)?;
        }
    }
    Ok(())
}
