//! Store queries whose guarantees matter beyond one caller, against the real
//! PostgreSQL.

use std::time::Duration;

use chrono::Utc;
use contaxy_common::domain::action::{ActionKind, ActionOrigin};
use contaxy_common::store::actions::{self, NewAction, Recorded};
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
async fn an_action_is_claimed_once_until_its_lease_runs_out() {
    let (_db, pool) = migrated().await;
    let new = NewAction::new("alpha", ActionKind::DeploymentDeploy, ActionOrigin::Broker);
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
