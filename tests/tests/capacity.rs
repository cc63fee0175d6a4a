//! A request no host can meet is refused by the API at once (400 naming the
//! field), once a worker has reported its host's capacity.

use std::time::Duration;

use contaxy_tests::api::{TestApi, assert_problem};
use contaxy_tests::{IMAGE, common_config, eventually, spawn_worker};
use contaxy_worker::WorkerSettings;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn min_requests_beyond_the_largest_host_are_a_400() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let worker = spawn_worker(common_config(api.db.url()), WorkerSettings::default())
        .await
        .expect("the worker starts");
    let pool = sqlx::PgPool::connect(api.db.url()).await.expect("connect");
    let cpus: f64 = eventually(
        Duration::from_secs(30),
        "the worker to report its host",
        || async {
            sqlx::query_scalar("SELECT cpus FROM runtime_hosts")
                .fetch_optional(&pool)
                .await
                .ok()
                .flatten()
        },
    )
    .await;
    // The capacity stays recorded; no container is to be made by this test.
    worker.stop().await.expect("the worker stops");

    let too_big = json!({"container_image": IMAGE, "display_name": "Huge job",
                         "compute": {"min_cpus": cpus * 100.0, "min_memory": 10_000_000}});
    let answer = api
        .call(
            Method::POST,
            "/projects/alpha/jobs",
            Some(&api.admin),
            Some(&too_big),
        )
        .await;
    assert_problem(&answer, 400);
    let fields: Vec<&str> = answer.body["details"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["compute.min_cpus", "compute.min_memory"],
        "{}",
        answer.body
    );
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM actions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(recorded, 0, "nothing recorded for a refused request");

    let fits = json!({"container_image": IMAGE, "display_name": "Small job",
                      "command": ["true"], "compute": {"min_cpus": cpus, "min_memory": 4, "max_memory": 32}});
    let answer = api
        .call(
            Method::POST,
            "/projects/alpha/jobs",
            Some(&api.admin),
            Some(&fits),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
}
