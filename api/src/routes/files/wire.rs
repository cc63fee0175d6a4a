//! The JSON of files: contaxy's `File` and `FileInput`, and the answer of
//! the presigned-URL routes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use contaxy_common::domain::file::FileKey;
use contaxy_common::storage::objects::{ListedVersion, ObjectHead};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::files::metadata::FileMetadata;

/// A file: one version of an object in the project's storage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct File {
    /// Stable per key and version (a hash of both).
    pub id: String,
    /// The file's key (its path in the project).
    pub key: String,
    /// A name for people: the one set, else the key's file name when it
    /// has 4–128 characters (contaxy's limits, which its client checks),
    /// else none.
    pub display_name: Option<String>,
    /// A short description.
    pub description: String,
    /// An icon identifier or URL.
    pub icon: Option<String>,
    /// The client's own key-value pairs (`x-amz-meta-*` on upload).
    pub metadata: BTreeMap<String, String>,
    /// Whether the file is marked disabled.
    pub disabled: bool,
    /// When the file's oldest version still kept was written.
    pub created_at: Option<DateTime<Utc>>,
    /// Who uploaded this version.
    pub created_by: Option<String>,
    /// When this version was written.
    pub updated_at: Option<DateTime<Utc>>,
    /// Who last changed it.
    pub updated_by: Option<String>,
    /// Its MIME type (empty in listings: S3 lists no content types).
    pub content_type: String,
    /// The object's key in its bucket.
    pub external_id: Option<String>,
    /// Everything after the first dot of the file name (`tar.gz`).
    pub file_extension: String,
    /// Size in bytes.
    pub file_size: u64,
    /// This version's id.
    pub version: String,
    /// Every version of the file still kept, newest first.
    pub available_versions: Vec<String>,
    /// Whether this is the current version.
    pub latest_version: bool,
    /// The MD5 digest (hex) computed at upload; none for objects written
    /// around the API (or in listings).
    pub md5_hash: Option<String>,
    /// The object's entity tag.
    pub etag: Option<String>,
    /// Always none: no extension provides files here.
    pub extension_id: Option<String>,
}

/// The fields of a file a PATCH may change. Missing fields (or `null`)
/// stay as they are; in `metadata`, a key set to `null` is removed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileInput {
    /// A name for people, 4–128 characters.
    #[schema(min_length = 4, max_length = 128)]
    pub display_name: Option<String>,
    /// A short description, at most 240 characters.
    #[schema(max_length = 240)]
    pub description: Option<String>,
    /// An icon identifier or URL, at most 2000 characters.
    #[schema(max_length = 2000)]
    pub icon: Option<String>,
    /// Pairs to set (or, with `null`, remove).
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    /// Marks the file disabled.
    pub disabled: Option<bool>,
}

/// A URL that reaches the object storage directly.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresignedUrl {
    /// The URL; it carries its own signature.
    pub url: String,
    /// The method to use with it (`GET` or `PUT`).
    pub method: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The full extension of a file name: everything after its first dot,
/// unless the name starts with it (`.env` has none).
pub fn full_extension(key: &FileKey) -> String {
    let name = key.file_name();
    match name.split_once('.') {
        Some((stem, rest)) if !stem.is_empty() => rest.to_owned(),
        _ => String::new(),
    }
}

fn default_display_name(key: &FileKey) -> Option<String> {
    let name = key.file_name();
    (4..=128)
        .contains(&name.chars().count())
        .then(|| name.to_owned())
}

fn file_id(key: &FileKey, version: &str) -> String {
    let digest = Sha256::digest(format!("{key}\n{version}").as_bytes());
    digest[..20].iter().map(|b| format!("{b:02x}")).collect()
}

/// What S3 says of a file besides one version's head: its versions,
/// newest first, and when the oldest was written.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Version ids, newest first (delete markers left out).
    pub versions: Vec<String>,
    /// The current version, unless a delete marker is.
    pub latest: Option<String>,
    /// When the oldest kept version was written.
    pub created_at: Option<DateTime<Utc>>,
}

impl File {
    /// A file from a version's head, its history and its recorded digest.
    pub fn from_head(
        key: &FileKey,
        object_key: String,
        head: &ObjectHead,
        history: &History,
        md5_hash: Option<String>,
    ) -> Self {
        let metadata = FileMetadata::from_s3(&head.metadata);
        Self {
            id: file_id(key, &head.version),
            key: key.to_string(),
            display_name: metadata.display_name.or_else(|| default_display_name(key)),
            description: metadata.description,
            icon: metadata.icon,
            metadata: metadata.user,
            disabled: metadata.disabled,
            created_at: history.created_at.or(head.last_modified),
            created_by: metadata.created_by,
            updated_at: head.last_modified,
            updated_by: metadata.updated_by,
            content_type: head.content_type.clone().unwrap_or_default(),
            external_id: Some(object_key),
            file_extension: full_extension(key),
            file_size: head.size,
            version: head.version.clone(),
            available_versions: history.versions.clone(),
            latest_version: history.latest.as_deref() == Some(head.version.as_str()),
            md5_hash,
            etag: head.etag.clone(),
            extension_id: None,
        }
    }

    /// A file from a listing, which knows no content type, metadata or
    /// digest.
    pub fn from_listing(listed: &ListedVersion, object_key: String, history: &History) -> Self {
        Self {
            id: file_id(&listed.key, &listed.version),
            key: listed.key.to_string(),
            display_name: default_display_name(&listed.key),
            description: String::new(),
            icon: None,
            metadata: BTreeMap::new(),
            disabled: false,
            created_at: history.created_at.or(listed.last_modified),
            created_by: None,
            updated_at: listed.last_modified,
            updated_by: None,
            content_type: String::new(),
            external_id: Some(object_key),
            file_extension: full_extension(&listed.key),
            file_size: listed.size,
            version: listed.version.clone(),
            available_versions: history.versions.clone(),
            latest_version: listed.is_latest,
            md5_hash: None,
            etag: listed.etag.clone(),
            extension_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_everything_after_the_first_dot() {
        let cases = [
            ("data/run.tar.gz", "tar.gz"),
            ("a.csv", "csv"),
            (".env", ""),
            ("dir.d/README", ""),
        ];
        for (key, want) in cases {
            assert_eq!(
                full_extension(&FileKey::parse(key).expect("key")),
                want,
                "{key}"
            );
        }
    }
}
