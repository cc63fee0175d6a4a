//! Presigned URLs: a client moves a large file straight to or from the
//! object storage, without the API in the path. The URL carries its own
//! signature and stops working after `expires_in` seconds (1 s to 7 days,
//! S3's longest).
//!
//! An upload through such a URL bypasses the API: no size limit, no MD5
//! record, no metadata from headers; the object storage must be reachable
//! by the client at `CONTAXY_S3_ENDPOINT`.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use contaxy_common::domain::file::FileKey;
use serde::Deserialize;
use utoipa::IntoParams;

use super::FileKeyText;
use super::wire::PresignedUrl;
use crate::auth::{ProjectAccess, Read, Write};
use crate::error::{ApiError, ErrorBody};
use crate::files::on_file;
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;

/// Validity of a URL when the query names none.
const DEFAULT_EXPIRY_SECS: u64 = 3600;
/// Longest validity (S3's limit for SigV4).
const MAX_EXPIRY_SECS: u64 = 7 * 24 * 3600;

/// The query of the presigned-URL routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PresignQuery {
    /// How long the URL works, in seconds (1 to 604800; default 3600).
    pub expires_in: Option<u64>,
    /// For a download: this version instead of the current one.
    pub version: Option<String>,
}

fn expiry(query: &PresignQuery) -> Result<Duration, ApiError> {
    let seconds = query.expires_in.unwrap_or(DEFAULT_EXPIRY_SECS);
    if !(1..=MAX_EXPIRY_SECS).contains(&seconds) {
        return Err(ApiError::Invalid(format!(
            "`expires_in` must be between 1 and {MAX_EXPIRY_SECS} seconds, found {seconds}."
        )));
    }
    Ok(Duration::from_secs(seconds))
}

fn answer(url: String, method: &str, valid: Duration) -> Response {
    let expires_at = Utc::now() + chrono::Duration::from_std(valid).unwrap_or_default();
    Json(PresignedUrl {
        url,
        method: method.to_owned(),
        expires_at,
    })
    .into_response()
}

/// A URL to `PUT` the file's bytes to, straight into the object storage
/// (a new version of the key). Needs `write`.
#[utoipa::path(get, path = "/projects/{project_id}/files/{file_key}:upload-url", tag = "files",
    params(("project_id" = ProjectIdText, Path), ("file_key" = FileKeyText, Path), PresignQuery),
    responses((status = 200, body = PresignedUrl), (status = 503, body = ErrorBody)))]
pub async fn upload_url(
    state: &AppState,
    access: &ProjectAccess<Write>,
    key: &FileKey,
    query: &PresignQuery,
) -> Result<Response, ApiError> {
    let valid = expiry(query)?;
    let location = state.storage.ensure(access.project.as_str()).await?;
    let url = state
        .storage
        .presigned_upload(&location, key, valid)
        .await?;
    Ok(answer(url, "PUT", valid))
}

/// A URL to `GET` the file's bytes (or one version's) from, straight from
/// the object storage. Needs `read`; 404 when there is no such file.
#[utoipa::path(get, path = "/projects/{project_id}/files/{file_key}:download-url", tag = "files",
    params(("project_id" = ProjectIdText, Path), ("file_key" = FileKeyText, Path), PresignQuery),
    responses((status = 200, body = PresignedUrl), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn download_url(
    state: &AppState,
    access: &ProjectAccess<Read>,
    key: &FileKey,
    query: &PresignQuery,
) -> Result<Response, ApiError> {
    let valid = expiry(query)?;
    let location = state.storage.location(access.project.as_str());
    let version = query.version.as_deref();
    let head = state
        .storage
        .head(&location, key, version)
        .await
        .map_err(|e| on_file(e, key, version))?;
    let url = state
        .storage
        .presigned_download(&location, key, Some(&head.version), valid)
        .await?;
    Ok(answer(url, "GET", valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_bounded() {
        let at = |s| PresignQuery {
            expires_in: Some(s),
            version: None,
        };
        assert_eq!(
            expiry(&PresignQuery::default()).ok(),
            Some(Duration::from_secs(3600))
        );
        assert!(expiry(&at(0)).is_err());
        assert!(expiry(&at(MAX_EXPIRY_SECS + 1)).is_err());
        assert_eq!(expiry(&at(5)).ok(), Some(Duration::from_secs(5)));
    }
}
