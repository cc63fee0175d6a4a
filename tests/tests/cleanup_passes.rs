//! The scheduler's cleanup passes, end to end, with the clock moved instead
//! of waited for: each removes exactly what it should and nothing else.

use std::time::Duration;

use contaxy_common::storage::{ObjectStore, StorageError};
use contaxy_scheduler::cleanup::{
    CleanupSettings, expired_tokens, idle_services, job_ttl, status_events,
};
use contaxy_tests::cleanup::{cleanup_context, db_now_plus};
use contaxy_tests::stack::{PROJECT, Stack, job};
use contaxy_tests::storage::remove_buckets;
use contaxy_tests::{DEADLINE, IDLE, eventually, str_of};

fn settings() -> CleanupSettings {
    CleanupSettings {
        job_ttl: Duration::from_secs(60),
        job_record_retention: Some(Duration::from_secs(3600)),
        token_grace: Duration::from_secs(24 * 3600),
        ..CleanupSettings::default()
    }
}

#[tokio::test]
async fn finished_jobs_past_their_ttl_lose_their_container_keep_their_logs_then_their_record() {
    let stack = Stack::start().await;
    let store = ObjectStore::new(&stack.common);
    let expired = stack
        .submit(
            "jobs",
            &job("expired job", "echo hello archive; echo line two"),
        )
        .await;
    let expired = str_of(&expired, "id").to_owned();
    let mut kept = job("kept job", "echo keep me");
    kept["ttl_seconds_after_finished"] = 7200.into();
    let kept = stack.submit("jobs", &kept).await;
    let kept = str_of(&kept, "id").to_owned();
    let live = stack.submit("jobs", &job("live job", IDLE)).await;
    let live = str_of(&live, "id").to_owned();
    stack.wait_status("jobs", &expired, "succeeded").await;
    stack.wait_status("jobs", &kept, "succeeded").await;
    stack.wait_status("jobs", &live, "running").await;
    let cleanup = cleanup_context(&stack, settings()).await;

    // Within the TTL: nothing.
    let report = job_ttl::run_once(&cleanup.ctx, db_now_plus(&cleanup.pool, 30).await)
        .await
        .expect("a pass");
    assert!(report.submitted.is_empty(), "{report:?}");

    // Past the default TTL: only the finished job without a TTL of its own.
    let later = db_now_plus(&cleanup.pool, 120).await;
    let report = job_ttl::run_once(&cleanup.ctx, later)
        .await
        .expect("a pass");
    assert_eq!(
        report.submitted,
        vec![(PROJECT.to_owned(), expired.clone())],
        "{report:?}"
    );
    eventually(DEADLINE, "the expired job's container to go", || async {
        stack
            .containers(Some(&expired))
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    // Its record and its logs still answer, from the archive.
    let record = stack.deployment("jobs", &expired).await;
    assert_eq!(record.status, 200, "{:?}", record.body);
    assert_eq!(record.body["status"], "succeeded", "{:?}", record.body);
    let (status, text) = eventually(DEADLINE, "the archived logs", || async {
        let (status, text) = stack.logs("jobs", &expired, "").await;
        (status == 200).then_some((status, text))
    })
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("hello archive"), "{text:?}");
    let (_, tail) = stack.logs("jobs", &expired, "lines=1").await;
    assert_eq!(tail.trim_end(), "line two", "{tail:?}");
    // Nothing else was touched.
    assert_eq!(stack.containers(Some(&kept)).await.len(), 1);
    assert_eq!(stack.containers(Some(&live)).await.len(), 1);
    assert_eq!(
        stack.deployment("jobs", &live).await.body["status"],
        "running"
    );
    // Archived: not due again.
    let report = job_ttl::run_once(&cleanup.ctx, later)
        .await
        .expect("a pass");
    assert!(report.submitted.is_empty(), "{report:?}");

    // The record stays for the retention, then goes with its archive.
    let report = job_ttl::prune_once(&cleanup.ctx, db_now_plus(&cleanup.pool, 120).await)
        .await
        .expect("a pass");
    assert!(report.submitted.is_empty(), "{report:?}");
    let report = job_ttl::prune_once(&cleanup.ctx, db_now_plus(&cleanup.pool, 4000).await)
        .await
        .expect("a pass");
    assert_eq!(
        report.submitted,
        vec![(PROJECT.to_owned(), expired.clone())],
        "{report:?}"
    );
    // The record is hidden as soon as the delete is accepted; the archive
    // goes when the worker has run it.
    eventually(DEADLINE, "the expired job's record to go", || async {
        (stack.deployment("jobs", &expired).await.status == 404).then_some(())
    })
    .await;
    eventually(DEADLINE, "the expired job's archive to go", || async {
        matches!(
            store.logs_archive(PROJECT, &expired).await,
            Err(StorageError::NotFound(_))
        )
        .then_some(())
    })
    .await;
    eventually(DEADLINE, "the expired job's row to go", || async {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deployments WHERE id = $1")
            .bind(&expired)
            .fetch_one(&cleanup.pool)
            .await
            .ok()?;
        (rows == 0).then_some(())
    })
    .await;
    assert_eq!(stack.deployment("jobs", &kept).await.status, 200);
    remove_buckets(&store, &stack.common.s3_bucket_prefix).await;
}

#[tokio::test]
async fn idle_services_are_stopped_and_others_keep_running() {
    let stack = Stack::start().await;
    let mut idle = job("idle service", IDLE);
    idle["idle_timeout"] = 60.into();
    let idle = stack.submit("services", &idle).await;
    let idle = str_of(&idle, "id").to_owned();
    let busy = stack.submit("services", &job("busy service", IDLE)).await;
    let busy = str_of(&busy, "id").to_owned();
    stack.wait_status("services", &idle, "running").await;
    stack.wait_status("services", &busy, "running").await;
    let cleanup = cleanup_context(&stack, settings()).await;

    let report = idle_services::run_once(&cleanup.ctx, db_now_plus(&cleanup.pool, 30).await)
        .await
        .expect("a pass");
    assert!(report.submitted.is_empty(), "{report:?}");
    let later = db_now_plus(&cleanup.pool, 120).await;
    let report = idle_services::run_once(&cleanup.ctx, later)
        .await
        .expect("a pass");
    assert_eq!(
        report.submitted,
        vec![(PROJECT.to_owned(), idle.clone())],
        "{report:?}"
    );
    // The same occasion is submitted once.
    let report = idle_services::run_once(&cleanup.ctx, later)
        .await
        .expect("a pass");
    assert!(report.submitted.is_empty(), "{report:?}");
    // A stop asked for (here by the cleanup) ends `stopped`.
    let stopped = stack.wait_status("services", &idle, "stopped").await;
    assert_eq!(stopped["is_stopped"], true, "{stopped}");
    assert_eq!(
        stack.deployment("services", &busy).await.body["status"],
        "running"
    );
}

#[tokio::test]
async fn status_events_past_their_retention_are_pruned_and_newer_ones_stay() {
    let stack = Stack::start().await;
    let accepted = stack.submit("jobs", &job("evented job", "true")).await;
    stack
        .wait_status("jobs", str_of(&accepted, "id"), "succeeded")
        .await;
    let cleanup = cleanup_context(
        &stack,
        CleanupSettings {
            events_retention: Duration::from_secs(3600),
            ..settings()
        },
    )
    .await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM deployment_events")
            .fetch_one(&cleanup.pool)
            .await
            .expect("a count")
    };
    let recorded = count().await;
    assert!(recorded >= 2, "the job's changes were recorded: {recorded}");

    // Within the retention: nothing goes.
    let report = status_events::run_once(&cleanup.ctx, db_now_plus(&cleanup.pool, 1800).await)
        .await
        .expect("a pass");
    assert_eq!(report.deleted, 0);
    assert_eq!(count().await, recorded);

    // Past it: every one.
    let report = status_events::run_once(&cleanup.ctx, db_now_plus(&cleanup.pool, 3700).await)
        .await
        .expect("a pass");
    assert_eq!(report.deleted, recorded as u64);
    assert_eq!(count().await, 0);
}

#[tokio::test]
async fn expired_tokens_are_deleted_after_the_grace_and_others_stay() {
    let stack = Stack::start().await;
    let cleanup = cleanup_context(&stack, settings()).await;
    let in_an_hour = db_now_plus(&cleanup.pool, 3600).await.to_rfc3339();
    let in_three_days = db_now_plus(&cleanup.pool, 3 * 24 * 3600).await.to_rfc3339();
    let (_, soon) = stack
        .api
        .create_token("users/admin", &["projects/alpha#read"], Some(&in_an_hour))
        .await;
    let (_, later) = stack
        .api
        .create_token(
            "users/admin",
            &["projects/alpha#read"],
            Some(&in_three_days),
        )
        .await;
    let (_, never) = stack
        .api
        .create_token("users/admin", &["projects/alpha#read"], None)
        .await;
    let exists = |id: String| {
        let pool = cleanup.pool.clone();
        async move {
            let id: uuid::Uuid = id.parse().expect("a token id");
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM api_tokens WHERE id = $1)")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("a query")
        }
    };

    // Expired, but within the grace: kept.
    let report = expired_tokens::run_once(&cleanup.ctx, db_now_plus(&cleanup.pool, 7200).await)
        .await
        .expect("a pass");
    assert_eq!(report.deleted, 0, "{report:?}");
    // Two days on: only the one that expired in an hour goes.
    let report = expired_tokens::run_once(
        &cleanup.ctx,
        db_now_plus(&cleanup.pool, 2 * 24 * 3600).await,
    )
    .await
    .expect("a pass");
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(!exists(soon).await);
    assert!(exists(later).await);
    assert!(exists(never).await);
}

#[tokio::test]
async fn containers_without_a_row_are_removed_and_recorded_ones_stay() {
    use contaxy_worker::WorkerSettings;
    use contaxy_worker::orphan_sweep::remove_orphan_deployments;

    let stack = Stack::start().await;
    let orphan = stack.submit("jobs", &job("orphan job", IDLE)).await;
    let orphan = str_of(&orphan, "id").to_owned();
    let kept = stack.submit("jobs", &job("recorded job", IDLE)).await;
    let kept = str_of(&kept, "id").to_owned();
    stack.wait_status("jobs", &orphan, "running").await;
    stack.wait_status("jobs", &kept, "running").await;
    let cleanup = cleanup_context(&stack, settings()).await;
    // The row goes behind the platform's back (as when a project's rows
    // went while a deploy was still making its container).
    sqlx::query("DELETE FROM deployments WHERE id = $1")
        .bind(&orphan)
        .execute(&cleanup.pool)
        .await
        .expect("the row is deleted");
    let runtime =
        contaxy_worker::runtime::build(&WorkerSettings::default().runtime(stack.namespace()))
            .await
            .expect("the runtime");

    // Too young: left for the next sweep.
    let removed = remove_orphan_deployments(&cleanup.pool, runtime.as_ref(), chrono::Utc::now())
        .await
        .expect("a sweep");
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(stack.containers(Some(&orphan)).await.len(), 1);

    let later = chrono::Utc::now() + chrono::Duration::seconds(120);
    let removed = remove_orphan_deployments(&cleanup.pool, runtime.as_ref(), later)
        .await
        .expect("a sweep");
    assert_eq!(removed, vec![(PROJECT.to_owned(), orphan.clone())]);
    assert!(stack.containers(Some(&orphan)).await.is_empty());
    assert_eq!(stack.containers(Some(&kept)).await.len(), 1);
    assert_eq!(
        stack.deployment("jobs", &kept).await.body["status"],
        "running"
    );
}

#[tokio::test]
async fn a_service_with_clear_volume_on_stop_loses_its_volume_on_stop_and_starts_anew() {
    use reqwest::Method;

    let stack = Stack::start().await;
    let mut body = job("clearing service", IDLE);
    body["clear_volume_on_stop"] = true.into();
    body["compute"]["volume_path"] = "/data".into();
    let accepted = stack.submit("services", &body).await;
    let id = str_of(&accepted, "id").to_owned();
    stack.wait_status("services", &id, "running").await;
    assert_eq!(stack.volumes(&id).await.len(), 1);
    let action = |name: &'static str| {
        let path = format!("/projects/{PROJECT}/services/{id}/actions/{name}");
        let stack = &stack;
        async move {
            let answer = stack.call(Method::POST, &path, None).await;
            assert_eq!(answer.status, 202, "{name}: {:?}", answer.body);
            stack
                .wait_action(str_of(&answer.body, "action_id"), "succeeded")
                .await;
        }
    };

    action("stop").await;
    assert!(
        stack.volumes(&id).await.is_empty(),
        "the volume was cleared"
    );
    assert!(stack.containers(Some(&id)).await.is_empty());
    // `stopped`, whenever its exit event comes.
    stack.wait_status("services", &id, "stopped").await;

    action("start").await;
    stack.wait_status("services", &id, "running").await;
    assert_eq!(stack.containers(Some(&id)).await.len(), 1);
    assert_eq!(stack.volumes(&id).await.len(), 1, "a fresh volume");
}

/// Makes a volume labelled as the Docker backend labels deployment volumes.
async fn labelled_volume(namespace: &str, name: &str, project: &str, incarnation: Option<&str>) {
    let mut command = tokio::process::Command::new("docker");
    command.args([
        "volume",
        "create",
        "--label",
        &format!("ctxy.namespace={namespace}"),
    ]);
    command.args(["--label", &format!("ctxy.projectName={project}")]);
    command.args(["--label", &format!("ctxy.deploymentId={name}")]);
    if let Some(incarnation) = incarnation {
        command.args(["--label", &format!("ctxy.projectIncarnation={incarnation}")]);
    }
    let status = command.arg(name).status().await.expect("docker runs");
    assert!(status.success(), "volume {name} is made");
}

#[tokio::test]
async fn volumes_of_gone_or_reborn_projects_are_swept_and_a_live_projects_stay() {
    use contaxy_worker::WorkerSettings;
    use contaxy_worker::orphan_sweep::remove_orphan_volumes;

    let stack = Stack::start().await;
    let cleanup = cleanup_context(&stack, settings()).await;
    let incarnation: uuid::Uuid =
        sqlx::query_scalar("SELECT incarnation FROM projects WHERE id = $1")
            .bind(PROJECT)
            .fetch_one(&cleanup.pool)
            .await
            .expect("the project");
    let ns = stack.namespace().to_owned();
    let kept = format!("{ns}-kept-vol");
    let reborn = format!("{ns}-reborn-vol");
    let gone = format!("{ns}-gone-vol");
    let before = format!("{ns}-before-incarnations-vol");
    labelled_volume(&ns, &kept, PROJECT, Some(&incarnation.to_string())).await;
    labelled_volume(
        &ns,
        &reborn,
        PROJECT,
        Some(&uuid::Uuid::new_v4().to_string()),
    )
    .await;
    labelled_volume(&ns, &gone, "ghost", Some(&uuid::Uuid::new_v4().to_string())).await;
    labelled_volume(&ns, &before, PROJECT, None).await;
    let runtime =
        contaxy_worker::runtime::build(&WorkerSettings::default().runtime(stack.namespace()))
            .await
            .expect("the runtime");

    let removed = remove_orphan_volumes(&cleanup.pool, runtime.as_ref(), chrono::Utc::now())
        .await
        .expect("a sweep");
    assert!(removed.is_empty(), "too young: {removed:?}");
    let later = chrono::Utc::now() + chrono::Duration::seconds(120);
    let mut removed = remove_orphan_volumes(&cleanup.pool, runtime.as_ref(), later)
        .await
        .expect("a sweep");
    removed.sort();
    let mut expected = vec![gone.clone(), reborn.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    for (name, stays) in [
        (&kept, true),
        (&before, true),
        (&gone, false),
        (&reborn, false),
    ] {
        assert_eq!(
            stack.volumes(name).await.len(),
            usize::from(stays),
            "{name}"
        );
    }
}
