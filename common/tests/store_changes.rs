//! `store::changes` against the real PostgreSQL: the triggers of migrations
//! 0019 and 0020 notify, the listener wakes exactly the waiters of the row that
//! changed, and a reconnect of the listener wakes every waiter.
//!
//! Nothing here re-reads on a timer: a waiter that wakes was woken by a
//! notification (or by the listener beginning a session).

use chrono::Utc;
use contaxy_common::domain::action::{Action, ActionOrigin, DeploymentAction};
use contaxy_common::domain::deployment::DeploymentStatus;
use contaxy_common::store::actions::{self, NewAction};
use contaxy_common::store::changes::{APPLICATION_NAME, Change, Changes, Watch};
use contaxy_common::store::events;
use contaxy_tests::db::insert_deployment;
use contaxy_tests::{TestDb, within};
use futures::FutureExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A listener on `pool`'s database, listening already.
async fn listening(pool: &PgPool, shutdown: &CancellationToken) -> Changes {
    let changes = Changes::start(pool, shutdown.child_token());
    let mut sessions = changes.sessions();
    within("the listener to listen", sessions.wait_for(|n| *n >= 1))
        .await
        .expect("the listener runs");
    changes
}

/// Records a `deployment.stop` action of `alpha` (status `queued`).
async fn record_action(pool: &PgPool) -> Uuid {
    let action = NewAction::new(
        "alpha",
        Action::Deployment {
            deployment_id: "web".to_owned(),
            action: DeploymentAction::Stop,
        },
        ActionOrigin::Api,
    );
    let mut conn = pool.acquire().await.expect("conn");
    actions::record(&mut conn, &action).await.expect("record");
    action.id
}

async fn set_action_status(pool: &PgPool, id: Uuid, status: &str) {
    sqlx::query("UPDATE actions SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(pool)
        .await
        .expect("update the action");
}

/// Whether `watch` was woken and not yet waited on again (a wake is
/// immediate, so this looks without waiting).
fn woken(watch: &mut Watch) -> bool {
    watch.changed().now_or_never().is_some()
}

#[tokio::test]
async fn an_action_that_ends_wakes_its_waiters_and_no_others() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let changes = listening(&pool, &shutdown).await;
    let first = record_action(&pool).await;
    let second = record_action(&pool).await;
    let mut first_watch = changes.watch(Change::ActionEnded(first));
    let mut second_watch = changes.watch(Change::ActionEnded(second));

    // Not final: no notification.
    set_action_status(&pool, first, "running").await;
    set_action_status(&pool, first, "retrying").await;
    // Final: its waiter wakes, by the notification alone.
    set_action_status(&pool, second, "succeeded").await;
    within("the second action's waiter to wake", second_watch.changed()).await;
    // The listener passes notifications on in the order they were sent, so
    // had the first action's updates notified, its waiter would be awake.
    assert!(!woken(&mut first_watch), "a status that is not final woke");

    set_action_status(&pool, first, "failed").await;
    within("the first action's waiter to wake", first_watch.changed()).await;
    assert!(!woken(&mut second_watch), "another action's end woke");
}

#[tokio::test]
async fn a_deployment_wakes_its_waiters_when_its_status_changes_or_it_goes() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let changes = listening(&pool, &shutdown).await;
    insert_deployment(&pool, "alpha", "web", "service", "pending").await;
    insert_deployment(&pool, "alpha", "other", "service", "pending").await;
    let mut web = changes.watch(Change::DeploymentStatus("web".into()));
    let mut other = changes.watch(Change::DeploymentStatus("other".into()));
    let update = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(sql).execute(&pool).await.expect("update");
        }
    };

    // Writes that leave the status as it was do not notify.
    update("UPDATE deployments SET status_detail = 'starting' WHERE id = 'web'").await;
    update("UPDATE deployments SET status = 'pending' WHERE id = 'web'").await;
    update("UPDATE deployments SET status = 'running' WHERE id = 'other'").await;
    within("the other deployment's waiter to wake", other.changed()).await;
    assert!(!woken(&mut web), "a write that kept the status woke");

    update("UPDATE deployments SET status = 'running' WHERE id = 'web'").await;
    within("the waiter to wake on the status", web.changed()).await;
    update("DELETE FROM deployments WHERE id = 'web'").await;
    within("the waiter to wake on the delete", web.changed()).await;
    assert!(!woken(&mut other), "another deployment's change woke");
}

#[tokio::test]
async fn a_recorded_status_change_wakes_its_projects_streams_only() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let changes = listening(&pool, &shutdown).await;
    let mut alpha = changes.watch(Change::ProjectEvent("alpha".into()));
    let mut beta = changes.watch(Change::ProjectEvent("beta".into()));
    let record = |project: &'static str| {
        let pool = pool.clone();
        async move {
            events::record(
                &pool,
                project,
                "web",
                DeploymentStatus::Running,
                None,
                Utc::now(),
            )
            .await
            .expect("record an event");
        }
    };

    record("beta").await;
    within("beta's stream to wake", beta.changed()).await;
    assert!(!woken(&mut alpha), "another project's change woke");
    record("alpha").await;
    within("alpha's stream to wake", alpha.changed()).await;
    assert!(!woken(&mut beta), "another project's change woke");
}

#[tokio::test]
async fn a_reconnect_of_the_listener_wakes_every_waiter() {
    let (db, pool) = TestDb::with_project("alpha").await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let changes = listening(&pool, &shutdown).await;
    let mut action = changes.watch(Change::ActionEnded(Uuid::now_v7()));
    let mut deployment = changes.watch(Change::DeploymentStatus("web".into()));
    assert!(!woken(&mut action), "woken before anything happened");

    // PostgreSQL ends the listener's session (as a restart or a network
    // failure would): what was announced meanwhile is lost, so the
    // listener wakes everyone once it listens again.
    let mut admin = db.connect().await;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(APPLICATION_NAME)
    .fetch_all(&mut admin)
    .await
    .expect("end the listener's session");
    assert_eq!(ended, [true], "one listener session");
    let mut sessions = changes.sessions();
    within(
        "the listener to listen again",
        sessions.wait_for(|n| *n >= 2),
    )
    .await
    .expect("the listener runs");
    within("the action's waiter to wake", action.changed()).await;
    within("the deployment's waiter to wake", deployment.changed()).await;

    // And it listens again for real.
    let id = record_action(&pool).await;
    let mut ended = changes.watch(Change::ActionEnded(id));
    set_action_status(&pool, id, "cancelled").await;
    within("a notification after the reconnect", ended.changed()).await;
}
