//! Streaming one upload's `file` part to the object storage.
//!
//! The part is read chunk by chunk into a buffer of one S3 part
//! ([`FileLimits::part_bytes`]); each full buffer goes out as a part of a
//! multipart upload while the next one is read (one part in flight at a
//! time), so an upload holds about two parts in memory whatever the file's
//! size, and the client and S3 transfer at the same time. The two buffers
//! take turns: once S3 has a part, its buffer is filled again rather than
//! freed and another allocated (the allocator kept freed part-sized
//! buffers, so the process grew by several parts during a large upload). A file that ends before its first part is full is
//! written in one `PutObject`. The MD5 digest is computed on the way and
//! recorded with the object; the content type is the part's, else sniffed
//! from the first part's bytes ([`super::sniff`]).
//!
//! Any failure (the client goes away, the size limit is passed, the storage
//! fails) aborts the multipart upload, so no parts are left behind.

use axum::extract::multipart::{Field, MultipartError};
use bytes::{Bytes, BytesMut};
use contaxy_common::domain::file::FileKey;
use contaxy_common::storage::upload::{MultipartUpload, NewObject, SentPart, hex};
use contaxy_common::storage::{Location, ObjectStore, StorageError};
use md5::{Digest, Md5};
use tokio::task::JoinHandle;

use super::FileLimits;
use super::metadata::FileMetadata;
use super::sniff;
use crate::error::ApiError;

/// What an upload wrote.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The new version.
    pub version: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its MD5 digest, hex.
    pub md5_hex: String,
}

/// An upload in progress: the buffer of the next part and what has been
/// sent.
struct Stream<'a> {
    store: &'a ObjectStore,
    location: &'a Location,
    key: &'a FileKey,
    limits: FileLimits,
    declared_type: Option<String>,
    metadata: &'a FileMetadata,
    buffer: BytesMut,
    md5: Md5,
    size: u64,
    multipart: Option<MultipartUpload>,
    /// The part on its way to S3, and its bytes (shared with the request),
    /// to fill again once the request has let go of them.
    in_flight: Option<(JoinHandle<Result<SentPart, StorageError>>, Bytes)>,
    /// A buffer of a part S3 has, to fill next.
    spare: Option<BytesMut>,
}

/// Streams `field` to `key`, with `metadata` and the field's content type.
pub async fn stream_field(
    store: &ObjectStore,
    location: &Location,
    key: &FileKey,
    limits: FileLimits,
    mut field: Field<'_>,
    metadata: &FileMetadata,
) -> Result<Uploaded, ApiError> {
    let mut stream = Stream {
        store,
        location,
        key,
        limits,
        declared_type: field.content_type().map(str::to_owned),
        metadata,
        buffer: BytesMut::with_capacity(limits.part_bytes),
        md5: Md5::new(),
        size: 0,
        multipart: None,
        in_flight: None,
        spare: None,
    };
    let result = stream.run(&mut field).await;
    if result.is_err() {
        if let Some((sending, _)) = stream.in_flight.take() {
            sending.abort();
            let _ = sending.await;
        }
        if let Some(upload) = stream.multipart.take() {
            upload.abort().await;
        }
    }
    result
}

impl Stream<'_> {
    async fn run(&mut self, field: &mut Field<'_>) -> Result<Uploaded, ApiError> {
        while let Some(chunk) = field.chunk().await.map_err(interrupted)? {
            self.size += chunk.len() as u64;
            if self.size > self.limits.max_upload_bytes {
                return Err(too_large(self.limits.max_upload_bytes));
            }
            self.md5.update(&chunk);
            let mut rest: &[u8] = &chunk;
            while !rest.is_empty() {
                // Never past one part: a buffer that grew would reallocate
                // (copying) and share its allocation with the next part.
                let room = self.limits.part_bytes - self.buffer.len();
                let (now, later) = rest.split_at(room.min(rest.len()));
                self.buffer.extend_from_slice(now);
                rest = later;
                if self.buffer.len() == self.limits.part_bytes {
                    // The part before must land first: its buffer is the
                    // one to fill next.
                    self.land_in_flight().await?;
                    let next = self
                        .spare
                        .take()
                        .unwrap_or_else(|| BytesMut::with_capacity(self.limits.part_bytes));
                    let part = std::mem::replace(&mut self.buffer, next).freeze();
                    self.send_part(part).await?;
                }
            }
        }
        let md5: [u8; 16] = self.md5.clone().finalize().into();
        let md5_hex = hex(&md5);
        // Failing here leaves the upload in place for the caller to abort.
        self.land_in_flight().await?;
        let version = match self.multipart.take() {
            None => {
                let object = self.new_object(&self.buffer)?;
                let bytes = std::mem::take(&mut self.buffer).freeze();
                self.store
                    .put_small(self.location, self.key, &object, bytes, md5)
                    .await?
                    .version
            }
            Some(mut upload) => {
                if !self.buffer.is_empty() {
                    let last = std::mem::take(&mut self.buffer).freeze();
                    if let Err(error) = upload.put_part(last).await {
                        upload.abort().await;
                        return Err(error.into());
                    }
                }
                let version = upload.complete().await?.version;
                self.store
                    .tag_md5(self.location, self.key, &version, &md5_hex)
                    .await?;
                version
            }
        };
        Ok(Uploaded {
            version,
            size: self.size,
            md5_hex,
        })
    }

    async fn send_part(&mut self, part: bytes::Bytes) -> Result<(), ApiError> {
        if self.multipart.is_none() {
            let object = self.new_object(&part)?;
            let upload = self
                .store
                .start_multipart(self.location, self.key, &object)
                .await?;
            self.multipart = Some(upload);
        }
        self.land_in_flight().await?;
        if let Some(upload) = self.multipart.as_mut() {
            let sender = upload.part_sender(part.clone())?;
            self.in_flight = Some((tokio::spawn(sender), part));
        }
        Ok(())
    }

    /// Waits for the part on its way, and records it.
    async fn land_in_flight(&mut self) -> Result<(), ApiError> {
        let Some((sending, part)) = self.in_flight.take() else {
            return Ok(());
        };
        let sent = sending
            .await
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("sending a part")))??;
        if let Some(upload) = self.multipart.as_mut() {
            upload.record(sent);
        }
        // Still shared (the client kept the body): a new buffer is made.
        if let Ok(mut buffer) = part.try_into_mut() {
            buffer.clear();
            self.spare = Some(buffer);
        }
        Ok(())
    }

    fn new_object(&self, first_bytes: &[u8]) -> Result<NewObject, ApiError> {
        Ok(NewObject {
            content_type: sniff::content_type(self.declared_type.as_deref(), first_bytes),
            metadata: self.metadata.to_s3()?,
        })
    }
}

/// The 413 of an upload over the limit.
pub fn too_large(max: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "The file is larger than this server accepts in one upload ({max} bytes); use an upload URL (`:upload-url`) for larger files."
    ))
}

fn interrupted(error: MultipartError) -> ApiError {
    ApiError::Invalid(format!(
        "The upload could not be read: {}",
        error.body_text()
    ))
}
