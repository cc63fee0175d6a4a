//! The file service behind `/projects/{project_id}/files`: the limits of an
//! upload, streaming one to the object storage, the metadata S3 keeps for a
//! file, content-type sniffing and download ranges. The S3 calls
//! themselves are in [`contaxy_common::storage`]; the routes in
//! [`crate::routes::files`].
//!
//! - [`upload`]: one multipart field streamed to S3, part by part.
//! - [`metadata`]: the File fields kept as S3 user metadata.
//! - [`sniff`]: the content type of bytes nobody named.
//! - [`range`]: HTTP `Range` for resumable downloads.
//! - [`stall`]: an upload body that may not stall for long.

pub mod metadata;
pub mod range;
pub mod sniff;
pub mod stall;
pub mod upload;

use contaxy_common::domain::file::FileKey;
use contaxy_common::storage::StorageError;
use contaxy_common::storage::upload::{MAX_PARTS, MIN_PART_BYTES};

use crate::config::ApiSettings;
use crate::error::ApiError;

/// How large an upload may be and how it is cut.
#[derive(Debug, Clone, Copy)]
pub struct FileLimits {
    /// Largest file one upload may carry.
    pub max_upload_bytes: u64,
    /// Size of the parts sent to S3.
    pub part_bytes: usize,
}

impl FileLimits {
    /// The limits of the settings; refuses a part size S3 would refuse and
    /// a maximum S3's 10,000 parts cannot hold.
    pub fn from_settings(settings: &ApiSettings) -> anyhow::Result<Self> {
        let part_bytes = settings.api_upload_part_bytes;
        if part_bytes < MIN_PART_BYTES {
            anyhow::bail!(
                "CONTAXY_API_UPLOAD_PART_BYTES must be at least {MIN_PART_BYTES} (S3's smallest part), found {part_bytes}"
            );
        }
        let most = (part_bytes as u64).saturating_mul(MAX_PARTS as u64);
        if settings.api_max_upload_bytes > most {
            anyhow::bail!(
                "CONTAXY_API_MAX_UPLOAD_BYTES must be at most {most} (10,000 parts of CONTAXY_API_UPLOAD_PART_BYTES), found {}",
                settings.api_max_upload_bytes
            );
        }
        Ok(Self {
            max_upload_bytes: settings.api_max_upload_bytes,
            part_bytes,
        })
    }
}

/// The 404 of a file (or of one version of it).
pub fn not_found(key: &FileKey, version: Option<&str>) -> ApiError {
    ApiError::NotFound(match version {
        Some(version) => format!("File `{key}` has no version `{version}`."),
        None => format!("File `{key}` was not found."),
    })
}

/// A storage error about one file, for the client: a missing object, or a
/// version id S3 cannot read (it refuses those with a 400), is a 404 naming
/// the file.
pub fn on_file(error: StorageError, key: &FileKey, version: Option<&str>) -> ApiError {
    match error {
        StorageError::NotFound(_) => not_found(key, version),
        StorageError::Refused(_) if version.is_some() => not_found(key, version),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_s3s_rules() {
        let mut settings = ApiSettings::default();
        let limits = FileLimits::from_settings(&settings).expect("the defaults are valid");
        assert_eq!(limits.part_bytes, 8 * 1024 * 1024);
        settings.api_upload_part_bytes = 1024;
        assert!(FileLimits::from_settings(&settings).is_err());
        settings.api_upload_part_bytes = MIN_PART_BYTES;
        settings.api_max_upload_bytes = MIN_PART_BYTES as u64 * MAX_PARTS as u64 + 1;
        assert!(FileLimits::from_settings(&settings).is_err());
    }
}
