//! The API's bounded wait (`wait=true`) against the real PostgreSQL: it
//! wakes on the change notifications of migration 0019, not on its
//! re-read timer; without notifications its re-reads still see the
//! outcome; its deadline holds.
//!
//! The waiter's re-read interval is an hour where the point is that
//! notifications alone wake it: a wait that ends within the test's
//! deadline was woken by PostgreSQL.

use std::time::Duration;

use contaxy_api::actions::{Waited, wait_for_outcome};
use contaxy_common::domain::action::{Action, ActionOrigin, ActionStatus, DeploymentAction};
use contaxy_common::store::actions::{self, ActionRecord, NewAction};
use contaxy_common::store::changes::Changes;
use contaxy_tests::db::insert_deployment;
use contaxy_tests::{TestDb, within};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const AN_HOUR: Duration = Duration::from_secs(3600);

/// Records a `deployment.start` of `alpha`'s deployment `web` (queued).
async fn record_start(pool: &PgPool) -> ActionRecord {
    let start = NewAction::new(
        "alpha",
        Action::Deployment {
            deployment_id: "web".to_owned(),
            action: DeploymentAction::Start,
        },
        ActionOrigin::Api,
    );
    let mut conn = pool.acquire().await.expect("conn");
    actions::record(&mut conn, &start)
        .await
        .expect("record")
        .record()
        .clone()
}

async fn execute(pool: &PgPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.expect(sql);
}

/// Starts a wait on `action` in the background.
fn wait_in_background(
    pool: &PgPool,
    changes: &Changes,
    recheck: Duration,
    action: ActionRecord,
    deadline: Instant,
) -> JoinHandle<Waited> {
    let (pool, changes) = (pool.clone(), changes.clone());
    tokio::spawn(async move { wait_for_outcome(&pool, &changes, recheck, action, deadline).await })
}

/// Returns once a connection to `db` has read a row of `table` the way the
/// wait does and is idle after it: the waiter read its row and sleeps, so
/// a change from now on is one it has not seen.
async fn until_read(db: &TestDb, table: &str) {
    let mut conn = db.connect().await;
    let sql = format!("SELECT * FROM {table} WHERE project_id = $1 AND id = $2");
    within(&format!("the waiter to read {table}"), async {
        loop {
            let reads: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND state = 'idle' AND query = $1",
            )
            .bind(&sql)
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_activity");
            if reads > 0 {
                return;
            }
            // Paces the look only; what is waited for is the read.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_waited_start_ends_on_notifications_with_an_hour_between_rereads() {
    let (db, pool) = TestDb::with_project("alpha").await;
    insert_deployment(&pool, "alpha", "web", "service", "pending").await;
    let action = record_start(&pool).await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let changes = Changes::start(&pool, shutdown.child_token());
    let mut sessions = changes.sessions();
    within("the listener to listen", sessions.wait_for(|n| *n >= 1))
        .await
        .expect("the listener runs");

    let waiting = wait_in_background(&pool, &changes, AN_HOUR, action, Instant::now() + AN_HOUR);
    until_read(&db, "actions").await;
    // A status on the way does not end the wait; the final one does.
    execute(&pool, "UPDATE actions SET status = 'running'").await;
    execute(&pool, "UPDATE actions SET status = 'succeeded'").await;
    // The action ended; the wait goes on to the deployment, still pending.
    until_read(&db, "deployments").await;
    assert!(!waiting.is_finished(), "done before the deployment settled");
    execute(&pool, "UPDATE deployments SET status = 'running'").await;

    let waited = within("the wait to end", waiting).await.expect("the wait");
    assert!(waited.done, "{waited:?}");
    assert_eq!(waited.action.status, ActionStatus::Succeeded);
    assert_eq!(changes.watched(), 0, "the wait left no watch behind");
}

#[tokio::test]
async fn without_notifications_the_rereads_still_see_the_end() {
    let (db, pool) = TestDb::with_project("alpha").await;
    insert_deployment(&pool, "alpha", "web", "service", "running").await;
    let action = record_start(&pool).await;
    // No listener: only the re-reads can see the change.
    let changes = Changes::new();
    let recheck = Duration::from_millis(50);

    let waiting = wait_in_background(&pool, &changes, recheck, action, Instant::now() + AN_HOUR);
    until_read(&db, "actions").await;
    execute(&pool, "UPDATE actions SET status = 'failed'").await;

    let waited = within("the wait to end", waiting).await.expect("the wait");
    assert!(waited.done, "{waited:?}");
    assert_eq!(waited.action.status, ActionStatus::Failed);
}

#[tokio::test]
async fn a_wait_nothing_ends_stops_at_its_deadline() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    insert_deployment(&pool, "alpha", "web", "service", "pending").await;
    let action = record_start(&pool).await;
    let changes = Changes::new();

    let deadline = Instant::now() + Duration::from_millis(300);
    let waited = within(
        "the wait to give up",
        wait_for_outcome(&pool, &changes, AN_HOUR, action, deadline),
    )
    .await;
    assert!(!waited.done, "{waited:?}");
    assert_eq!(waited.action.status, ActionStatus::Queued);
    assert!(Instant::now() >= deadline, "gave up before its deadline");
}
