//! The S3-compatible server of the tests (moto, started by
//! `scripts/provision.sh s3`): its address, a bucket prefix per test, and the
//! cleanup that removes what a prefix made.

use contaxy_common::config::CommonConfig;
use contaxy_common::storage::ObjectStore;

/// The S3 endpoint: `CONTAXY_TEST_S3_ENDPOINT`, or the provisioned server.
pub fn s3_endpoint() -> String {
    std::env::var("CONTAXY_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        let port = std::env::var("CONTAXY_DEV_S3_PORT").unwrap_or_else(|_| "9000".to_owned());
        format!("http://127.0.0.1:{port}")
    })
}

/// A bucket prefix no other test uses (`t` and 8 hex digits, then `-`).
pub fn fresh_bucket_prefix() -> String {
    format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// An object store on the test server, with a bucket prefix of its own.
pub fn test_store() -> (ObjectStore, CommonConfig) {
    let config = CommonConfig {
        s3_endpoint: s3_endpoint(),
        s3_bucket_prefix: fresh_bucket_prefix(),
        ..CommonConfig::default()
    };
    (ObjectStore::new(&config), config)
}

/// Removes every bucket whose name starts with `prefix`, with every object
/// version and delete marker in it. For the end of a test.
pub async fn remove_buckets(store: &ObjectStore, prefix: &str) {
    let client = store.client();
    let Ok(buckets) = client.list_buckets().send().await else {
        return;
    };
    for bucket in buckets.buckets() {
        let Some(name) = bucket.name() else { continue };
        if !name.starts_with(prefix) {
            continue;
        }
        loop {
            let Ok(page) = client.list_object_versions().bucket(name).send().await else {
                break;
            };
            let mut ids = Vec::new();
            for v in page.versions() {
                ids.push((v.key().unwrap_or_default(), v.version_id()));
            }
            for m in page.delete_markers() {
                ids.push((m.key().unwrap_or_default(), m.version_id()));
            }
            if ids.is_empty() {
                break;
            }
            for (key, version) in ids {
                let _ = client
                    .delete_object()
                    .bucket(name)
                    .key(key)
                    .set_version_id(version.map(str::to_owned))
                    .send()
                    .await;
            }
        }
        let _ = client.delete_bucket().bucket(name).send().await;
    }
}
