//! Reading and removing a project's objects: one version's head, the
//! versions under a prefix, a (ranged) download as a stream, deletes by
//! version, and presigned URLs.
//!
//! Every call takes the project's [`Location`] and a [`FileKey`], never a
//! raw object key, so nothing here can name another project's objects.
//! Writes (uploads, metadata changes) are in [`super::upload`].

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

use super::{Location, ObjectStore, StorageError};
use crate::domain::file::FileKey;

/// The tag that holds the MD5 digest (hex) the API computed while the file
/// streamed in. A tag, not object metadata: for a multipart upload the
/// digest is known only after the object exists, and tagging a version does
/// not make a new one.
pub const MD5_TAG: &str = "contaxy-md5";

/// Most objects one `DeleteObjects` call may name (an S3 limit).
const DELETE_BATCH: usize = 1000;

/// What S3 knows of one version of an object, from its head.
#[derive(Debug, Clone)]
pub struct ObjectHead {
    /// The version id (`"null"` for objects written before versioning).
    pub version: String,
    /// Size in bytes.
    pub size: u64,
    /// The stored content type, if any.
    pub content_type: Option<String>,
    /// The entity tag, without quotes.
    pub etag: Option<String>,
    /// When this version was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// The object's user metadata (names lower-case, without `x-amz-meta-`).
    pub metadata: HashMap<String, String>,
}

/// One version of an object in a listing.
#[derive(Debug, Clone)]
pub struct ListedVersion {
    /// The file key.
    pub key: FileKey,
    /// The version id.
    pub version: String,
    /// Whether this is the current version (a delete marker never is one
    /// of these).
    pub is_latest: bool,
    /// Size in bytes.
    pub size: u64,
    /// The entity tag, without quotes.
    pub etag: Option<String>,
    /// When this version was written.
    pub last_modified: Option<DateTime<Utc>>,
}

/// The versions under a prefix, and the delete markers that are the current
/// version of their key (those keys are deleted; their older versions are
/// still listed).
#[derive(Debug, Default)]
pub struct Listing {
    /// Object versions, in S3's order (by key, newest version first).
    pub versions: Vec<ListedVersion>,
    /// Keys whose current version is a delete marker.
    pub deleted: Vec<FileKey>,
    /// Folders (with a delimiter), as keys ending with `/`.
    pub folders: Vec<FileKey>,
    /// Whether the listing stopped at its limit.
    pub truncated: bool,
}

/// A version (or a delete marker) of one key, for deleting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    /// The version id.
    pub version: String,
    /// Whether it is the current version.
    pub is_latest: bool,
    /// Whether it is a delete marker.
    pub delete_marker: bool,
    /// When it was written.
    pub last_modified: Option<DateTime<Utc>>,
}

/// A download: the object's bytes as a stream, and what was sent.
#[derive(Debug)]
pub struct Download<S> {
    /// How many bytes the stream yields.
    pub content_length: u64,
    /// The bytes.
    pub body: S,
}

/// Converts S3's time to chrono's.
pub fn to_chrono(time: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

fn size_of(bytes: Option<i64>) -> u64 {
    bytes.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

impl ObjectStore {
    /// The head of a file's current version, or of `version`.
    pub async fn head(
        &self,
        location: &Location,
        key: &FileKey,
        version: Option<&str>,
    ) -> Result<ObjectHead, StorageError> {
        let head = self
            .client()
            .head_object()
            .bucket(&location.bucket)
            .key(location.object_key(key))
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("reading a file's head", e))?;
        Ok(ObjectHead {
            version: head.version_id().unwrap_or("null").to_owned(),
            size: size_of(head.content_length()),
            content_type: head.content_type().map(str::to_owned),
            etag: head.e_tag().map(unquote),
            last_modified: head.last_modified().and_then(to_chrono),
            metadata: head.metadata().cloned().unwrap_or_default(),
        })
    }

    /// The MD5 digest recorded for a version at upload ([`MD5_TAG`]).
    pub async fn md5_of(
        &self,
        location: &Location,
        key: &FileKey,
        version: &str,
    ) -> Result<Option<String>, StorageError> {
        let tags = self
            .client()
            .get_object_tagging()
            .bucket(&location.bucket)
            .key(location.object_key(key))
            .version_id(version)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("reading a file's tags", e))?;
        Ok(tags
            .tag_set()
            .iter()
            .find(|tag| tag.key() == MD5_TAG)
            .map(|tag| tag.value().to_owned()))
    }

    /// Every version under `prefix` (a raw prefix of file keys; empty for
    /// all), at most `limit` of them. With `folders`, keys are listed only
    /// down to the next `/`, deeper ones as folders.
    pub async fn list_versions(
        &self,
        location: &Location,
        prefix: &str,
        folders: bool,
        limit: usize,
    ) -> Result<Listing, StorageError> {
        let mut listing = Listing::default();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = self
                .client()
                .list_object_versions()
                .bucket(&location.bucket)
                .prefix(format!("{}{prefix}", location.prefix))
                .set_delimiter(folders.then(|| "/".to_owned()))
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("listing files", e))?;
            for version in page.versions() {
                let Some(key) = version.key().and_then(|k| location.file_key(k)) else {
                    continue;
                };
                listing.versions.push(ListedVersion {
                    key,
                    version: version.version_id().unwrap_or("null").to_owned(),
                    is_latest: version.is_latest().unwrap_or(false),
                    size: size_of(version.size()),
                    etag: version.e_tag().map(unquote),
                    last_modified: version.last_modified().and_then(to_chrono),
                });
            }
            for marker in page.delete_markers() {
                if marker.is_latest() == Some(true)
                    && let Some(key) = marker.key().and_then(|k| location.file_key(k))
                {
                    listing.deleted.push(key);
                }
            }
            for folder in page.common_prefixes() {
                if let Some(key) = folder.prefix().and_then(|p| location.file_key(p)) {
                    listing.folders.push(key);
                }
            }
            if listing.versions.len() >= limit {
                listing.versions.truncate(limit);
                listing.truncated = true;
                break;
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(listing)
    }

    /// Every version and delete marker of exactly `key`, newest first.
    pub async fn versions_of(
        &self,
        location: &Location,
        key: &FileKey,
    ) -> Result<Vec<VersionRef>, StorageError> {
        let object_key = location.object_key(key);
        let mut found = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = self
                .client()
                .list_object_versions()
                .bucket(&location.bucket)
                .prefix(&object_key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("listing a file's versions", e))?;
            let versions = page
                .versions()
                .iter()
                .filter(|v| v.key() == Some(object_key.as_str()))
                .map(|v| (v.version_id(), v.is_latest(), false, v.last_modified()));
            let markers = page
                .delete_markers()
                .iter()
                .filter(|m| m.key() == Some(object_key.as_str()))
                .map(|m| (m.version_id(), m.is_latest(), true, m.last_modified()));
            let mut page_found: Vec<_> = versions.chain(markers).collect();
            // Newest first, as S3 lists versions of one key.
            page_found.sort_by(|a, b| b.3.cmp(&a.3));
            found.extend(
                page_found
                    .into_iter()
                    .map(|(version, latest, marker, at)| VersionRef {
                        version: version.unwrap_or("null").to_owned(),
                        is_latest: latest.unwrap_or(false),
                        delete_marker: marker,
                        last_modified: at.and_then(to_chrono),
                    }),
            );
            // Past our key: later pages hold only longer keys.
            let past = page
                .next_key_marker()
                .is_some_and(|next| next > object_key.as_str());
            if page.is_truncated() != Some(true) || past {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
        Ok(found)
    }

    /// Deletes the given versions of `key` for good, a thousand per call.
    pub async fn delete_versions(
        &self,
        location: &Location,
        key: &FileKey,
        versions: &[String],
    ) -> Result<(), StorageError> {
        let object_key = location.object_key(key);
        for batch in versions.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|version| {
                    ObjectIdentifier::builder()
                        .key(&object_key)
                        .version_id(version)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StorageError::Refused(format!("naming versions to delete: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StorageError::Refused(format!("naming versions to delete: {e}")))?;
            let answer = self
                .client()
                .delete_objects()
                .bucket(&location.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("deleting file versions", e))?;
            if let Some(error) = answer.errors().first() {
                let code = error.code().unwrap_or("");
                let detail = format!(
                    "deleting file versions: {code} {}",
                    error.message().unwrap_or("")
                );
                return Err(if code == "InternalError" || code == "SlowDown" {
                    StorageError::Unavailable(detail)
                } else {
                    StorageError::Refused(detail)
                });
            }
        }
        Ok(())
    }

    /// The bytes of a version (`version`, else the current one), or of
    /// `range` (an HTTP byte range `bytes=a-b` S3 understands) of them.
    pub async fn download(
        &self,
        location: &Location,
        key: &FileKey,
        version: Option<&str>,
        range: Option<String>,
    ) -> Result<
        Download<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + use<>>,
        StorageError,
    > {
        let object = self
            .client()
            .get_object()
            .bucket(&location.bucket)
            .key(location.object_key(key))
            .set_version_id(version.map(str::to_owned))
            .set_range(range)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("downloading a file", e))?;
        let content_length = size_of(object.content_length());
        let body = futures::stream::unfold(object.body, |mut body| async move {
            body.next()
                .await
                .map(|chunk| (chunk.map_err(std::io::Error::other), body))
        });
        Ok(Download {
            content_length,
            body,
        })
    }

    /// A URL that downloads a version (or the current one) without
    /// credentials until `expires_in` has passed.
    pub async fn presigned_download(
        &self,
        location: &Location,
        key: &FileKey,
        version: Option<&str>,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let config = presigning(expires_in)?;
        let request = self
            .client()
            .get_object()
            .bucket(&location.bucket)
            .key(location.object_key(key))
            .set_version_id(version.map(str::to_owned))
            .presigned(config)
            .await
            .map_err(|e| StorageError::from_sdk("presigning a download", e))?;
        Ok(request.uri().to_owned())
    }

    /// A URL a client may `PUT` the file's bytes to, without credentials,
    /// until `expires_in` has passed.
    pub async fn presigned_upload(
        &self,
        location: &Location,
        key: &FileKey,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let config = presigning(expires_in)?;
        let request = self
            .client()
            .put_object()
            .bucket(&location.bucket)
            .key(location.object_key(key))
            .presigned(config)
            .await
            .map_err(|e| StorageError::from_sdk("presigning an upload", e))?;
        Ok(request.uri().to_owned())
    }
}

fn presigning(expires_in: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(expires_in)
        .map_err(|e| StorageError::Refused(format!("presigning: {e}")))
}
