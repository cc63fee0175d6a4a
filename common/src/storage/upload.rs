//! Writing a project's objects: a small file in one `PutObject`, a large
//! one as a multipart upload fed part by part (a writer holds a part or
//! two in memory, never the file: [`MultipartUpload::part_sender`] lets
//! one part go while the next is read), and a version's metadata
//! changed by copying it onto itself (S3 never changes a version's
//! metadata in place; the copy is a new version, made inside S3).

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, MetadataDirective, Tag, Tagging, TaggingDirective,
};
use bytes::Bytes;

use super::objects::MD5_TAG;
use super::{Location, ObjectStore, StorageError};
use crate::domain::file::FileKey;

/// Most parts one multipart upload may have (an S3 limit).
pub const MAX_PARTS: usize = 10_000;
/// Smallest part but the last (an S3 limit).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;
/// Largest object one `CopyObject` may copy (an S3 limit); larger ones are
/// copied part by part.
const MAX_COPY_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of a copy done part by part.
const COPY_PART_BYTES: u64 = 1024 * 1024 * 1024;

/// What a new object is stored with besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct NewObject {
    /// Its content type.
    pub content_type: String,
    /// Its user metadata (names without `x-amz-meta-`).
    pub metadata: HashMap<String, String>,
}

/// The version a write made.
#[derive(Debug, Clone)]
pub struct Written {
    /// The new version id (`"null"` without versioning).
    pub version: String,
}

/// A multipart upload in progress. [`MultipartUpload::abort`] it on any
/// failure, or S3 keeps its parts (and bills them) until a lifecycle rule
/// removes them.
#[derive(Debug)]
pub struct MultipartUpload {
    store: ObjectStore,
    bucket: String,
    object_key: String,
    upload_id: String,
    /// Parts S3 has, recorded in order.
    parts: Vec<CompletedPart>,
    /// Parts numbered so far (sent or on their way).
    numbered: usize,
}

/// A part S3 has taken, to [`MultipartUpload::record`].
#[derive(Debug)]
pub struct SentPart(CompletedPart);

fn md5_tagging(md5_hex: &str) -> Result<Tagging, StorageError> {
    let tag = Tag::builder()
        .key(MD5_TAG)
        .value(md5_hex)
        .build()
        .map_err(|e| StorageError::Refused(format!("building the MD5 tag: {e}")))?;
    Tagging::builder()
        .tag_set(tag)
        .build()
        .map_err(|e| StorageError::Refused(format!("building the MD5 tag: {e}")))
}

impl ObjectStore {
    /// Writes a file that fits one part in one call. `md5` is the digest of
    /// `bytes`: S3 checks it (`Content-MD5`) and it is recorded as a tag.
    pub async fn put_small(
        &self,
        location: &Location,
        key: &FileKey,
        object: &NewObject,
        bytes: Bytes,
        md5: [u8; 16],
    ) -> Result<Written, StorageError> {
        use base64::Engine as _;
        let md5_hex = hex(&md5);
        let length = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let put = self
            .client()
            .put_object()
            .bucket(&location.bucket)
            .key(location.object_key(key))
            .content_type(&object.content_type)
            .set_metadata(Some(object.metadata.clone()))
            .content_md5(base64::engine::general_purpose::STANDARD.encode(md5))
            .content_length(length)
            .tagging(format!("{MD5_TAG}={md5_hex}"))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("writing a file", e))?;
        Ok(Written {
            version: put.version_id().unwrap_or("null").to_owned(),
        })
    }

    /// Starts a multipart upload of a file.
    pub async fn start_multipart(
        &self,
        location: &Location,
        key: &FileKey,
        object: &NewObject,
    ) -> Result<MultipartUpload, StorageError> {
        let object_key = location.object_key(key);
        let started = self
            .client()
            .create_multipart_upload()
            .bucket(&location.bucket)
            .key(&object_key)
            .content_type(&object.content_type)
            .set_metadata(Some(object.metadata.clone()))
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("starting a multipart upload", e))?;
        let upload_id = started
            .upload_id()
            .ok_or_else(|| StorageError::Refused("a multipart upload without an id".to_owned()))?
            .to_owned();
        Ok(MultipartUpload {
            store: self.clone(),
            bucket: location.bucket.clone(),
            object_key,
            upload_id,
            parts: Vec::new(),
            numbered: 0,
        })
    }

    /// Records `md5_hex` as the digest of a version ([`MD5_TAG`]).
    pub async fn tag_md5(
        &self,
        location: &Location,
        key: &FileKey,
        version: &str,
        md5_hex: &str,
    ) -> Result<(), StorageError> {
        self.client()
            .put_object_tagging()
            .bucket(&location.bucket)
            .key(location.object_key(key))
            .version_id(version)
            .tagging(md5_tagging(md5_hex)?)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("tagging a file", e))?;
        Ok(())
    }

    /// Writes a new current version of `key` with the bytes of `version`
    /// (of `size` bytes) and the given content type and metadata. The MD5
    /// tag goes with it.
    pub async fn copy_with_metadata(
        &self,
        location: &Location,
        key: &FileKey,
        version: &str,
        size: u64,
        object: &NewObject,
    ) -> Result<Written, StorageError> {
        let source = format!(
            "{}/{}?versionId={}",
            location.bucket,
            encode_copy_source(&location.object_key(key)),
            encode_copy_source(version)
        );
        if size <= MAX_COPY_BYTES {
            let copied = self
                .client()
                .copy_object()
                .bucket(&location.bucket)
                .key(location.object_key(key))
                .copy_source(source)
                .metadata_directive(MetadataDirective::Replace)
                .tagging_directive(TaggingDirective::Copy)
                .content_type(&object.content_type)
                .set_metadata(Some(object.metadata.clone()))
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("copying a file", e))?;
            return Ok(Written {
                version: copied.version_id().unwrap_or("null").to_owned(),
            });
        }
        let md5 = self.md5_of(location, key, version).await?;
        let mut upload = self.start_multipart(location, key, object).await?;
        let copied = upload.copy_parts(&source, size).await;
        let written = match copied {
            Ok(()) => upload.complete().await?,
            Err(error) => {
                upload.abort().await;
                return Err(error);
            }
        };
        if let Some(md5) = md5 {
            self.tag_md5(location, key, &written.version, &md5).await?;
        }
        Ok(written)
    }
}

impl MultipartUpload {
    /// Sends the next part (every part but the last at least
    /// [`MIN_PART_BYTES`]) and records it.
    pub async fn put_part(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        let sent = self.part_sender(bytes)?.await?;
        self.record(sent);
        Ok(())
    }

    /// The sending of the next part, as a future of its own (`'static`),
    /// so that a writer can read the part after it while it goes. Hand
    /// what it yields to [`MultipartUpload::record`], in order.
    pub fn part_sender(
        &mut self,
        bytes: Bytes,
    ) -> Result<impl Future<Output = Result<SentPart, StorageError>> + Send + 'static, StorageError>
    {
        if self.numbered >= MAX_PARTS {
            return Err(StorageError::Refused(format!(
                "a multipart upload has at most {MAX_PARTS} parts"
            )));
        }
        self.numbered += 1;
        let number = i32::try_from(self.numbered).unwrap_or(i32::MAX);
        let length = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let request = self
            .store
            .client()
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.object_key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .content_length(length)
            .body(ByteStream::from(bytes));
        Ok(async move {
            let part = request
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("uploading a part", e))?;
            Ok(SentPart(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_owned))
                    .build(),
            ))
        })
    }

    /// Records a part S3 has taken.
    pub fn record(&mut self, sent: SentPart) {
        self.parts.push(sent.0);
    }

    async fn copy_parts(&mut self, source: &str, size: u64) -> Result<(), StorageError> {
        let mut start = 0;
        while start < size {
            let end = (start + COPY_PART_BYTES).min(size) - 1;
            self.numbered += 1;
            let number = i32::try_from(self.numbered).unwrap_or(i32::MAX);
            let part = self
                .store
                .client()
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(&self.object_key)
                .upload_id(&self.upload_id)
                .part_number(number)
                .copy_source(source)
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("copying a part", e))?;
            self.parts.push(
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
        }
        Ok(())
    }

    /// Completes the upload: the object exists from now on.
    pub async fn complete(mut self) -> Result<Written, StorageError> {
        self.parts.sort_by_key(|part| part.part_number());
        let done = self
            .store
            .client()
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.object_key)
            .upload_id(&self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("completing a multipart upload", e));
        match done {
            Ok(done) => Ok(Written {
                version: done.version_id().unwrap_or("null").to_owned(),
            }),
            Err(error) => {
                self.abort().await;
                Err(error)
            }
        }
    }

    /// Drops the upload and its parts. Best effort: a failure is logged.
    pub async fn abort(self) {
        let aborted = self
            .store
            .client()
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.object_key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        if let Err(error) = aborted {
            tracing::warn!(
                error = %StorageError::from_sdk("aborting a multipart upload", error),
                bucket = %self.bucket,
                "An unfinished multipart upload could not be aborted; a lifecycle rule for incomplete uploads removes it."
            );
        }
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Percent-encodes everything but unreserved characters and `/`, as the
/// `x-amz-copy-source` header wants a key.
fn encode_copy_source(raw: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(raw, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_percent_encoded_but_keep_slashes() {
        assert_eq!(encode_copy_source("a b/c+d:é"), "a%20b/c%2Bd%3A%C3%A9");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
