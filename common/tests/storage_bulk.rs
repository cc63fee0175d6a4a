//! Bulk removal and server-side copies against the real S3-compatible server
//! (moto), in both layouts.

use std::collections::HashMap;

use contaxy_common::config::CommonConfig;
use contaxy_common::domain::file::FileKey;
use contaxy_common::domain::payload::FileVersionRef;
use contaxy_common::storage::copy::CopyParts;
use contaxy_common::storage::{Location, ObjectStore, StorageError};
use contaxy_tests::storage::{remove_buckets, test_store};

fn key(text: &str) -> FileKey {
    FileKey::parse(text).expect("a valid key")
}

fn file(text: &str, version: Option<&str>) -> FileVersionRef {
    FileVersionRef {
        key: key(text),
        version: version.map(str::to_owned),
    }
}

async fn put(store: &ObjectStore, location: &Location, file: &str, body: &[u8]) -> String {
    store
        .client()
        .put_object()
        .bucket(&location.bucket)
        .key(location.object_key(&key(file)))
        .content_type("text/plain")
        .metadata("owner", "tester")
        .body(body.to_vec().into())
        .send()
        .await
        .expect("put")
        .version_id()
        .expect("a versioned bucket")
        .to_owned()
}

async fn delete_marker(store: &ObjectStore, location: &Location, file: &str) {
    store
        .client()
        .delete_object()
        .bucket(&location.bucket)
        .key(location.object_key(&key(file)))
        .send()
        .await
        .expect("delete marker");
}

/// Every (object key, is delete marker) in the bucket, counted.
async fn everything(store: &ObjectStore, bucket: &str) -> HashMap<(String, bool), usize> {
    let mut seen = HashMap::new();
    let listed = store
        .client()
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .expect("listed");
    for v in listed.versions() {
        *seen
            .entry((v.key().unwrap_or_default().to_owned(), false))
            .or_default() += 1;
    }
    for m in listed.delete_markers() {
        *seen
            .entry((m.key().unwrap_or_default().to_owned(), true))
            .or_default() += 1;
    }
    seen
}

async fn bucket_exists(store: &ObjectStore, bucket: &str) -> bool {
    store
        .client()
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn files_go_wholly_or_one_version_at_a_time_and_gone_is_success() {
    let (store, config) = test_store();
    let location = store.ensure("bulk-files").await.expect("bucket");
    let v1 = put(&store, &location, "a.txt", b"one").await;
    put(&store, &location, "a.txt", b"two").await;
    delete_marker(&store, &location, "a.txt").await;
    put(&store, &location, "a.txt.bak", b"keep").await;
    let b1 = put(&store, &location, "dir/b.txt", b"one").await;
    put(&store, &location, "dir/b.txt", b"two").await;

    let removed = store
        .delete_files(
            &location,
            &[
                file("a.txt", None),
                file("dir/b.txt", Some(&b1)),
                file("missing.txt", None),
            ],
        )
        .await
        .expect("removed");
    assert_eq!(removed, 4, "two versions and a marker of a.txt, one of b");
    let left = everything(&store, &location.bucket).await;
    assert_eq!(left.get(&("a.txt".to_owned(), false)), None);
    assert_eq!(left.get(&("a.txt".to_owned(), true)), None);
    assert_eq!(left.get(&("a.txt.bak".to_owned(), false)), Some(&1));
    assert_eq!(left.get(&("dir/b.txt".to_owned(), false)), Some(&1));

    // Again: everything named is gone already, which is success.
    let again = store
        .delete_files(&location, &[file("a.txt", None)])
        .await
        .expect("gone is success");
    assert_eq!(again, 0);
    store
        .delete_files(&location, &[file("a.txt", Some(&v1))])
        .await
        .expect("a version gone is success too");
    assert_eq!(everything(&store, &location.bucket).await, left);
    remove_buckets(&store, &config.s3_bucket_prefix).await;
}

#[tokio::test]
async fn more_than_one_page_is_removed_in_batches() {
    let (store, config) = test_store();
    let location = store.ensure("bulk-pages").await.expect("bucket");
    let files: Vec<String> = (0..1100).map(|i| format!("many/{i:04}.txt")).collect();
    futures::future::join_all(files.chunks(100).map(|chunk| {
        let store = store.clone();
        let location = location.clone();
        async move {
            for file in chunk {
                put(&store, &location, file, b"x").await;
            }
        }
    }))
    .await;
    let removed = store
        .delete_versions_where(&location.bucket, "", |_| true)
        .await
        .expect("removed");
    assert_eq!(removed, 1100);
    assert!(everything(&store, &location.bucket).await.is_empty());
    remove_buckets(&store, &config.s3_bucket_prefix).await;
}

#[tokio::test]
async fn a_projects_storage_goes_with_its_bucket_and_versions() {
    let (store, config) = test_store();
    let location = store.ensure("bulk-gone").await.expect("bucket");
    put(&store, &location, "a.txt", b"one").await;
    put(&store, &location, "a.txt", b"two").await;
    delete_marker(&store, &location, "a.txt").await;
    let upload = store
        .client()
        .create_multipart_upload()
        .bucket(&location.bucket)
        .key("half.bin")
        .send()
        .await
        .expect("an upload begun");
    assert!(upload.upload_id().is_some());

    let removed = store.delete_storage("bulk-gone").await.expect("removed");
    assert_eq!(removed.versions, 3);
    assert_eq!(removed.uploads, 1);
    assert!(removed.bucket);
    assert!(!bucket_exists(&store, &location.bucket).await);
    // Again, and for a project that never had storage: nothing to do.
    let again = store.delete_storage("bulk-gone").await.expect("gone");
    assert_eq!(again.versions + again.uploads, 0);
    assert!(!again.bucket);
    // The store made the bucket anew after forgetting it.
    store.ensure("bulk-gone").await.expect("made again");
    assert!(bucket_exists(&store, &location.bucket).await);
    remove_buckets(&store, &config.s3_bucket_prefix).await;
}

#[tokio::test]
async fn in_a_shared_bucket_only_the_projects_prefix_goes() {
    let (_, base) = test_store();
    let config = CommonConfig {
        s3_shared_bucket: format!("{}shared", base.s3_bucket_prefix),
        ..base.clone()
    };
    let store = ObjectStore::new(&config);
    let mine = store.ensure("proj-one").await.expect("bucket");
    let theirs = store.ensure("proj-two").await.expect("bucket");
    put(&store, &mine, "a.txt", b"one").await;
    put(&store, &mine, "a.txt", b"two").await;
    put(&store, &theirs, "a.txt", b"theirs").await;

    let removed = store.delete_storage("proj-one").await.expect("removed");
    assert_eq!(removed.versions, 2);
    assert!(!removed.bucket);
    let left = everything(&store, &mine.bucket).await;
    assert_eq!(left.len(), 1);
    assert_eq!(
        left.get(&("projects/proj-two/a.txt".to_owned(), false)),
        Some(&1)
    );
    remove_buckets(&store, &base.s3_bucket_prefix).await;
}

#[tokio::test]
async fn copies_keep_metadata_and_may_name_a_version_or_go_in_parts() {
    let (store, config) = test_store();
    let location = store.ensure("bulk-copy").await.expect("bucket");
    let first = put(&store, &location, "src dir/ü.txt", b"first").await;
    put(&store, &location, "src dir/ü.txt", b"second").await;

    let copied = store
        .copy_file(
            &location,
            &key("src dir/ü.txt"),
            Some(&first),
            &key("copy.txt"),
        )
        .await
        .expect("copied");
    assert_eq!(copied.size, 5);
    let read = store
        .client()
        .get_object()
        .bucket(&location.bucket)
        .key("copy.txt")
        .send()
        .await
        .expect("read");
    assert_eq!(read.content_type(), Some("text/plain"));
    assert_eq!(
        read.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("tester")
    );
    let body = read.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"first");

    // Over the single-copy limit (small here): copied in parts.
    let big: Vec<u8> = (0..(11 << 20)).map(|i: u32| (i % 251) as u8).collect();
    put(&store, &location, "big.bin", &big).await;
    let parts = CopyParts {
        single_max: 1 << 20,
        part_size: 5 << 20,
    };
    let copied = store
        .copy_file_in(
            &location,
            &key("big.bin"),
            None,
            &key("big-copy.bin"),
            parts,
        )
        .await
        .expect("copied in parts");
    assert_eq!(copied.size, big.len() as i64);
    let read = store
        .client()
        .get_object()
        .bucket(&location.bucket)
        .key("big-copy.bin")
        .send()
        .await
        .expect("read");
    assert_eq!(
        read.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("tester")
    );
    let body = read.body.collect().await.expect("body").into_bytes();
    assert!(body[..] == big[..], "the parts make the whole");

    let missing = store
        .copy_file(&location, &key("nope.txt"), None, &key("x.txt"))
        .await
        .expect_err("no source");
    assert!(matches!(missing, StorageError::NotFound(_)), "{missing:?}");
    remove_buckets(&store, &config.s3_bucket_prefix).await;
}
