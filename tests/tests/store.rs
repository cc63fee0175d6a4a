//! Store queries whose guarantees matter beyond one caller, against the real
//! PostgreSQL.

use std::time::Duration;

use chrono::Utc;
use contaxy_common::domain::action::{Action, ActionOrigin, DeploymentAction};
use contaxy_common::domain::deployment::DeploymentStatus;
use contaxy_common::domain::{Permission, ProjectId, TokenSecret};
use contaxy_common::store::actions::{self, NewAction, Recorded};
use contaxy_common::store::deployments::ObservedStatus;
use contaxy_common::store::tokens::{self, DeploymentToken};
use contaxy_common::store::{MIGRATOR, deployments};
use contaxy_tests::{TestDb, eventually};
use sqlx::PgPool;

async fn migrated() -> (TestDb, PgPool) {
    let db = TestDb::new().await;
    let pool = PgPool::connect(db.url()).await.expect("connect");
    MIGRATOR.run(&pool).await.expect("migrate");
    sqlx::query("INSERT INTO projects (id, display_name) VALUES ('alpha', 'Alpha')")
        .execute(&pool)
        .await
        .expect("a project");
    (db, pool)
}

async fn deployment(pool: &PgPool, id: &str, status: &str) {
    sqlx::query(
        "INSERT INTO deployments (id, project_id, deployment_type, display_name, spec, status)
         VALUES ($1, 'alpha', 'service', 'Web', '{\"container_image\": \"x\"}', $2)",
    )
    .bind(id)
    .bind(status)
    .execute(pool)
    .await
    .expect("a deployment");
}

#[tokio::test]
async fn running_deployments_whose_container_is_gone_become_stopped_once() {
    let (_db, pool) = migrated().await;
    deployment(&pool, "gone", "running").await;
    deployment(&pool, "present", "running").await;
    deployment(&pool, "pending", "pending").await;
    let listed_at = Utc::now();
    deployment(&pool, "newer", "running").await;

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
    let (_db, pool) = migrated().await;
    deployment(&pool, "web", "pending").await;
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
async fn a_deployment_token_put_back_after_an_adoption_is_as_it_was() {
    let (_db, pool) = migrated().await;
    sqlx::query(
        "INSERT INTO deployments (id, project_id, deployment_type, display_name, spec, status)
         VALUES ('job1', 'alpha', 'job', 'Job', '{\"container_image\": \"x\"}', 'succeeded')",
    )
    .execute(&pool)
    .await
    .expect("a finished job");
    let project = ProjectId::parse("alpha").expect("id");
    let token = |hash| DeploymentToken {
        project: &project,
        deployment_id: "job1",
        hash,
        scope: Permission::parse("projects/alpha/jobs/job1#read").expect("scope"),
    };
    let first = TokenSecret::generate().hash();
    assert!(
        tokens::rotate_deployment_token(&pool, &token(first))
            .await
            .expect("rotate")
            .is_none()
    );
    assert!(
        tokens::revoke_finished_job_token(&pool, "job1")
            .await
            .expect("revoke")
    );

    // A redelivered deploy rotates, then adopts the finished container.
    let second = TokenSecret::generate().hash();
    let previous = tokens::rotate_deployment_token(&pool, &token(second))
        .await
        .expect("rotate")
        .expect("the first token");
    assert_eq!(previous.hash, first);
    assert!(previous.revoked_at.is_some());
    tokens::restore_deployment_token(&pool, "job1", &second, &previous)
        .await
        .expect("restore");
    let row = tokens::find_by_hash(&pool, &first)
        .await
        .expect("query")
        .expect("the first token is back");
    assert!(row.revoked_at.is_some(), "it must stay revoked");
    assert!(
        tokens::find_by_hash(&pool, &second)
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn an_action_is_claimed_once_until_its_lease_runs_out() {
    let (_db, pool) = migrated().await;
    let stop = Action::Deployment {
        deployment_id: "ctxy-p-alpha-s-web".to_owned(),
        action: DeploymentAction::Stop,
    };
    let new = NewAction::new("alpha", stop, ActionOrigin::Broker);
    let mut conn = pool.acquire().await.expect("conn");
    assert!(matches!(
        actions::record(&mut conn, &new).await.expect("record"),
        Recorded::New(_)
    ));
    assert!(matches!(
        actions::record(&mut conn, &new).await.expect("again"),
        Recorded::Existing(_)
    ));
    drop(conn);

    let lease = Duration::from_millis(300);
    let first = actions::claim(&pool, new.id, lease).await.expect("claim");
    assert_eq!(first.map(|a| a.attempts), Some(1));
    assert!(
        actions::claim(&pool, new.id, lease)
            .await
            .expect("claim")
            .is_none(),
        "a duplicate"
    );
    // A worker that died: once its lease runs out, another may claim.
    let second = eventually(Duration::from_secs(5), "the lease to run out", || async {
        actions::claim(&pool, new.id, lease).await.expect("claim")
    })
    .await;
    assert_eq!(second.attempts, 2);
}
