//! File actions on the queue, end to end against the real S3-compatible
//! server (moto), PostgreSQL and RabbitMQ: `file.delete` of many files,
//! `file.delete_by_date` removing exactly its range, copies and moves, the
//! storage away and back (retried, then done), a project deleted with its
//! files, a malformed file message dead-lettered with its reason, and the
//! API's bulk delete by date.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use contaxy_common::config::CommonConfig;
use contaxy_common::domain::action::{ActionKind, ActionStatus};
use contaxy_common::domain::file::FileKey;
use contaxy_common::storage::{Location, ObjectStore};
use contaxy_common::topology::Topology;
use contaxy_tests::api::{TestApi, assert_problem};
use contaxy_tests::broker::{TestBroker, header};
use contaxy_tests::pipeline::Pipeline;
use contaxy_tests::storage::{remove_buckets, s3_endpoint};
use contaxy_tests::tcp_proxy::TcpProxy;
use contaxy_tests::{DEADLINE, TestDb, eventually};
use contaxy_worker::WorkerSettings;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// One version or delete marker, as the test reads the bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    key: String,
    marker: bool,
    version: String,
    modified: DateTime<Utc>,
}

async fn put(store: &ObjectStore, location: &Location, key: &str, body: &str) -> String {
    let key = FileKey::parse(key).expect("a valid key");
    store
        .client()
        .put_object()
        .bucket(&location.bucket)
        .key(location.object_key(&key))
        .content_type("text/plain")
        .metadata("origin", "test")
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put")
        .version_id()
        .expect("versioned")
        .to_owned()
}

async fn put_many(store: &ObjectStore, location: &Location, keys: &[String]) {
    let writers = keys.chunks(keys.len().div_ceil(10).max(1)).map(|chunk| {
        let store = store.clone();
        let location = location.clone();
        async move {
            for key in chunk {
                put(&store, &location, key, key).await;
            }
        }
    });
    futures::future::join_all(writers).await;
}

/// Every version and delete marker in the bucket (none if it is gone).
async fn listing(store: &ObjectStore, bucket: &str) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    loop {
        let Ok(page) = store
            .client()
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(markers.0.clone())
            .set_version_id_marker(markers.1.clone())
            .send()
            .await
        else {
            return out;
        };
        let time = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
            t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                .expect("a time")
        };
        for v in page.versions() {
            out.push(Listed {
                key: v.key().unwrap_or_default().to_owned(),
                marker: false,
                version: v.version_id().unwrap_or_default().to_owned(),
                modified: time(v.last_modified()),
            });
        }
        for m in page.delete_markers() {
            out.push(Listed {
                key: m.key().unwrap_or_default().to_owned(),
                marker: true,
                version: m.version_id().unwrap_or_default().to_owned(),
                modified: time(m.last_modified()),
            });
        }
        if !page.is_truncated().unwrap_or(false) {
            out.sort();
            return out;
        }
        markers = (
            page.next_key_marker().map(str::to_owned),
            page.next_version_id_marker().map(str::to_owned),
        );
    }
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

/// A pipeline with one worker and a live project, and a store on the same
/// buckets as the worker's.
async fn start(project: &str, common: impl FnOnce(&mut CommonConfig)) -> Started {
    let db = TestDb::new().await;
    let mut pipeline = Pipeline::new(db.url()).await;
    common(&mut pipeline.common);
    pipeline.create_project(project).await;
    let worker = pipeline.spawn_worker(WorkerSettings::default()).await;
    let direct = CommonConfig {
        s3_endpoint: s3_endpoint(),
        ..pipeline.common.clone()
    };
    let store = ObjectStore::new(&direct);
    let location = store.ensure(project).await.expect("the project's bucket");
    Started {
        _worker: worker,
        store,
        location,
        pipeline,
        _db: db,
    }
}

struct Started {
    _worker: contaxy_tests::Spawned,
    store: ObjectStore,
    location: Location,
    pipeline: Pipeline,
    _db: TestDb,
}

impl Started {
    async fn cleanup(&self) {
        remove_buckets(&self.store, &self.pipeline.common.s3_bucket_prefix).await;
    }
}

#[tokio::test]
async fn a_file_delete_of_a_thousand_files_completes_and_reports_the_count() {
    let project = "files-many";
    let s = start(project, |_| {}).await;
    let keys: Vec<String> = (0..1000).map(|i| format!("batch/{i:04}.txt")).collect();
    put_many(&s.store, &s.location, &keys).await;
    put(&s.store, &s.location, "keep.txt", "kept").await;

    let files: Vec<Value> = keys.iter().map(|key| json!({"key": key})).collect();
    let id = s
        .pipeline
        .publish(
            ActionKind::FileDelete,
            project,
            None,
            json!({"files": files}),
        )
        .await;
    let row = s.pipeline.succeeded(project, id).await;

    assert_eq!(row.result, Some(json!({"deleted": 1000})));
    let left = listing(&s.store, &s.location.bucket).await;
    assert_eq!(
        left.len(),
        1,
        "only keep.txt: {:?}",
        &left[..left.len().min(3)]
    );
    assert_eq!(left[0].key, "keep.txt");
    s.cleanup().await;
}

#[tokio::test]
async fn delete_by_date_removes_exactly_the_versions_of_its_range() {
    let project = "files-dates";
    let s = start(project, |_| {}).await;
    // Three generations, each written after the last one's time (moto
    // keeps whole seconds) has passed.
    let mut generations: Vec<Vec<Listed>> = Vec::new();
    for generation in ["old", "mid", "new"] {
        if let Some(last) = generations.last() {
            let newest = last.iter().map(|l| l.modified).max().expect("some");
            eventually(DEADLINE, "the clock to pass a second", || async {
                (Utc::now() >= newest + chrono::Duration::seconds(1)).then_some(())
            })
            .await;
        }
        let before: BTreeSet<Listed> = listing(&s.store, &s.location.bucket)
            .await
            .into_iter()
            .collect();
        put(&s.store, &s.location, "a.txt", generation).await;
        put(&s.store, &s.location, &format!("{generation}.txt"), "x").await;
        let after = listing(&s.store, &s.location.bucket).await;
        generations.push(after.into_iter().filter(|l| !before.contains(l)).collect());
    }
    let mid = &generations[1];
    let from = mid.iter().map(|l| l.modified).min().expect("some");
    let to = mid.iter().map(|l| l.modified).max().expect("some");
    assert!(generations[0].iter().all(|l| l.modified < from));
    assert!(generations[2].iter().all(|l| l.modified > to));

    let id = s
        .pipeline
        .publish(
            ActionKind::FileDeleteByDate,
            project,
            None,
            json!({"date_from": from, "date_to": to}),
        )
        .await;
    let row = s.pipeline.succeeded(project, id).await;

    assert_eq!(row.result, Some(json!({"deleted": 2})));
    let left: Vec<Listed> = listing(&s.store, &s.location.bucket).await;
    let mut want: Vec<Listed> = generations[0]
        .iter()
        .chain(&generations[2])
        .cloned()
        .collect();
    want.sort();
    assert_eq!(left, want, "the old and new generations, untouched");
    s.cleanup().await;
}

#[tokio::test]
async fn copies_and_moves_keep_metadata_and_can_run_again() {
    let project = "files-copy";
    let s = start(project, |_| {}).await;
    let first = put(&s.store, &s.location, "src.txt", "first").await;
    put(&s.store, &s.location, "src.txt", "second").await;
    put(&s.store, &s.location, "moving.txt", "moved").await;
    let read = |key: &'static str| {
        let store = s.store.clone();
        let bucket = s.location.bucket.clone();
        async move {
            let object = store
                .client()
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .ok()?;
            let origin = object.metadata().and_then(|m| m.get("origin")).cloned();
            let body = object.body.collect().await.expect("body").into_bytes();
            Some((String::from_utf8_lossy(&body).into_owned(), origin))
        }
    };

    let copy = s
        .pipeline
        .publish(
            ActionKind::FileCopy,
            project,
            None,
            json!({"source": "src.txt", "source_version": first, "destination": "dir/copy.txt"}),
        )
        .await;
    let row = s.pipeline.succeeded(project, copy).await;
    assert_eq!(row.result.as_ref().expect("a result")["copied_bytes"], 5);
    assert_eq!(
        read("dir/copy.txt").await,
        Some(("first".to_owned(), Some("test".to_owned())))
    );

    let payload = json!({"source": "moving.txt", "destination": "moved/here.txt"});
    let moved = s
        .pipeline
        .publish(ActionKind::FileMove, project, None, payload.clone())
        .await;
    let row = s.pipeline.succeeded(project, moved).await;
    assert_eq!(row.result.as_ref().expect("a result")["deleted"], 1);
    assert_eq!(
        read("moved/here.txt").await,
        Some(("moved".to_owned(), Some("test".to_owned())))
    );
    let left = listing(&s.store, &s.location.bucket).await;
    assert!(
        left.iter().all(|l| l.key != "moving.txt"),
        "the source went wholly: {left:?}"
    );
    // The same move again (a redelivery after the first one finished):
    // done before, so done.
    let again = s
        .pipeline
        .publish(ActionKind::FileMove, project, None, payload)
        .await;
    s.pipeline.succeeded(project, again).await;

    // A missing source is a permanent failure, named.
    let missing = s
        .pipeline
        .publish(
            ActionKind::FileCopy,
            project,
            None,
            json!({"source": "nope.txt", "destination": "x.txt"}),
        )
        .await;
    let row = s.pipeline.finished(project, missing).await;
    assert_eq!(row.status, ActionStatus::Failed);
    assert_eq!(row.attempts, 1, "not retried");
    let error = row.last_error.unwrap_or_default();
    assert!(error.contains("nope.txt"), "{error}");
    s.cleanup().await;
}

#[tokio::test]
async fn storage_away_for_a_while_is_waited_out_and_a_project_goes_only_with_its_files() {
    let project = "files-away";
    let target = s3_endpoint()
        .trim_start_matches("http://")
        .parse()
        .expect("the S3 server's address");
    let proxy = TcpProxy::start(target).await;
    let s = start(project, |common| common.s3_endpoint = proxy.http_url()).await;
    put(&s.store, &s.location, "a.txt", "one").await;
    put(&s.store, &s.location, "a.txt", "two").await;
    put(&s.store, &s.location, "b.txt", "gone").await;
    s.store
        .client()
        .delete_object()
        .bucket(&s.location.bucket)
        .key("b.txt")
        .send()
        .await
        .expect("a delete marker");

    proxy.switch_off().await;
    let delete = s
        .pipeline
        .publish(
            ActionKind::FileDelete,
            project,
            None,
            json!({"files": [{"key": "a.txt"}]}),
        )
        .await;
    let waiting = eventually(DEADLINE, "the delete to wait for the storage", || async {
        let row = contaxy_common::store::actions::get(&s.pipeline.pool, project, delete)
            .await
            .expect("read")?;
        (row.status == ActionStatus::Retrying).then_some(row)
    })
    .await;
    let error = waiting.last_error.unwrap_or_default();
    assert!(error.contains("object storage is unavailable"), "{error}");

    // The project's deletion waits too, and the project stays.
    let gone = s
        .pipeline
        .publish(ActionKind::ProjectDelete, project, None, json!({}))
        .await;
    eventually(DEADLINE, "the project delete to wait", || async {
        let row = contaxy_common::store::actions::get(&s.pipeline.pool, project, gone)
            .await
            .expect("read")?;
        (row.status == ActionStatus::Retrying).then_some(())
    })
    .await;
    let deleting: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT deleting_since FROM projects WHERE id = $1")
            .bind(project)
            .fetch_optional(&s.pipeline.pool)
            .await
            .expect("read the project");
    assert!(
        matches!(deleting, Some(Some(_))),
        "the project stays, being deleted"
    );

    proxy.switch_on().await;
    // Both wait for their next attempt; if the project's deletion comes
    // back first, it removes the files and cancels the file delete that
    // still waits ("its project was deleted"): either ending is right.
    let row = s.pipeline.finished(project, delete).await;
    assert!(row.attempts >= 2, "retried: {} attempts", row.attempts);
    match row.status {
        ActionStatus::Succeeded => {}
        ActionStatus::Cancelled => {
            assert_eq!(row.last_error.as_deref(), Some("its project was deleted"))
        }
        other => panic!("file.delete ended {other:?}: {:?}", row.last_error),
    }
    let row = s.pipeline.succeeded(project, gone).await;
    let result = row.result.expect("a result");
    assert_eq!(result["bucket_deleted"], true, "{result}");
    assert!(!bucket_exists(&s.store, &s.location.bucket).await);
    assert!(listing(&s.store, &s.location.bucket).await.is_empty());
    let row: Option<String> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
        .bind(project)
        .fetch_optional(&s.pipeline.pool)
        .await
        .expect("read the project");
    assert_eq!(row, None, "the row went once the storage had");
    s.cleanup().await;
}

#[tokio::test]
async fn a_project_deleted_with_files_leaves_no_object_version_or_bucket() {
    let project = "files-project";
    let s = start(project, |_| {}).await;
    for i in 0..3 {
        put(&s.store, &s.location, "doc.txt", &format!("v{i}")).await;
    }
    put(&s.store, &s.location, "dir/x.txt", "x").await;
    s.store
        .client()
        .delete_object()
        .bucket(&s.location.bucket)
        .key("dir/x.txt")
        .send()
        .await
        .expect("a delete marker");
    assert_eq!(listing(&s.store, &s.location.bucket).await.len(), 5);

    let id = s
        .pipeline
        .publish(ActionKind::ProjectDelete, project, None, json!({}))
        .await;
    let row = s.pipeline.succeeded(project, id).await;

    let result = row.result.expect("a result");
    assert_eq!(result["file_versions_deleted"], 5, "{result}");
    assert!(!bucket_exists(&s.store, &s.location.bucket).await);
    let projects: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE id = $1")
        .bind(project)
        .fetch_one(&s.pipeline.pool)
        .await
        .expect("count");
    assert_eq!(projects, 0);
    s.cleanup().await;
}

#[tokio::test]
async fn a_malformed_file_message_is_dead_lettered_at_once_with_its_reason() {
    let project = "files-bad";
    let s = start(project, |_| {}).await;
    let broker = TestBroker::connect(Topology::new(&s.pipeline.common.topology_prefix)).await;
    let cases = [
        (
            "file.delete",
            json!({"files": [{"key": "../../etc/passwd"}]}),
            "a file key must not contain a '..' segment",
        ),
        (
            "file.delete_by_date",
            json!({"date_from": "2026-02-01T00:00:00Z", "date_to": "2026-01-01T00:00:00Z"}),
            "date_from must not be after date_to",
        ),
    ];
    for (kind, payload, _) in &cases {
        let body = json!({
            "schema_version": 1,
            "action_id": Uuid::now_v7(),
            "kind": kind,
            "project_id": project,
            "payload": payload,
        });
        broker
            .publish_action(kind, &serde_json::to_vec(&body).expect("json"))
            .await;
    }
    let dead_queue = broker.topology().dead_queue();
    eventually(DEADLINE, "both messages in the dead queue", || async {
        (broker.queue_len(&dead_queue).await? >= 2).then_some(())
    })
    .await;
    let dead = broker.drain_dead().await;
    let reasons: Vec<String> = dead
        .iter()
        .map(|m| header(m, "x-contaxy-reason").unwrap_or_default())
        .collect();
    for (kind, _, reason) in &cases {
        assert!(
            reasons
                .iter()
                .any(|r| r.contains(reason) && r.contains(&format!("payload of {kind}"))),
            "{kind}: {reasons:?}"
        );
    }
    for message in &dead {
        assert_eq!(
            header(message, "x-contaxy-error-class").as_deref(),
            Some("malformed")
        );
    }
    s.cleanup().await;
}

#[tokio::test]
async fn the_api_deletes_by_date_as_admin_and_shows_the_count() {
    let api = TestApi::start().await;
    let project = "files-api";
    api.create_project(project).await;
    let pipeline = Pipeline::sharing(&api).await;
    let _worker = pipeline.spawn_worker(WorkerSettings::default()).await;
    let store = ObjectStore::new(&api.common);
    let location = store.ensure(project).await.expect("bucket");
    put(&store, &location, "a.txt", "one").await;
    put(&store, &location, "b.txt", "two").await;

    let path = format!("/projects/{project}/files");
    let backwards = format!("{path}?date_from=2026-02-01T00:00:00Z&date_to=2026-01-01T00:00:00Z");
    let refused = api
        .call(Method::DELETE, &backwards, Some(&api.admin), None)
        .await;
    assert_problem(&refused, 400);
    assert!(
        refused
            .body
            .to_string()
            .contains("date_from must not be after date_to"),
        "{:?}",
        refused.body
    );
    let writer = api.project_token(project, "write").await;
    let denied = api.call(Method::DELETE, &path, Some(&writer), None).await;
    assert_problem(&denied, 403);

    let accepted = api
        .call(Method::DELETE, &path, Some(&api.admin), None)
        .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let id: Uuid = accepted.body["action_id"]
        .as_str()
        .expect("an action id")
        .parse()
        .expect("a uuid");
    pipeline.succeeded(project, id).await;
    let shown = api
        .get(&format!("/projects/{project}/actions/{id}"), &api.admin)
        .await;
    assert_eq!(shown.body["kind"], "file.delete_by_date");
    assert_eq!(shown.body["result"], json!({"deleted": 2}));
    assert!(listing(&store, &location.bucket).await.is_empty());
    remove_buckets(&store, &api.common.s3_bucket_prefix).await;
}
