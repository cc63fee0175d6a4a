//! Bulk work on a project's objects: listing every version and delete marker
//! page by page (`ListObjectVersions`, up to 1,000 a page) and removing them
//! in batches of at most 1,000 (`DeleteObjects`), so a project with millions
//! of objects is removed in bounded memory.
//!
//! Everything here is idempotent: what is already gone (a version, a key, the
//! bucket itself) counts as removed-before, never as a failure, so a retried
//! or redelivered action that finds half its work done finishes the rest.
//! Counts are of what this call removed.

use std::collections::BTreeSet;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use chrono::{DateTime, Utc};

use super::{Layout, Location, ObjectStore, StorageError};
use crate::domain::file::FileKey;
use crate::domain::payload::FileVersionRef;

/// Most objects one `DeleteObjects` request may name (S3's limit).
pub const DELETE_BATCH: usize = 1000;

/// Per-key listings run at once when deleting named files wholly.
const LISTINGS_AT_ONCE: usize = 8;

/// How often the bucket's removal is tried when objects keep appearing in it
/// (an upload that raced the deletion) before the attempt gives up (and is
/// retried later).
const BUCKET_ROUNDS: usize = 3;

/// One object version or delete marker, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVersion {
    /// Its object key (with the location's prefix).
    pub object_key: String,
    /// Its version id (`null` for one written before versioning).
    pub version_id: Option<String>,
    /// When it was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// A delete marker rather than content.
    pub delete_marker: bool,
}

/// One version (or delete marker) to remove for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionToDelete {
    /// Its object key (with the location's prefix).
    pub object_key: String,
    /// Its version id; `None` removes nothing for good in a versioned
    /// bucket (it writes a delete marker), so callers name versions.
    pub version_id: Option<String>,
}

impl From<ListedVersion> for VersionToDelete {
    fn from(listed: ListedVersion) -> Self {
        Self {
            object_key: listed.object_key,
            version_id: listed.version_id,
        }
    }
}

/// What removing a project's storage removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageRemoved {
    /// Object versions and delete markers.
    pub versions: u64,
    /// Unfinished multipart uploads aborted.
    pub uploads: u64,
    /// Whether the project's own bucket was removed by this call (false in
    /// the shared layout, or when it was already gone).
    pub bucket: bool,
}

/// Where a listing resumes.
type Markers = (Option<String>, Option<String>);

/// The longest prefix two texts share (of the smallest and the largest of
/// a sorted set: every member between them shares it too), cut at a
/// character boundary.
fn common_prefix<'a>(first: &'a str, last: &str) -> &'a str {
    let mut end = 0;
    for ((i, a), b) in first.char_indices().zip(last.chars()) {
        if a != b {
            break;
        }
        end = i + a.len_utf8();
    }
    &first[..end]
}

fn to_chrono(at: &aws_sdk_s3::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.secs(), at.subsec_nanos())
}

impl ObjectStore {
    /// One page of versions and delete markers under `prefix`, from
    /// `markers`; with the markers of the next page, if there is one. A
    /// missing bucket is an empty page.
    async fn versions_page(
        &self,
        bucket: &str,
        prefix: &str,
        markers: Markers,
    ) -> Result<(Vec<ListedVersion>, Option<Markers>), StorageError> {
        let listed = self
            .client()
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(i32::try_from(DELETE_BATCH).unwrap_or(i32::MAX))
            .set_key_marker(markers.0)
            .set_version_id_marker(markers.1)
            .send()
            .await;
        let page = match listed {
            Ok(page) => page,
            Err(error) => {
                return match StorageError::from_sdk("listing object versions", error) {
                    StorageError::NotFound(_) => Ok((Vec::new(), None)),
                    other => Err(other),
                };
            }
        };
        let mut versions = Vec::with_capacity(page.versions().len() + page.delete_markers().len());
        for version in page.versions() {
            versions.push(ListedVersion {
                object_key: version.key().unwrap_or_default().to_owned(),
                version_id: version.version_id().map(str::to_owned),
                last_modified: version.last_modified().and_then(to_chrono),
                delete_marker: false,
            });
        }
        for marker in page.delete_markers() {
            versions.push(ListedVersion {
                object_key: marker.key().unwrap_or_default().to_owned(),
                version_id: marker.version_id().map(str::to_owned),
                last_modified: marker.last_modified().and_then(to_chrono),
                delete_marker: true,
            });
        }
        let next = page.is_truncated().unwrap_or(false).then(|| {
            (
                page.next_key_marker().map(str::to_owned),
                page.next_version_id_marker().map(str::to_owned),
            )
        });
        // A truncated page without markers would list itself again.
        let next = next.filter(|(key, version)| key.is_some() || version.is_some());
        Ok((versions, next))
    }

    /// Removes for good every version and delete marker under `prefix` in
    /// `bucket` that `select` picks, a page at a time; returns how many it
    /// removed.
    pub async fn delete_versions_where(
        &self,
        bucket: &str,
        prefix: &str,
        mut select: impl FnMut(&ListedVersion) -> bool + Send,
    ) -> Result<u64, StorageError> {
        let mut removed = 0;
        let mut markers: Markers = (None, None);
        // A page is removed only after the next one is listed: the next
        // page's markers name the last version of this one, and a server
        // may not resume from a version that no longer exists.
        let mut picked: Vec<VersionToDelete> = Vec::new();
        loop {
            let (page, next) = self.versions_page(bucket, prefix, markers).await?;
            removed += self
                .delete_listed_versions(bucket, std::mem::take(&mut picked))
                .await?;
            picked = page
                .into_iter()
                .filter(|listed| select(listed))
                .map(VersionToDelete::from)
                .collect();
            match next {
                Some(next) => markers = next,
                None => return Ok(removed + self.delete_listed_versions(bucket, picked).await?),
            }
        }
    }

    /// Removes these versions for good, at most [`DELETE_BATCH`] a request;
    /// returns how many were removed. A version or key already gone is not
    /// an error. S3 answers success for a version that was never there, so
    /// a version named by the caller counts whether or not it existed;
    /// counts of what a listing found are exact.
    pub async fn delete_listed_versions(
        &self,
        bucket: &str,
        versions: Vec<VersionToDelete>,
    ) -> Result<u64, StorageError> {
        let mut removed = 0;
        for batch in versions.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|v| {
                    ObjectIdentifier::builder()
                        .key(&v.object_key)
                        .set_version_id(v.version_id.clone())
                        .build()
                        .map_err(|e| StorageError::Refused(format!("naming an object: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StorageError::Refused(format!("naming objects: {e}")))?;
            let answer = self
                .client()
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) => match StorageError::from_sdk("deleting objects", error) {
                    // The bucket is gone, and everything in it.
                    StorageError::NotFound(_) => return Ok(removed),
                    other => return Err(other),
                },
            };
            let mut failed = 0;
            for error in answer.errors() {
                let code = error.code().unwrap_or_default();
                if matches!(code, "NoSuchKey" | "NoSuchVersion") {
                    failed += 1;
                    continue;
                }
                let detail = format!(
                    "deleting {} (version {}): {code} {}",
                    error.key().unwrap_or_default(),
                    error.version_id().unwrap_or("-"),
                    error.message().unwrap_or_default()
                );
                return Err(
                    if matches!(code, "InternalError" | "ServiceUnavailable" | "SlowDown") {
                        StorageError::Unavailable(detail)
                    } else {
                        StorageError::Refused(detail)
                    },
                );
            }
            removed += (batch.len() - failed) as u64;
        }
        Ok(removed)
    }

    /// Every version and delete marker of one file, listed.
    pub async fn listed_versions_of(
        &self,
        location: &Location,
        key: &FileKey,
    ) -> Result<Vec<ListedVersion>, StorageError> {
        let object_key = location.object_key(key);
        let mut found = Vec::new();
        let mut markers: Markers = (None, None);
        loop {
            let (page, next) = self
                .versions_page(&location.bucket, &object_key, markers)
                .await?;
            // Keys sort, and a key sorts before every longer key it
            // prefixes: once another key shows up, this one's are all seen.
            let mut other_key = false;
            for listed in page {
                if listed.object_key == object_key {
                    found.push(listed);
                } else {
                    other_key = true;
                }
            }
            match next {
                Some(next) if !other_key => markers = next,
                _ => return Ok(found),
            }
        }
    }

    /// Removes these files of a project: a named version for good, or, with
    /// no version, every version and delete marker of the file. Returns how
    /// many versions and delete markers it removed.
    pub async fn delete_files(
        &self,
        location: &Location,
        files: &[FileVersionRef],
    ) -> Result<u64, StorageError> {
        let mut doomed: Vec<VersionToDelete> = files
            .iter()
            .filter_map(|file| {
                file.version.as_ref().map(|version| VersionToDelete {
                    object_key: location.object_key(&file.key),
                    version_id: Some(version.clone()),
                })
            })
            .collect();
        let whole: BTreeSet<String> = files
            .iter()
            .filter(|file| file.version.is_none())
            .map(|file| location.object_key(&file.key))
            .collect();
        doomed.extend(self.versions_of_all(location, &whole).await?);
        // A file named twice (or a version named besides its whole file)
        // is removed once.
        doomed.sort_by(|a, b| (&a.object_key, &a.version_id).cmp(&(&b.object_key, &b.version_id)));
        doomed.dedup();
        self.delete_listed_versions(&location.bucket, doomed).await
    }

    /// Every version and delete marker of these objects. Listing each key
    /// costs a request per key; listing everything under their common
    /// prefix costs a request per 1,000 versions there. So the common
    /// prefix is walked first, for at most half as many pages as there are
    /// keys, and the keys it did not reach are listed one by one: never much
    /// more than the cheaper of the two.
    async fn versions_of_all(
        &self,
        location: &Location,
        object_keys: &BTreeSet<String>,
    ) -> Result<Vec<VersionToDelete>, StorageError> {
        let mut found = Vec::new();
        let (Some(first), Some(last)) = (object_keys.first(), object_keys.last()) else {
            return Ok(found);
        };
        let prefix = common_prefix(first, last);
        let mut budget = object_keys.len() / 2;
        let mut markers: Markers = (None, None);
        // Keys before this one have had all their versions listed.
        let mut reached: Option<String> = None;
        while budget > 0 {
            budget -= 1;
            let (page, next) = self
                .versions_page(&location.bucket, prefix, markers)
                .await?;
            let last_listed = page.iter().map(|l| l.object_key.clone()).max();
            found.extend(
                page.into_iter()
                    .filter(|listed| object_keys.contains(&listed.object_key))
                    .map(VersionToDelete::from),
            );
            match next {
                Some(next) => {
                    markers = next;
                    reached = last_listed.or(reached);
                }
                None => return Ok(found),
            }
        }
        // The walk stopped on its budget: the rest key by key (a key whose
        // versions straddle the stop is listed again; duplicates go later).
        let rest: Vec<FileKey> = object_keys
            .iter()
            .filter(|key| reached.as_ref().is_none_or(|r| *key >= r))
            .filter_map(|key| location.file_key(key))
            .collect();
        for keys in rest.chunks(LISTINGS_AT_ONCE) {
            let listings = keys
                .iter()
                .map(|key| self.listed_versions_of(location, key));
            let listed = futures::future::try_join_all(listings).await?;
            found.extend(listed.into_iter().flatten().map(VersionToDelete::from));
        }
        Ok(found)
    }

    /// Removes every object, version and delete marker of the project and
    /// its unfinished uploads, then, in the bucket-per-project layout, its
    /// bucket. What is already gone is success, so it can be run again.
    pub async fn delete_storage(&self, project_id: &str) -> Result<StorageRemoved, StorageError> {
        let location = self.location(project_id);
        let own_bucket = matches!(self.layout(), Layout::BucketPerProject { .. });
        let mut removed = StorageRemoved::default();
        for round in 1..=BUCKET_ROUNDS {
            removed.uploads += self.abort_uploads(&location).await?;
            removed.versions += self
                .delete_versions_where(&location.bucket, &location.prefix, |_| true)
                .await?;
            if !own_bucket {
                return Ok(removed);
            }
            let deleted = self
                .client()
                .delete_bucket()
                .bucket(&location.bucket)
                .send()
                .await;
            let Err(error) = deleted else {
                self.forget(&location.bucket);
                removed.bucket = true;
                return Ok(removed);
            };
            let not_empty = error
                .as_service_error()
                .and_then(ProvideErrorMetadata::code)
                .is_some_and(|code| code == "BucketNotEmpty");
            match StorageError::from_sdk("deleting the bucket", error) {
                StorageError::NotFound(_) => {
                    self.forget(&location.bucket);
                    return Ok(removed);
                }
                // Something was written meanwhile: empty it again.
                _ if not_empty && round < BUCKET_ROUNDS => {}
                // Still being written to: worth another attempt later.
                _ if not_empty => {
                    return Err(StorageError::Unavailable(format!(
                        "bucket {} kept filling up while it was being emptied",
                        location.bucket
                    )));
                }
                other => return Err(other),
            }
        }
        Ok(removed)
    }

    /// Aborts the unfinished multipart uploads under the location (they
    /// hold storage, and keep a bucket from being removed on some servers).
    async fn abort_uploads(&self, location: &Location) -> Result<u64, StorageError> {
        let mut aborted = 0;
        let mut markers: Markers = (None, None);
        loop {
            let listed = self
                .client()
                .list_multipart_uploads()
                .bucket(&location.bucket)
                .prefix(&location.prefix)
                .set_key_marker(markers.0)
                .set_upload_id_marker(markers.1)
                .send()
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(error) => match StorageError::from_sdk("listing uploads", error) {
                    StorageError::NotFound(_) => return Ok(aborted),
                    other => return Err(other),
                },
            };
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                let done = self
                    .client()
                    .abort_multipart_upload()
                    .bucket(&location.bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await;
                match done.map_err(|e| StorageError::from_sdk("aborting an upload", e)) {
                    Ok(_) => aborted += 1,
                    Err(StorageError::NotFound(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            let next = (
                page.next_key_marker().map(str::to_owned),
                page.next_upload_id_marker().map(str::to_owned),
            );
            if !page.is_truncated().unwrap_or(false) || (next.0.is_none() && next.1.is_none()) {
                return Ok(aborted);
            }
            markers = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_prefix_of_the_first_and_last_key_covers_all_between() {
        assert_eq!(common_prefix("batch/0000.txt", "batch/0999.txt"), "batch/0");
        assert_eq!(common_prefix("a.txt", "b.txt"), "");
        assert_eq!(common_prefix("same", "same"), "same");
        assert_eq!(common_prefix("dir/ü1", "dir/ü2"), "dir/ü");
        assert_eq!(common_prefix("dir/ü", "dir/ä"), "dir/");
    }
}
