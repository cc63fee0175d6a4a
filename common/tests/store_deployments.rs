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
