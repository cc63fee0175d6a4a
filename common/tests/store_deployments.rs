//! `store::deployments` against the real PostgreSQL: what a reconcile
//! writes from the runtime's listing.

use chrono::Utc;
use contaxy_common::domain::deployment::DeploymentStatus;
use contaxy_common::store::deployments::{self, ObservedStatus};
use contaxy_tests::TestDb;
use contaxy_tests::db::insert_deployment;

#[tokio::test]
async fn running_deployments_whose_container_is_gone_become_stopped_once() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    insert_deployment(&pool, "alpha", "gone", "service", "running").await;
    insert_deployment(&pool, "alpha", "present", "service", "running").await;
    insert_deployment(&pool, "alpha", "pending", "service", "pending").await;
    let listed_at = Utc::now();
    insert_deployment(&pool, "alpha", "newer", "service", "running").await;

    let present = vec!["present".to_owned()];
    let changed = deployments::stop_missing(&pool, &present, listed_at)
        .await
        .expect("query");
    assert_eq!(changed, [("alpha".to_owned(), "gone".to_owned())]);
    let again = deployments::stop_missing(&pool, &present, listed_at)
        .await
        .expect("query");
    assert!(again.is_empty(), "a change is made once: {again:?}");
}

#[tokio::test]
async fn a_status_from_a_listing_older_than_the_row_is_not_written() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    insert_deployment(&pool, "alpha", "web", "service", "pending").await;
    let status = |status| ObservedStatus {
        status,
        exit_code: None,
        detail: None,
    };
    // A reconcile lists the container while it is still `created`...
    let listed_at = Utc::now();
    // ...then its start event is recorded...
    let started =
        deployments::observe_status(&pool, "web", &status(DeploymentStatus::Running), None)
            .await
            .expect("query");
    assert_eq!(started.as_deref(), Some("alpha"));
    // ...and the listing's `pending` comes too late: nothing is written, so
    // nothing is published, and `running` stays.
    let stale = deployments::observe_status(
        &pool,
        "web",
        &status(DeploymentStatus::Pending),
        Some(listed_at),
    )
    .await
    .expect("query");
    assert_eq!(stale, None);
    let now: String = sqlx::query_scalar("SELECT status FROM deployments WHERE id = 'web'")
        .fetch_one(&pool)
        .await
        .expect("status");
    assert_eq!(now, "running");
    // A listing taken after the row's last change is written.
    let fresh = deployments::observe_status(
        &pool,
        "web",
        &status(DeploymentStatus::Stopped),
        Some(Utc::now()),
    )
    .await
    .expect("query");
    assert_eq!(fresh.as_deref(), Some("alpha"));
}

#[tokio::test]
async fn an_exit_after_a_stop_asked_for_leaves_the_deployment_stopped() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    insert_deployment(&pool, "alpha", "web", "service", "running").await;
    insert_deployment(&pool, "alpha", "done", "job", "succeeded").await;
    let killed = ObservedStatus {
        status: DeploymentStatus::Failed,
        exit_code: Some(137),
        detail: None,
    };
    let before = deployments::mark_stopped(&pool, "alpha", "web", "stopped on request")
        .await
        .expect("query");
    assert_eq!(before, Some(DeploymentStatus::Running));
    // The container's exit (killed after the stop timeout), from its event
    // and from a later listing: neither turns the stop into a failure.
    let from_event = deployments::observe_status(&pool, "web", &killed, None)
        .await
        .expect("query");
    assert_eq!(from_event, None);
    let from_listing = deployments::observe_status(&pool, "web", &killed, Some(Utc::now()))
        .await
        .expect("query");
    assert_eq!(from_listing, None);
    let status = |id: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM deployments WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("status")
        }
    };
    assert_eq!(status("web").await, "stopped");
    // Started again, it runs, and a crash then is a failure again.
    let running = ObservedStatus {
        status: DeploymentStatus::Running,
        exit_code: None,
        detail: None,
    };
    deployments::observe_status(&pool, "web", &running, None)
        .await
        .expect("query");
    deployments::observe_status(&pool, "web", &killed, None)
        .await
        .expect("query");
    assert_eq!(status("web").await, "failed");
    // A finished job keeps its ending.
    let job = deployments::mark_stopped(&pool, "alpha", "done", "stopped on request")
        .await
        .expect("query");
    assert_eq!(job, None);
    assert_eq!(status("done").await, "succeeded");
}
