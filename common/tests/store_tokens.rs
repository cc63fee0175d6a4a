//! `store::tokens` against the real PostgreSQL: a deployment's token across
//! a redelivered deploy.

use contaxy_common::domain::{Permission, ProjectId, TokenSecret};
use contaxy_common::store::tokens::{self, DeploymentToken};
use contaxy_tests::TestDb;
use contaxy_tests::db::insert_deployment;

#[tokio::test]
async fn a_deployment_token_put_back_after_an_adoption_is_as_it_was() {
    let (_db, pool) = TestDb::with_project("alpha").await;
    // A finished job.
    insert_deployment(&pool, "alpha", "job1", "job", "succeeded").await;
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
