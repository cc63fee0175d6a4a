//! Subnet allocation in PostgreSQL, without a runtime: concurrent
//! allocations never share a subnet, freed subnets are reused, an exhausted
//! pool says so, blocked subnets are stepped over, attachments follow the
//! runtime's report.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use contaxy_common::domain::network::{NetworkStatus, SubnetPool};
use contaxy_common::store::networks::{self, AllocationError, NetworkLock};
use contaxy_tests::db::{insert_deployment, insert_project};
use contaxy_tests::{TestDb, eventually};
use ipnet::Ipv4Net;
use sqlx::PgPool;

async fn allocate(pool: &PgPool, project: &str, subnets: &SubnetPool) -> String {
    let mut conn = pool.acquire().await.unwrap();
    networks::allocate(
        &mut conn,
        project,
        &format!("ns-p-{project}-network"),
        subnets,
    )
    .await
    .unwrap()
    .subnet
}

#[tokio::test]
async fn fifty_concurrent_allocations_get_fifty_disjoint_subnets_and_give_them_back() {
    let db = TestDb::new().await;
    let pool = db.migrated_pool(20).await;
    let subnets = SubnetPool::new("10.96.0.0/18", 24).unwrap();
    let projects: Vec<String> = (0..50).map(|i| format!("proj-{i:02}")).collect();

    let allocated = futures::future::join_all(
        projects
            .iter()
            .map(|project| allocate(&pool, project, &subnets)),
    )
    .await;
    let nets: BTreeSet<Ipv4Net> = allocated.iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(nets.len(), 50, "{allocated:?}");
    for (i, a) in nets.iter().enumerate() {
        assert!(subnets.range().contains(a), "{a}");
        for b in nets.iter().skip(i + 1) {
            assert!(!a.contains(b) && !b.contains(a), "{a} overlaps {b}");
        }
    }
    // The lowest 50 of the pool: allocation fills from the bottom.
    let expected: BTreeSet<Ipv4Net> = subnets.range().subnets(24).unwrap().take(50).collect();
    assert_eq!(nets, expected);

    // Asking again returns the same subnet.
    assert_eq!(
        allocate(&pool, "proj-07", &subnets).await,
        allocated[7],
        "allocation is idempotent per project"
    );

    for project in &projects {
        assert!(networks::remove(&pool, project).await.unwrap());
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM networks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(allocate(&pool, "again", &subnets).await, "10.96.0.0/24");
}

#[tokio::test]
async fn an_exhausted_pool_is_an_error_naming_the_pool_and_a_freed_subnet_is_reused() {
    let db = TestDb::new().await;
    let pool = db.migrated_pool(2).await;
    let subnets = SubnetPool::new("10.97.0.0/23", 24).unwrap();
    assert_eq!(allocate(&pool, "one", &subnets).await, "10.97.0.0/24");
    assert_eq!(allocate(&pool, "two", &subnets).await, "10.97.1.0/24");

    let mut conn = pool.acquire().await.unwrap();
    let error = networks::allocate(&mut conn, "three", "ns-p-three-network", &subnets)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AllocationError::PoolExhausted { capacity: 2, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("10.97.0.0/23") && message.contains("exhausted"),
        "{message}"
    );
    drop(conn);

    networks::remove(&pool, "one").await.unwrap();
    assert_eq!(allocate(&pool, "three", &subnets).await, "10.97.0.0/24");
}

#[tokio::test]
async fn a_blocked_subnet_is_stepped_over_until_it_expires() {
    let db = TestDb::new().await;
    let pool = db.migrated_pool(2).await;
    let subnets = SubnetPool::new("10.98.0.0/22", 24).unwrap();
    assert_eq!(allocate(&pool, "alpha", &subnets).await, "10.98.0.0/24");
    assert!(
        networks::block_subnet(&pool, "alpha", "Pool overlaps")
            .await
            .unwrap()
    );
    assert!(networks::find(&pool, "alpha").await.unwrap().is_none());
    assert_eq!(allocate(&pool, "alpha", &subnets).await, "10.98.1.0/24");
    assert_eq!(allocate(&pool, "beta", &subnets).await, "10.98.2.0/24");

    // Not yet expired; then expired.
    let kept = networks::expire_blocked(&pool, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(kept, 0);
    let expired = networks::expire_blocked(&pool, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(allocate(&pool, "gamma", &subnets).await, "10.98.0.0/24");
}

#[tokio::test]
async fn overlapping_subnets_of_other_sizes_are_refused_by_the_table() {
    let db = TestDb::new().await;
    let pool = db.migrated_pool(2).await;
    let small = SubnetPool::new("10.99.0.0/22", 26).unwrap();
    assert_eq!(allocate(&pool, "alpha", &small).await, "10.99.0.0/26");
    // With a larger prefix setting, the next allocation steps over it.
    let large = SubnetPool::new("10.99.0.0/22", 24).unwrap();
    assert_eq!(allocate(&pool, "beta", &large).await, "10.99.1.0/24");
    // Adopting a subnet someone else's overlaps is refused, not an error.
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        !networks::adopt_subnet(&mut conn, "beta", "10.99.0.0/16", "10.99.0.1")
            .await
            .unwrap()
    );
    assert!(
        networks::adopt_subnet(&mut conn, "beta", "172.30.0.0/16", "172.30.0.1")
            .await
            .unwrap()
    );
    let beta = networks::find(&pool, "beta").await.unwrap().unwrap();
    assert_eq!(
        (beta.subnet.as_str(), beta.gateway.as_str(), beta.status),
        ("172.30.0.0/16", "172.30.0.1", NetworkStatus::Ready)
    );
}

#[tokio::test]
async fn attachments_follow_the_runtime_and_only_name_the_projects_deployments() {
    let db = TestDb::new().await;
    let pool = db.migrated_pool(2).await;
    for project in ["alpha", "beta"] {
        insert_project(&pool, project).await;
    }
    for (id, project) in [("a-web", "alpha"), ("a-job", "alpha"), ("b-web", "beta")] {
        insert_deployment(&pool, project, id, "service", "pending").await;
    }
    assert!(networks::attach(&pool, "alpha", "a-web").await.unwrap());
    assert!(!networks::attach(&pool, "alpha", "a-web").await.unwrap());
    assert!(
        !networks::attach(&pool, "alpha", "b-web").await.unwrap(),
        "another project's deployment is never recorded"
    );
    let reported = ["a-job".to_owned(), "b-web".to_owned(), "stray".to_owned()];
    networks::sync_attachments(&pool, "alpha", &reported)
        .await
        .unwrap();
    assert_eq!(networks::attached(&pool, "alpha").await.unwrap(), ["a-job"]);
    assert!(networks::detach(&pool, "alpha", "a-job").await.unwrap());
    assert!(networks::attached(&pool, "alpha").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_project_lock_is_exclusive_and_freed_even_when_dropped_unreleased() {
    let db = TestDb::new().await;
    let pool = db.migrated_pool(4).await;
    let held = NetworkLock::acquire(&pool, "alpha").await.unwrap();
    assert!(
        NetworkLock::try_acquire(&pool, "alpha")
            .await
            .unwrap()
            .is_none()
    );
    let other = NetworkLock::try_acquire(&pool, "beta").await.unwrap();
    assert!(other.is_some(), "other projects are not held up");
    other.unwrap().unlock().await.unwrap();
    // A waiter gets it once it is released.
    let first = NetworkLock::acquire(&pool, "gamma").await.unwrap();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { NetworkLock::acquire(&pool, "gamma").await.unwrap() }
    });
    first.unlock().await.unwrap();
    let second = tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .expect("the waiter gets the lock")
        .unwrap();
    second.unlock().await.unwrap();
    // Dropped without release (an attempt that timed out): its connection
    // is closed, which ends the session and its lock.
    drop(held);
    let again = eventually(
        std::time::Duration::from_secs(10),
        "the dropped lock to be freed",
        || async { NetworkLock::try_acquire(&pool, "alpha").await.unwrap() },
    )
    .await;
    again.unlock().await.unwrap();
    let sweep = NetworkLock::try_sweep(&pool).await.unwrap().unwrap();
    assert!(NetworkLock::try_sweep(&pool).await.unwrap().is_none());
    sweep.unlock().await.unwrap();
}
