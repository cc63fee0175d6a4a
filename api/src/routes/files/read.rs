//! Reading files: the listing, one file's metadata, and downloads (whole or
//! a range, streamed from S3 as it arrives).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use contaxy_common::domain::file::FileKey;
use contaxy_common::storage::objects::VersionRef;
use contaxy_common::storage::{Location, StorageError};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use utoipa::IntoParams;

use super::wire::{File, History};
use super::{FileKeyText, VersionQuery};
use crate::auth::{ProjectAccess, Read};
use crate::error::{ApiError, ErrorBody};
use crate::files::on_file;
use crate::files::range::{self, Selected};
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;

/// Most versions one listing returns; a longer one is cut and says so in
/// [`TRUNCATED_HEADER`].
pub const MAX_LISTED: usize = 10_000;
/// Set to `true` on a listing cut at [`MAX_LISTED`].
pub const TRUNCATED_HEADER: &str = "x-contaxy-truncated";

/// The query of the listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// List keys below every `/` (default), or only those directly under
    /// `prefix`.
    #[serde(default = "yes", deserialize_with = "crate::query::flag")]
    #[param(value_type = Option<bool>)]
    pub recursive: bool,
    /// Every version of each file, not only the current one.
    #[serde(default, deserialize_with = "crate::query::flag")]
    #[param(value_type = Option<bool>)]
    pub include_versions: bool,
}

fn yes() -> bool {
    true
}

/// Lists the project's files (their current versions, or every version).
/// Entries carry what S3's listing knows: no content type, metadata or
/// digest (`:metadata` has them). At most 10,000 versions; a longer listing
/// is cut and has `X-Contaxy-Truncated: true`. Needs `read`.
#[utoipa::path(get, path = "/projects/{project_id}/files", tag = "files",
    params(("project_id" = ProjectIdText, Path), ListQuery),
    responses((status = 200, body = Vec<File>), (status = 503, body = ErrorBody)))]
pub async fn list_files(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let prefix = query.prefix.unwrap_or_default();
    if prefix.len() > contaxy_common::domain::file::MAX_KEY_CHARS
        || prefix.chars().any(char::is_control)
    {
        return Err(ApiError::Invalid(
            "`prefix` must be at most 1024 characters without control characters.".to_owned(),
        ));
    }
    let location = state.storage.location(access.project.as_str());
    let listing = match state
        .storage
        .list_versions(&location, &prefix, !query.recursive, MAX_LISTED)
        .await
    {
        Ok(listing) => listing,
        // No bucket yet: nothing was ever uploaded.
        Err(StorageError::NotFound(_)) => Default::default(),
        Err(error) => return Err(error.into()),
    };
    let mut histories: HashMap<&FileKey, History> = HashMap::new();
    for listed in &listing.versions {
        let history = histories.entry(&listed.key).or_default();
        history.versions.push(listed.version.clone());
        if listed.is_latest {
            history.latest = Some(listed.version.clone());
        }
        history.created_at = match (history.created_at, listed.last_modified) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let files: Vec<File> = listing
        .versions
        .iter()
        .filter(|listed| query.include_versions || listed.is_latest)
        .map(|listed| {
            let history = histories.get(&listed.key).cloned().unwrap_or_default();
            File::from_listing(listed, location.object_key(&listed.key), &history)
        })
        .collect();
    let mut response = Json(files).into_response();
    if listing.truncated {
        response
            .headers_mut()
            .insert(TRUNCATED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A file's history from its versions.
pub fn history_of(versions: &[VersionRef]) -> History {
    History {
        versions: versions
            .iter()
            .filter(|v| !v.delete_marker)
            .map(|v| v.version.clone())
            .collect(),
        latest: versions
            .iter()
            .find(|v| v.is_latest && !v.delete_marker)
            .map(|v| v.version.clone()),
        created_at: versions.iter().filter_map(|v| v.last_modified).min(),
    }
}

/// Everything known of one version of a file (the current one without
/// `version`).
pub async fn describe(
    state: &AppState,
    location: &Location,
    key: &FileKey,
    version: Option<&str>,
) -> Result<File, ApiError> {
    let head = state
        .storage
        .head(location, key, version)
        .await
        .map_err(|e| on_file(e, key, version))?;
    let (versions, md5) = tokio::join!(
        state.storage.versions_of(location, key),
        state.storage.md5_of(location, key, &head.version)
    );
    let history = history_of(&versions?);
    let md5 = match md5 {
        Ok(md5) => md5,
        Err(StorageError::NotFound(_)) => None,
        Err(error) => return Err(error.into()),
    };
    Ok(File::from_head(
        key,
        location.object_key(key),
        &head,
        &history,
        md5,
    ))
}

/// A file's metadata: one version (the current one without `version`).
/// Needs `read`.
#[utoipa::path(get, path = "/projects/{project_id}/files/{file_key}:metadata", tag = "files",
    params(("project_id" = ProjectIdText, Path), ("file_key" = FileKeyText, Path), VersionQuery),
    responses((status = 200, body = File), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn file_metadata(
    state: &AppState,
    access: &ProjectAccess<Read>,
    key: &FileKey,
    query: &VersionQuery,
) -> Result<Response, ApiError> {
    let location = state.storage.location(access.project.as_str());
    let file = describe(state, &location, key, query.version.as_deref()).await?;
    Ok(Json(file).into_response())
}

/// Downloads a file (or one version), streamed, with `Content-Length`,
/// `Content-Disposition: attachment` and `Range` support (one range: 206;
/// outside the file: 416). Needs `read`.
#[utoipa::path(get, path = "/projects/{project_id}/files/{file_key}:download", tag = "files",
    params(("project_id" = ProjectIdText, Path), ("file_key" = FileKeyText, Path), VersionQuery,
        ("Range" = Option<String>, Header, description = "One byte range, `bytes=a-b`, `bytes=a-` or `bytes=-n`")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The bytes of the range asked for", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn download_file(
    state: &AppState,
    access: &ProjectAccess<Read>,
    key: &FileKey,
    query: &VersionQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let location = state.storage.location(access.project.as_str());
    let version = query.version.as_deref();
    let head = state
        .storage
        .head(&location, key, version)
        .await
        .map_err(|e| on_file(e, key, version))?;
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let selected = range::select(asked, head.size);
    if selected == Selected::Unsatisfiable {
        return Err(ApiError::RangeNotSatisfiable { size: head.size });
    }
    // The version the head found, so the bytes and the head agree even if
    // a new version arrives in between.
    let download = state
        .storage
        .download(&location, key, Some(&head.version), selected.to_header())
        .await
        .map_err(|e| on_file(e, key, Some(&head.version)))?;
    let status = match selected {
        Selected::Part { .. } => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    let content_type = head
        .content_type
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| crate::files::sniff::OCTET_STREAM.to_owned());
    let mut response = (status, Body::from_stream(download.body)).into_response();
    let out = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, content_type);
    set(header::CONTENT_LENGTH, download.content_length.to_string());
    set(header::CONTENT_DISPOSITION, attachment(key.file_name()));
    set(header::ACCEPT_RANGES, "bytes".to_owned());
    if let Some(etag) = &head.etag {
        set(header::ETAG, format!("\"{etag}\""));
    }
    if let Selected::Part { start, end } = selected {
        set(
            header::CONTENT_RANGE,
            format!("bytes {start}-{end}/{}", head.size),
        );
    }
    set(
        header::HeaderName::from_static("x-contaxy-version"),
        head.version.clone(),
    );
    Ok(response)
}

/// `attachment` with the file name twice: plain ASCII for old clients,
/// and RFC 8187 UTF-8 for the rest.
fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_safe_and_keep_unicode() {
        assert_eq!(
            attachment("report.csv"),
            "attachment; filename=\"report.csv\"; filename*=UTF-8''report%2Ecsv"
        );
        assert_eq!(
            attachment("grüße \"x\".txt"),
            "attachment; filename=\"gr__e _x_.txt\"; filename*=UTF-8''gr%C3%BC%C3%9Fe%20%22x%22%2Etxt"
        );
    }
}
