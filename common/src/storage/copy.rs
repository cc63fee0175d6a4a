//! Copying a file (or one version of it) to another key of the same project,
//! server-side, keeping its content type and metadata. Up to 5 GiB it is one
//! `CopyObject`; above, S3 refuses that, so it is a multipart copy
//! (`UploadPartCopy`), aborted if any part fails.

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::{Location, ObjectStore, StorageError};
use crate::domain::file::FileKey;

/// How a copy is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyParts {
    /// Largest object copied with one request (S3: 5 GiB).
    pub single_max: i64,
    /// The size of each part above it (S3: at least 5 MiB but the last).
    pub part_size: i64,
}

impl Default for CopyParts {
    fn default() -> Self {
        Self {
            single_max: 5 << 30,
            part_size: 512 << 20,
        }
    }
}

/// What a copy made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The destination's new version.
    pub version_id: Option<String>,
    /// Bytes copied.
    pub size: i64,
}

/// `x-amz-copy-source`: the bucket and the key, percent-encoded (S3 reads
/// it as a URL path), and the version.
fn copy_source(bucket: &str, object_key: &str, version: Option<&str>) -> String {
    let mut source = format!("{bucket}/{}", encode(object_key, true));
    if let Some(version) = version {
        source.push_str("?versionId=");
        source.push_str(&encode(version, false));
    }
    source
}

/// Percent-encodes all but the unreserved characters (and `/` in a path).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl ObjectStore {
    /// Copies `source` (its `source_version`, or its latest) to
    /// `destination` in the same location, with its content type and
    /// metadata. A source that is missing (or whose latest version is a
    /// delete marker) is [`StorageError::NotFound`].
    pub async fn copy_file(
        &self,
        location: &Location,
        source: &FileKey,
        source_version: Option<&str>,
        destination: &FileKey,
    ) -> Result<Copied, StorageError> {
        self.copy_file_in(
            location,
            source,
            source_version,
            destination,
            CopyParts::default(),
        )
        .await
    }

    /// [`Self::copy_file`] with the split given (tests copy in small parts).
    pub async fn copy_file_in(
        &self,
        location: &Location,
        source: &FileKey,
        source_version: Option<&str>,
        destination: &FileKey,
        parts: CopyParts,
    ) -> Result<Copied, StorageError> {
        let bucket = &location.bucket;
        let source_key = location.object_key(source);
        let destination_key = location.object_key(destination);
        let head = self
            .client()
            .head_object()
            .bucket(bucket)
            .key(&source_key)
            .set_version_id(source_version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| StorageError::from_sdk(&format!("reading {source}"), e))?;
        let size = head.content_length().unwrap_or(0);
        // Copy exactly what was read, even if a newer version lands meanwhile.
        let version = source_version.or(head.version_id());
        let from = copy_source(bucket, &source_key, version);
        if size <= parts.single_max {
            let copied = self
                .client()
                .copy_object()
                .bucket(bucket)
                .key(&destination_key)
                .copy_source(&from)
                .send()
                .await
                .map_err(|e| StorageError::from_sdk(&format!("copying {source}"), e))?;
            return Ok(Copied {
                version_id: copied.version_id().map(str::to_owned),
                size,
            });
        }
        let upload = self
            .client()
            .create_multipart_upload()
            .bucket(bucket)
            .key(&destination_key)
            .set_content_type(head.content_type().map(str::to_owned))
            .set_content_disposition(head.content_disposition().map(str::to_owned))
            .set_content_encoding(head.content_encoding().map(str::to_owned))
            .set_cache_control(head.cache_control().map(str::to_owned))
            .set_metadata(head.metadata().cloned())
            .send()
            .await
            .map_err(|e| StorageError::from_sdk(&format!("starting a copy of {source}"), e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let finished = self
            .copy_parts(bucket, &destination_key, &upload_id, &from, size, parts)
            .await;
        match finished {
            Ok(version_id) => Ok(Copied { version_id, size }),
            Err(error) => {
                // Best effort: an upload left behind is aborted with the
                // project's storage at the latest.
                let _ = self
                    .client()
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(&destination_key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(error)
            }
        }
    }

    async fn copy_parts(
        &self,
        bucket: &str,
        destination_key: &str,
        upload_id: &str,
        from: &str,
        size: i64,
        parts: CopyParts,
    ) -> Result<Option<String>, StorageError> {
        let part_size = parts.part_size.max(1);
        let mut completed = Vec::new();
        let mut start = 0;
        let mut number = 1;
        while start < size {
            let end = (start + part_size).min(size) - 1;
            let part = self
                .client()
                .upload_part_copy()
                .bucket(bucket)
                .key(destination_key)
                .upload_id(upload_id)
                .part_number(number)
                .copy_source(from)
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("copying a part", e))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(
                        part.copy_part_result()
                            .and_then(|r| r.e_tag())
                            .map(str::to_owned),
                    )
                    .build(),
            );
            start = end + 1;
            number += 1;
        }
        let done = self
            .client()
            .complete_multipart_upload()
            .bucket(bucket)
            .key(destination_key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("finishing a copy", e))?;
        Ok(done.version_id().map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_source_is_percent_encoded_but_for_the_slashes_of_the_key() {
        assert_eq!(
            copy_source("b", "dir/a b+ü.txt", None),
            "b/dir/a%20b%2B%C3%BC.txt"
        );
        assert_eq!(
            copy_source("b", "k", Some("v/1+2")),
            "b/k?versionId=v%2F1%2B2"
        );
    }
}
