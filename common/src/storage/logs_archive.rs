//! Archived deployment logs: what `GET …/jobs/{id}/logs` reads once a job's
//! container is gone.
//!
//! The worker writes them as part of a `deployment.delete` that asks for it
//! (`archive_logs`, sent by the finished-job TTL cleanup), before the
//! container is removed, so a job's output is never lost to its cleanup.
//! They live in the project's own storage (so a project deleted and made
//! again under the same id finds none of the old one's logs), under the
//! reserved key prefix [`PREFIX`]: one object per deployment,
//! `.contaxy/logs/<deployment id>.log`, plain text.

use aws_sdk_s3::primitives::ByteStream;

use super::{ObjectStore, StorageError};

/// The key prefix reserved for archived logs in a project's storage.
pub const PREFIX: &str = ".contaxy/logs/";

impl ObjectStore {
    /// The object key of a deployment's archived logs in its project's
    /// location.
    pub fn logs_archive_key(&self, project_id: &str, deployment_id: &str) -> (String, String) {
        let location = self.location(project_id);
        let key = format!("{}{PREFIX}{deployment_id}.log", location.prefix);
        (location.bucket, key)
    }

    /// Writes a deployment's logs (replacing an earlier archive of them).
    pub async fn put_logs_archive(
        &self,
        project_id: &str,
        deployment_id: &str,
        text: Vec<u8>,
    ) -> Result<(), StorageError> {
        self.ensure(project_id).await?;
        let (bucket, key) = self.logs_archive_key(project_id, deployment_id);
        self.client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/plain; charset=utf-8")
            .body(ByteStream::from(text))
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("archiving logs", e))?;
        Ok(())
    }

    /// A deployment's archived logs; [`StorageError::NotFound`] when there
    /// are none.
    pub async fn logs_archive(
        &self,
        project_id: &str,
        deployment_id: &str,
    ) -> Result<Vec<u8>, StorageError> {
        let (bucket, key) = self.logs_archive_key(project_id, deployment_id);
        let object = self
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("reading archived logs", e))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable(format!("reading archived logs: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// Removes a deployment's archived logs (with its record); gone is
    /// success.
    pub async fn delete_logs_archive(
        &self,
        project_id: &str,
        deployment_id: &str,
    ) -> Result<(), StorageError> {
        let (bucket, key) = self.logs_archive_key(project_id, deployment_id);
        match self
            .client()
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match StorageError::from_sdk("removing archived logs", error) {
                StorageError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }
}
