//! What removes networks: the orphan sweep (a network a crashed worker left
//! behind, one without a row, a row without a network) and the deletion of
//! a project with everything it owns; and the API's view of a network.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use contaxy_common::domain::network::{SubnetPool, gateway_of};
use contaxy_common::store::networks;
use contaxy_scheduler::SchedulerSettings;
use contaxy_tests::api::TestApi;
use contaxy_tests::docker::DOCKER_HOST;
use contaxy_tests::pipeline::Pipeline;
use contaxy_tests::subnets::random_pool;
use contaxy_tests::{IDLE, IMAGE, TestDb, spawn_scheduler};
use contaxy_worker::network_sweep::remove_orphan_networks;
use contaxy_worker::runtime::{
    DeploymentSpec, DeploymentType, DockerRuntime, DockerRuntimeConfig, Runtime, SubnetSpec,
};
use ipnet::Ipv4Net;
use reqwest::Method;

/// Allocates `project`'s subnet in the database and creates its network in
/// Docker with it, as an ensure does.
async fn ensure(
    pipeline: &Pipeline,
    runtime: &DockerRuntime,
    pool: &SubnetPool,
    project: &str,
) -> SubnetSpec {
    let mut conn = pipeline.pool.acquire().await.unwrap();
    let name = format!("{}-p-{project}-network", pipeline.namespace());
    let row = networks::allocate(&mut conn, project, &name, pool)
        .await
        .unwrap();
    let subnet = SubnetSpec {
        cidr: row.subnet,
        gateway: Some(row.gateway),
    };
    runtime
        .ensure_network(project, Some(&subnet))
        .await
        .unwrap();
    subnet
}

#[tokio::test]
async fn the_sweep_removes_what_a_crashed_worker_left_and_keeps_what_is_used() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    // No worker: the test runs the sweep itself.
    let runtime = DockerRuntime::connect(
        DOCKER_HOST,
        DockerRuntimeConfig::with_namespace(pipeline.namespace()),
    )
    .await
    .unwrap();
    let pool = SubnetPool::new(&random_pool(135, 21), 24).unwrap();
    for project in ["crashed", "live", "busy", "norow"] {
        pipeline.create_project(project).await;
    }
    // A worker made the network, then crashed before the project's
    // deletion removed it: the row and the network outlive the project.
    ensure(&pipeline, &runtime, &pool, "crashed").await;
    // A live project's network with no containers yet: needed.
    ensure(&pipeline, &runtime, &pool, "live").await;
    // A gone project's network that still has a container: left alone.
    ensure(&pipeline, &runtime, &pool, "busy").await;
    let mut spec = DeploymentSpec::new(
        "busy",
        pipeline.deployment_id("busy", 's', "web"),
        DeploymentType::Service,
        IMAGE,
    );
    spec.command = vec!["/bin/sh".to_owned(), "-c".to_owned()];
    spec.args = vec![IDLE.to_owned()];
    spec.compute.max_memory_mb = Some(64);
    runtime.deploy(&spec).await.unwrap();
    // A network in Docker that no row describes (made by hand, or by an
    // older version), on the pool's last subnet.
    let stray = pool.range().subnets(24).unwrap().last().unwrap();
    runtime
        .ensure_network(
            "norow",
            Some(&SubnetSpec {
                cidr: stray.to_string(),
                gateway: Some(gateway_of(stray).to_string()),
            }),
        )
        .await
        .unwrap();
    // A row whose project is gone and whose network never got made.
    let mut conn = pipeline.pool.acquire().await.unwrap();
    networks::allocate(&mut conn, "rowonly", "x-p-rowonly-network", &pool)
        .await
        .unwrap();
    drop(conn);
    sqlx::query("DELETE FROM projects WHERE id IN ('crashed', 'busy')")
        .execute(&pipeline.pool)
        .await
        .unwrap();

    let report = remove_orphan_networks(&pipeline.pool, &runtime)
        .await
        .unwrap();
    assert!(!report.skipped);
    assert_eq!(report.networks_removed, ["crashed", "norow"]);
    assert_eq!(report.subnets_freed, ["crashed", "rowonly"]);

    let in_docker: BTreeSet<String> = runtime
        .list_networks()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.project_id)
        .collect();
    assert_eq!(
        in_docker,
        BTreeSet::from(["busy".to_owned(), "live".to_owned()])
    );
    let rows: Vec<String> = networks::list_all(&pipeline.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.project_id)
        .collect();
    assert_eq!(rows, ["busy", "live"]);
    // The freed subnet is the lowest free one again.
    let mut conn = pipeline.pool.acquire().await.unwrap();
    let next = networks::allocate(&mut conn, "fresh", "x-p-fresh-network", &pool)
        .await
        .unwrap();
    assert_eq!(next.subnet, format!("{}/24", pool.range().network()));
    drop(conn);

    // Nothing more to do on a second pass.
    networks::remove(&pipeline.pool, "fresh").await.unwrap();
    let again = remove_orphan_networks(&pipeline.pool, &runtime)
        .await
        .unwrap();
    assert!(
        again.networks_removed.is_empty() && again.subnets_freed.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn deleting_a_project_removes_its_deployments_network_and_row() {
    let api = TestApi::start().await;
    let pipeline = Pipeline::sharing(&api).await;
    let pool = random_pool(136, 22);
    let _worker = pipeline
        .spawn_worker(Pipeline::worker_settings(&pool, 24))
        .await;
    // The relay stands by should the API's publish of the deletion fail.
    let _scheduler = spawn_scheduler(
        pipeline.common.clone(),
        SchedulerSettings {
            relay_interval_ms: 100,
            relay_min_age_ms: 0,
            ..SchedulerSettings::default()
        },
    )
    .await
    .unwrap();
    api.create_project("doomed").await;
    api.create_project("keeper").await;
    let web = pipeline.deployment_id("doomed", 's', "web");
    let action = pipeline.deploy("doomed", &web, "service", IDLE).await;
    pipeline.succeeded("doomed", action).await;
    let kept = pipeline.deployment_id("keeper", 's', "web");
    let action = pipeline.deploy("keeper", &kept, "service", IDLE).await;
    pipeline.succeeded("keeper", action).await;

    let listed = api.get("/projects/doomed/networks", &api.admin).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let network = &listed.body[0];
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(network["project_id"], "doomed");
    assert_eq!(network["status"], "ready");
    assert_eq!(
        network["name"],
        format!("{}-p-doomed-network", pipeline.namespace())
    );
    assert_eq!(network["deployments"], serde_json::json!([web]));
    let subnet: Ipv4Net = network["subnet"].as_str().unwrap().parse().unwrap();
    assert!(pool.parse::<Ipv4Net>().unwrap().contains(&subnet));
    assert_eq!(network["gateway"], gateway_of(subnet).to_string());

    let deleted = api
        .call(Method::DELETE, "/projects/doomed", Some(&api.admin), None)
        .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    let action = deleted.body["action_id"].as_str().unwrap().parse().unwrap();
    pipeline.succeeded("doomed", action).await;

    assert_eq!(api.get("/projects/doomed", &api.admin).await.status, 404);
    assert!(
        networks::find(&pipeline.pool, "doomed")
            .await
            .unwrap()
            .is_none()
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM deployments WHERE project_id = 'doomed')
              + (SELECT count(*) FROM project_members WHERE project_id = 'doomed')
              + (SELECT count(*) FROM api_tokens WHERE project_id = 'doomed')",
    )
    .fetch_one(&pipeline.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let in_docker: Vec<String> = pipeline
        .docker_networks()
        .await
        .into_iter()
        .filter_map(|n| n.labels.unwrap().get("ctxy.projectName").cloned())
        .collect();
    assert_eq!(in_docker, ["keeper"], "the other project keeps its network");
    let containers = Pipeline::docker()
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(std::collections::HashMap::from([(
                "label".to_owned(),
                vec![format!("ctxy.namespace={}", pipeline.namespace())],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap();
    let names: Vec<String> = containers
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect();
    assert_eq!(names, [format!("/{kept}")]);
}
