//! Changing files: uploads (streamed, see [`crate::files::upload`]),
//! metadata merges and deletes.

use axum::Json;
use axum::extract::Multipart;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use contaxy_common::domain::file::FileKey;
use contaxy_common::domain::validation::{FieldErrors, check_len};
use contaxy_common::storage::upload::NewObject;
use serde::Deserialize;
use utoipa::IntoParams;

use super::read::describe;
use super::wire::{File, FileInput};
use super::{FileKeyText, VersionQuery};
use crate::auth::{ProjectAccess, Write};
use crate::error::{ApiError, ErrorBody};
use crate::files::metadata::{self, FileMetadata};
use crate::files::upload::{stream_field, too_large};
use crate::files::{not_found, on_file};
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;

/// What a multipart body may carry besides the file itself (boundaries,
/// part headers, small fields), over the upload limit.
const MULTIPART_SLACK_BYTES: u64 = 64 * 1024;

/// The multipart body of an upload (for the document).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file's bytes; the part's content type is stored (else it is
    /// sniffed).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads a file (a new version when the key exists): multipart field
/// `file`, `x-amz-meta-*` headers become its metadata. Streamed to the
/// object storage part by part; the MD5 digest is computed on the way.
/// Over `CONTAXY_API_MAX_UPLOAD_BYTES`: 413. Needs `write`.
#[utoipa::path(post, path = "/projects/{project_id}/files/{file_key}", tag = "files",
    params(("project_id" = ProjectIdText, Path), ("file_key" = FileKeyText, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = File), (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn upload_file(
    state: &AppState,
    access: &ProjectAccess<Write>,
    key: &FileKey,
    headers: &HeaderMap,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let limits = state.file_limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| {
        length
            > limits
                .max_upload_bytes
                .saturating_add(MULTIPART_SLACK_BYTES)
    }) {
        return Err(too_large(limits.max_upload_bytes));
    }
    let file_metadata = FileMetadata {
        created_by: Some(access.caller.subject.to_string()),
        user: metadata::from_headers(headers)?,
        ..FileMetadata::default()
    };
    // Checked before any byte goes out.
    file_metadata.to_s3()?;
    let location = state.storage.ensure(access.project.as_str()).await?;
    while let Some(field) = form.next_field().await.map_err(|e| {
        ApiError::Invalid(format!("The upload could not be read: {}", e.body_text()))
    })? {
        if field.name() != Some("file") {
            continue;
        }
        let uploaded = stream_field(
            &state.storage,
            &location,
            key,
            limits,
            field,
            &file_metadata,
        )
        .await?;
        tracing::info!(
            project_id = %access.project,
            bytes = uploaded.size,
            "A file was uploaded."
        );
        let file = describe(state, &location, key, Some(&uploaded.version)).await?;
        return Ok(Json(file).into_response());
    }
    Err(ApiError::Invalid(
        "The upload has no multipart field named `file`.".to_owned(),
    ))
}

/// Merges `input` into a file's metadata. S3 keeps a version's metadata
/// as it was written, so the change is a new current version with the same
/// bytes (copied inside S3); only the current version can be changed (409
/// for an older one). Needs `write`.
#[utoipa::path(patch, path = "/projects/{project_id}/files/{file_key}", tag = "files",
    params(("project_id" = ProjectIdText, Path), ("file_key" = FileKeyText, Path), VersionQuery),
    request_body = FileInput,
    responses((status = 200, body = File), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update_file(
    state: &AppState,
    access: &ProjectAccess<Write>,
    key: &FileKey,
    query: &VersionQuery,
    input: FileInput,
) -> Result<Response, ApiError> {
    let location = state.storage.location(access.project.as_str());
    let version = query.version.as_deref();
    let head = state
        .storage
        .head(&location, key, version)
        .await
        .map_err(|e| on_file(e, key, version))?;
    if version.is_some() {
        let current = state
            .storage
            .head(&location, key, None)
            .await
            .map_err(|e| on_file(e, key, None))?;
        if current.version != head.version {
            return Err(ApiError::Conflict(format!(
                "Version `{}` of file `{key}` is not the current one; only the current version's metadata can change (S3 keeps a version's metadata as written).",
                head.version
            )));
        }
    }
    let mut merged = FileMetadata::from_s3(&head.metadata);
    merge(&mut merged, input)?;
    merged.updated_by = Some(access.caller.subject.to_string());
    let object = NewObject {
        content_type: head.content_type.clone().unwrap_or_default(),
        metadata: merged.to_s3()?,
    };
    let written = state
        .storage
        .copy_with_metadata(&location, key, &head.version, head.size, &object)
        .await
        .map_err(|e| on_file(e, key, Some(&head.version)))?;
    let file = describe(state, &location, key, Some(&written.version)).await?;
    Ok(Json(file).into_response())
}

/// Applies a PATCH body: set fields replace, `null` leaves a field alone,
/// and in `metadata` a `null` value removes the key.
fn merge(metadata: &mut FileMetadata, input: FileInput) -> Result<(), ApiError> {
    // contaxy's limits, so its client can read the answer back.
    let mut errors = FieldErrors::default();
    if let Some(name) = &input.display_name {
        check_len(&mut errors, "display_name", name, 4, 128);
    }
    if let Some(description) = &input.description {
        check_len(&mut errors, "description", description, 0, 240);
    }
    if let Some(icon) = &input.icon {
        check_len(&mut errors, "icon", icon, 0, 2000);
    }
    errors.into_result()?;
    if let Some(name) = input.display_name {
        metadata.display_name = Some(name);
    }
    if let Some(description) = input.description {
        metadata.description = description;
    }
    if let Some(icon) = input.icon {
        metadata.icon = Some(icon);
    }
    if let Some(disabled) = input.disabled {
        metadata.disabled = disabled;
    }
    for (name, value) in input.metadata.unwrap_or_default() {
        let name = metadata::check_name(&name)?;
        match value {
            Some(value) => {
                metadata::check_value(&name, &value)?;
                metadata.user.insert(name, value);
            }
            None => {
                metadata.user.remove(&name);
            }
        }
    }
    Ok(())
}

/// The query of a delete.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Delete only this version.
    pub version: Option<String>,
    /// Without `version`: delete every version but the current one.
    #[serde(default, deserialize_with = "crate::query::flag")]
    #[param(value_type = Option<bool>)]
    pub keep_latest_version: bool,
}

/// Deletes one version of a file (`version`), every version but the
/// current one (`keep_latest_version=true`), or the whole file with every
/// version (the default). Needs `write`.
#[utoipa::path(delete, path = "/projects/{project_id}/files/{file_key}", tag = "files",
    params(("project_id" = ProjectIdText, Path), ("file_key" = FileKeyText, Path), DeleteQuery),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn delete_file(
    state: &AppState,
    access: &ProjectAccess<Write>,
    key: &FileKey,
    query: &DeleteQuery,
) -> Result<Response, ApiError> {
    let location = state.storage.location(access.project.as_str());
    let versions = match state.storage.versions_of(&location, key).await {
        Ok(versions) => versions,
        Err(contaxy_common::storage::StorageError::NotFound(_)) => Vec::new(),
        Err(error) => return Err(error.into()),
    };
    let doomed: Vec<String> = match query.version.as_deref() {
        Some(version) => {
            if !versions.iter().any(|v| v.version == version) {
                return Err(not_found(key, Some(version)));
            }
            vec![version.to_owned()]
        }
        None => {
            if !versions.iter().any(|v| !v.delete_marker) {
                return Err(not_found(key, None));
            }
            versions
                .iter()
                .filter(|v| !(query.keep_latest_version && v.is_latest))
                .map(|v| v.version.clone())
                .collect()
        }
    };
    state
        .storage
        .delete_versions(&location, key, &doomed)
        .await?;
    tracing::info!(
        project_id = %access.project,
        versions = doomed.len(),
        "File versions were deleted."
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_patch_merges_and_null_removes() {
        let mut metadata = FileMetadata {
            description: "old".to_owned(),
            user: BTreeMap::from([
                ("keep".to_owned(), "1".to_owned()),
                ("drop".to_owned(), "2".to_owned()),
            ]),
            ..FileMetadata::default()
        };
        let input = FileInput {
            display_name: Some("Report".to_owned()),
            metadata: Some(BTreeMap::from([
                ("drop".to_owned(), None),
                ("Added".to_owned(), Some("3".to_owned())),
            ])),
            ..FileInput::default()
        };
        merge(&mut metadata, input).expect("valid");
        assert_eq!(metadata.display_name.as_deref(), Some("Report"));
        assert_eq!(metadata.description, "old");
        assert_eq!(
            metadata.user,
            BTreeMap::from([
                ("added".to_owned(), "3".to_owned()),
                ("keep".to_owned(), "1".to_owned()),
            ])
        );
        let bad = FileInput {
            metadata: Some(BTreeMap::from([(
                "contaxy-md5".to_owned(),
                Some("x".to_owned()),
            )])),
            ..FileInput::default()
        };
        assert!(merge(&mut metadata, bad).is_err());
        let short = FileInput {
            display_name: Some("abc".to_owned()),
            ..FileInput::default()
        };
        assert!(merge(&mut metadata, short).is_err());
    }
}
