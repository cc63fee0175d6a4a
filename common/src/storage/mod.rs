//! Project files in S3-compatible object storage (AWS S3, MinIO, Ceph, moto).
//!
//! Where a project's files live is decided here and nowhere else
//! ([`ObjectStore::location`]):
//!
//! - by default, one versioned bucket per project, named
//!   `<CONTAXY_S3_BUCKET_PREFIX><project id>`;
//! - with `CONTAXY_S3_SHARED_BUCKET` set, one versioned bucket for every
//!   project, each under the key prefix `projects/<project id>/`, for
//!   providers that limit how many buckets an account may have.
//!
//! Buckets are made on first use, with versioning on ([`ObjectStore::ensure`]).
//! A project's storage is removed before its row goes, so a later project
//! with the same id starts with none of the old one's files.
//!
//! Errors are sorted once, by cause ([`StorageError`]): storage that cannot
//! be reached or answers 5xx/429 is [`StorageError::Unavailable`] (a 503 for
//! the API, a retry for a worker); a missing object is
//! [`StorageError::NotFound`]; anything else the storage refused is
//! [`StorageError::Refused`].
//!
//! - [`objects`]: heads, listings, downloads, deletes and presigned URLs.
//! - [`upload`]: writes (one call, or multipart one part at a time) and
//!   metadata changes (a copy onto itself).
//! - [`bulk`]: listing every version page by page and removing in batches
//!   (file actions, a project's storage).
//! - [`copy`]: server-side copies within a project.
//! - [`logs_archive`]: deployments' logs kept after their container is gone.

pub mod bulk;
pub mod copy;
pub mod logs_archive;
pub mod objects;
pub mod upload;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region, timeout::TimeoutConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use secrecy::ExposeSecret;

use crate::config::CommonConfig;
use crate::domain::file::FileKey;

/// The key prefix of a project in the shared-bucket layout.
const SHARED_PROJECT_PREFIX: &str = "projects/";

/// Why a storage call failed, by cause.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage could not be reached, timed out, or answered 5xx or 429:
    /// worth retrying later.
    #[error("object storage is unavailable: {0}")]
    Unavailable(String),
    /// The object, version or bucket does not exist.
    #[error("not found in object storage: {0}")]
    NotFound(String),
    /// The storage refused the request for another reason (4xx).
    #[error("object storage refused the request: {0}")]
    Refused(String),
}

impl StorageError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Sorts an SDK error by cause. `what` says what was being done, for the
    /// message.
    pub fn from_sdk<E, R>(what: &str, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        match &error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status_code();
                let code = service.err().code().unwrap_or("");
                let message = service.err().message().unwrap_or(code);
                let detail = format!("{what}: {status} {code} {message}");
                if status >= 500 || status == 429 || code == "SlowDown" {
                    Self::Unavailable(detail)
                } else if status == 404
                    || matches!(
                        code,
                        "NoSuchKey" | "NoSuchVersion" | "NoSuchBucket" | "NotFound"
                    )
                {
                    Self::NotFound(detail)
                } else {
                    Self::Refused(detail)
                }
            }
            SdkError::ConstructionFailure(_) => Self::Refused(format!("{what}: {error}")),
            // Dispatch failures (refused, reset), timeouts and unreadable
            // answers: the storage is not there for now.
            _ => Self::Unavailable(format!(
                "{what}: {}",
                std::error::Error::source(&error)
                    .map_or_else(|| error.to_string(), ToString::to_string)
            )),
        }
    }
}

/// The HTTP status of a raw response, for [`StorageError::from_sdk`].
pub trait HasStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// How projects' files are laid out in buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One bucket per project, `<prefix><project id>`.
    BucketPerProject {
        /// Put before the project id.
        prefix: String,
    },
    /// One bucket for all, a project under `projects/<project id>/`.
    Shared {
        /// The bucket.
        bucket: String,
    },
}

/// Where one project's files are: a bucket and a key prefix in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The bucket.
    pub bucket: String,
    /// Put before every file key (empty, or ends with `/`).
    pub prefix: String,
}

impl Location {
    /// The object key of a file.
    pub fn object_key(&self, key: &FileKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    /// The file key of an object key listed in this location, if it is one
    /// of the project's (and a valid key).
    pub fn file_key(&self, object_key: &str) -> Option<FileKey> {
        object_key
            .strip_prefix(&self.prefix)
            .and_then(|rest| FileKey::parse(rest).ok())
    }
}

/// The object storage of project files: an S3 client and the layout.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    client: Client,
    layout: Layout,
    /// Buckets this process has made sure of (exist, versioned).
    ready: Arc<Mutex<HashSet<String>>>,
}

impl ObjectStore {
    /// A store for the configured endpoint. Nothing is reached until the
    /// first call.
    pub fn new(config: &CommonConfig) -> Self {
        let credentials = Credentials::new(
            config.s3_access_key_id.clone(),
            config.s3_secret_access_key.expose_secret().to_owned(),
            None,
            None,
            "contaxy-config",
        );
        // Connecting is quick or the storage is away; a transfer may take
        // long, so no limit on a whole operation.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(60))
            .build();
        let mut builder = aws_sdk_s3::Config::builder()
            .credentials_provider(credentials)
            .region(Region::new(config.s3_region.clone()))
            .force_path_style(config.s3_force_path_style)
            .timeout_config(timeouts);
        if !config.s3_endpoint.is_empty() {
            builder = builder.endpoint_url(config.s3_endpoint.clone());
        }
        let layout = if config.s3_shared_bucket.is_empty() {
            Layout::BucketPerProject {
                prefix: config.s3_bucket_prefix.clone(),
            }
        } else {
            Layout::Shared {
                bucket: config.s3_shared_bucket.clone(),
            }
        };
        Self {
            client: Client::from_conf(builder.build()),
            layout,
            ready: Arc::default(),
        }
    }

    /// The S3 client, for the calls the store does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The layout in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Where a project's files are. Pure: makes nothing.
    pub fn location(&self, project_id: &str) -> Location {
        match &self.layout {
            Layout::BucketPerProject { prefix } => Location {
                bucket: format!("{prefix}{project_id}"),
                prefix: String::new(),
            },
            Layout::Shared { bucket } => Location {
                bucket: bucket.clone(),
                prefix: format!("{SHARED_PROJECT_PREFIX}{project_id}/"),
            },
        }
    }

    /// Where a project's files are, with the bucket made (and versioning
    /// on) if this process has not yet seen it. Safe to call concurrently
    /// and from several processes: making a bucket that exists is success.
    pub async fn ensure(&self, project_id: &str) -> Result<Location, StorageError> {
        let location = self.location(project_id);
        if self.is_ready(&location.bucket) {
            return Ok(location);
        }
        let created = self
            .client
            .create_bucket()
            .bucket(&location.bucket)
            .send()
            .await;
        if let Err(error) = created {
            let owned = error
                .as_service_error()
                .and_then(ProvideErrorMetadata::code)
                .is_some_and(|code| {
                    matches!(code, "BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                });
            if !owned {
                return Err(StorageError::from_sdk("creating the bucket", error));
            }
        }
        self.client
            .put_bucket_versioning()
            .bucket(&location.bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("turning versioning on", e))?;
        self.mark_ready(&location.bucket);
        Ok(location)
    }

    /// Forgets that a bucket was made (it has been removed).
    pub fn forget(&self, bucket: &str) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.remove(bucket);
        }
    }

    /// Whether the storage answers (for `/readyz`).
    pub async fn probe(&self) -> Result<(), StorageError> {
        self.client
            .list_buckets()
            .max_buckets(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_sdk("listing buckets", e))
    }

    fn is_ready(&self, bucket: &str) -> bool {
        self.ready.lock().is_ok_and(|ready| ready.contains(bucket))
    }

    fn mark_ready(&self, bucket: &str) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.insert(bucket.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(shared: &str) -> ObjectStore {
        let config = CommonConfig {
            s3_shared_bucket: shared.to_owned(),
            s3_bucket_prefix: "ctx-".to_owned(),
            ..CommonConfig::default()
        };
        ObjectStore::new(&config)
    }

    #[test]
    fn a_bucket_per_project_by_default() {
        let location = store("").location("demo-project");
        assert_eq!(location.bucket, "ctx-demo-project");
        assert_eq!(location.prefix, "");
        let key = FileKey::parse("a/b.txt").expect("valid");
        assert_eq!(location.object_key(&key), "a/b.txt");
        assert_eq!(location.file_key("a/b.txt"), Some(key));
    }

    #[test]
    fn a_shared_bucket_keeps_projects_under_their_prefix() {
        let location = store("all-files").location("demo-project");
        assert_eq!(location.bucket, "all-files");
        assert_eq!(location.prefix, "projects/demo-project/");
        let key = FileKey::parse("a/b.txt").expect("valid");
        assert_eq!(location.object_key(&key), "projects/demo-project/a/b.txt");
        assert_eq!(
            location.file_key("projects/demo-project/a/b.txt"),
            Some(key)
        );
        // Another project's object is not one of this project's files.
        assert_eq!(location.file_key("projects/other/a/b.txt"), None);
    }
}
