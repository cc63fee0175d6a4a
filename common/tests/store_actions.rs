//! `store::actions` against the real PostgreSQL: recording and claiming an
//! action under a lease.

use std::time::Duration;

use contaxy_common::domain::action::{Action, ActionOrigin, DeploymentAction};
use contaxy_common::store::actions::{self, NewAction, Recorded};
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
