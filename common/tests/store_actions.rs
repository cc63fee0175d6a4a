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
        Claim::Held(_) | Claim::NotClaimable => None,
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
            Claim::Held(_) | Claim::NotClaimable => None,
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
