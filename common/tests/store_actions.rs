//! `store::actions` against the real PostgreSQL: recording and claiming an
//! action under a lease.

use std::time::Duration;

use contaxy_common::domain::action::{Action, ActionOrigin, ActionStatus, DeploymentAction};
use contaxy_common::store::actions::{self, Claim, NewAction, Recorded};
use contaxy_tests::{TestDb, eventually};

#[tokio::test]
async fn an_action_is_claimed_once_until_its_lease_runs_out() {
    let (_db, pool) = TestDb::with_project("alpha").await;
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
    let claimed = |claim: Claim| match claim {
        Claim::Claimed(row) => Some(row),
        Claim::Exhausted(row) => panic!("exhausted: {row:?}"),
        Claim::Held(_) | Claim::Waiting(_) | Claim::NotClaimable => None,
    };
    let first = claimed(
        actions::claim(&pool, new.id, lease, 3)
            .await
            .expect("claim"),
    );
    assert_eq!(first.map(|a| a.attempts), Some(1));
    assert!(
        claimed(
            actions::claim(&pool, new.id, lease, 3)
                .await
                .expect("claim")
        )
        .is_none(),
        "a duplicate"
    );
    // A worker that died: once its lease runs out, another may claim.
    let second = eventually(Duration::from_secs(5), "the lease to run out", || async {
        claimed(
            actions::claim(&pool, new.id, lease, 3)
                .await
                .expect("claim"),
        )
    })
    .await;
    assert_eq!(second.attempts, 2);

    // With its attempts used up, a dead worker's action is failed, not run
    // once more.
    let exhausted = eventually(Duration::from_secs(5), "the lease to run out", || async {
        match actions::claim(&pool, new.id, lease, 2)
            .await
            .expect("claim")
        {
            Claim::Exhausted(row) => Some(row),
            Claim::Claimed(row) => panic!("claimed past the limit: {row:?}"),
            Claim::Held(_) | Claim::Waiting(_) | Claim::NotClaimable => None,
        }
    })
    .await;
    assert_eq!(exhausted.attempts, 2);
    assert_eq!(exhausted.status, ActionStatus::Failed);
    assert!(
        exhausted
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("gave up after 2 attempts")),
        "{exhausted:?}"
    );
    assert_eq!(
        actions::claim(&pool, new.id, lease, 2)
            .await
            .expect("claim"),
        Claim::NotClaimable,
        "failed is final"
    );
}

/// Records an action on `resource` (a deployment id), accepted after every
/// one recorded before it.
async fn accept(pool: &sqlx::PgPool, action: Action) -> uuid::Uuid {
    let new = NewAction::new("alpha", action, ActionOrigin::Api);
    let mut conn = pool.acquire().await.expect("conn");
    actions::record(&mut conn, &new).await.expect("record");
    new.id
}

fn on(resource: &str, action: DeploymentAction) -> Action {
    Action::Deployment {
        deployment_id: resource.to_owned(),
        action,
    }
}

#[tokio::test]
async fn actions_on_one_resource_are_claimed_in_the_order_they_were_accepted() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    let lease = Duration::from_secs(30);
    let web = "ctxy-p-alpha--s-web";
    let start = accept(&pool, on(web, DeploymentAction::Start)).await;
    let stop = accept(&pool, on(web, DeploymentAction::Stop)).await;
    let other = accept(&pool, on("ctxy-p-alpha--s-db", DeploymentAction::Stop)).await;

    // The stop waits for the older start, whether that is waiting or running.
    let claim = actions::claim(&pool, stop, lease, 3).await.expect("claim");
    assert_eq!(claim, Claim::Waiting(start));
    assert!(matches!(
        actions::claim(&pool, start, lease, 3).await.expect("claim"),
        Claim::Claimed(_)
    ));
    let claim = actions::claim(&pool, stop, lease, 3).await.expect("claim");
    assert_eq!(claim, Claim::Waiting(start), "the start runs");
    // Another resource does not wait.
    assert!(matches!(
        actions::claim(&pool, other, lease, 3).await.expect("claim"),
        Claim::Claimed(_)
    ));
    // Its turn comes when the start ends.
    let outcome = actions::Outcome::Succeeded { result: None };
    assert!(
        actions::finish(&pool, start, 1, &outcome)
            .await
            .expect("finish")
    );
    assert!(matches!(
        actions::claim(&pool, stop, lease, 3).await.expect("claim"),
        Claim::Claimed(_)
    ));
}

#[tokio::test]
async fn a_delete_waits_only_for_what_runs_and_a_project_deletion_for_everything_running() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    let lease = Duration::from_secs(30);
    let web = "ctxy-p-alpha--s-web";
    let restart = accept(
        &pool,
        on(web, DeploymentAction::Restart(Default::default())),
    )
    .await;
    let job = accept(&pool, on("ctxy-p-alpha--j-x-1", DeploymentAction::Start)).await;
    let delete = accept(&pool, on(web, DeploymentAction::Delete(Default::default()))).await;
    let project = accept_project_delete(&pool).await;
    let claimed = |claim: Claim| matches!(claim, Claim::Claimed(_));
    let ended = actions::Outcome::Succeeded { result: None };

    assert!(claimed(
        actions::claim(&pool, job, lease, 3).await.expect("claim")
    ));
    // The project's deletion waits for the running job action.
    assert_eq!(
        actions::claim(&pool, project, lease, 3)
            .await
            .expect("claim"),
        Claim::Waiting(job)
    );
    // The delete does not wait for the older restart that merely waits...
    assert!(claimed(
        actions::claim(&pool, delete, lease, 3)
            .await
            .expect("claim")
    ));
    // ...and that one, older or not, does not run beside it.
    assert_eq!(
        actions::claim(&pool, restart, lease, 3)
            .await
            .expect("claim"),
        Claim::Waiting(delete)
    );
    assert!(
        actions::finish(&pool, job, 1, &ended)
            .await
            .expect("finish")
    );
    assert_eq!(
        actions::claim(&pool, project, lease, 3)
            .await
            .expect("claim"),
        Claim::Waiting(delete),
        "the delete still runs"
    );
    assert!(
        actions::finish(&pool, delete, 1, &ended)
            .await
            .expect("finish")
    );
    assert!(claimed(
        actions::claim(&pool, project, lease, 3)
            .await
            .expect("claim")
    ));
    // The restart runs now, and will find its deployment gone.
    assert!(claimed(
        actions::claim(&pool, restart, lease, 3)
            .await
            .expect("claim")
    ));
}

async fn accept_project_delete(pool: &sqlx::PgPool) -> uuid::Uuid {
    use contaxy_common::domain::action::ProjectAction;
    accept(pool, Action::Project(ProjectAction::Delete)).await
}

/// The claim decides "blocked" and "by whom" in two statements: an action
/// that ended between them must not make the waiting one look ended (it was
/// then acknowledged as a duplicate and never ran: a project's deletion was
/// seen to stay `queued` for good under load).
#[tokio::test]
async fn a_blocker_ending_during_the_claim_never_drops_the_waiting_action() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    let lease = Duration::from_secs(30);
    let ended = actions::Outcome::Succeeded { result: None };
    for round in 0..200_u64 {
        let job = format!("ctxy-p-alpha--j-x-{round}");
        let running = accept(&pool, on(&job, DeploymentAction::Start)).await;
        assert!(matches!(
            actions::claim(&pool, running, lease, 3)
                .await
                .expect("claim"),
            Claim::Claimed(_)
        ));
        let project = accept_project_delete(&pool).await;
        let finishing = {
            let pool = pool.clone();
            let ended = ended.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros((round % 10) * 150)).await;
                actions::finish(&pool, running, 1, &ended)
                    .await
                    .expect("finish")
            })
        };
        let claim = actions::claim(&pool, project, lease, 3)
            .await
            .expect("claim");
        assert!(finishing.await.expect("finished"));
        match claim {
            Claim::Claimed(_) | Claim::Waiting(_) => {}
            other => panic!("round {round}: the waiting deletion was answered {other:?}"),
        }
        // Done with this round's deletion: end it so the next round's waits
        // only for its own job.
        let claimed = actions::claim(&pool, project, lease, 3)
            .await
            .expect("claim");
        let attempt = match claimed {
            Claim::Claimed(row) => row.attempts,
            Claim::Held(_) => 1,
            other => panic!("round {round}: {other:?}"),
        };
        assert!(
            actions::finish(&pool, project, attempt, &ended)
                .await
                .expect("finish")
        );
    }
}
