//! The object store against the real S3-compatible server (moto).

use contaxy_common::config::CommonConfig;
use contaxy_common::storage::{ObjectStore, StorageError};
use contaxy_tests::closed_port_addr;
use contaxy_tests::storage::{remove_buckets, test_store};

#[tokio::test]
async fn ensure_makes_a_versioned_bucket_once() {
    let (store, config) = test_store();
    let location = store.ensure("demo-files").await.expect("bucket made");
    assert_eq!(
        location.bucket,
        format!("{}demo-files", config.s3_bucket_prefix)
    );
    // A second store (another process) finds it made: success again.
    let other = ObjectStore::new(&config);
    other
        .ensure("demo-files")
        .await
        .expect("already there is fine");
    // Versioning shows in behaviour: one key written twice has two versions.
    // (moto 5.2 answers GetBucketVersioning with a root element the SDK
    // refuses, so the status is not read directly.)
    for body in ["one", "two"] {
        store
            .client()
            .put_object()
            .bucket(&location.bucket)
            .key("a.txt")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put");
    }
    let versions = store
        .client()
        .list_object_versions()
        .bucket(&location.bucket)
        .send()
        .await
        .expect("versions listed");
    assert_eq!(versions.versions().len(), 2);
    store.probe().await.expect("the server answers");
    remove_buckets(&store, &config.s3_bucket_prefix).await;
}

#[tokio::test]
async fn storage_that_cannot_be_reached_is_unavailable() {
    let config = CommonConfig {
        s3_endpoint: format!("http://{}", closed_port_addr()),
        ..CommonConfig::default()
    };
    let store = ObjectStore::new(&config);
    let error = store
        .ensure("demo-files")
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, StorageError::Unavailable(_)), "{error:?}");
    assert!(error.is_transient());
}
