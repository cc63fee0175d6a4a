//! The foundation against the real services: migrations on a fresh database,
//! each binary ready against PostgreSQL, RabbitMQ and Docker, and `/readyz`
//! naming the dependency that is down.

use std::time::Duration;

use contaxy_api::ApiSettings;
use contaxy_common::store::MIGRATOR;
use contaxy_scheduler::SchedulerSettings;
use contaxy_tests::{
    Spawned, TestDb, closed_port_addr, common_config, eventually, get_json, spawn_api,
    spawn_scheduler, spawn_worker,
};
use contaxy_worker::WorkerSettings;
use futures::future::join_all;
use serde_json::Value;
use sqlx::Row;

const READY_WITHIN: Duration = Duration::from_secs(30);

async fn wait_for_readyz(app: &Spawned, want: u16) -> Value {
    eventually(
        READY_WITHIN,
        &format!("/readyz to answer {want}"),
        || async {
            match get_json(&app.url("/readyz")).await {
                Some((status, body)) if status == want => Some(body),
                _ => None,
            }
        },
    )
    .await
}

#[tokio::test]
async fn migrations_create_the_schema_on_a_fresh_database() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    MIGRATOR.run(&mut conn).await.expect("migrations apply");

    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list tables")
    .iter()
    .map(|row| row.get(0))
    .collect();
    for table in ["actions", "deployments", "projects"] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .expect("count migrations");
    assert_eq!(applied as usize, MIGRATOR.iter().count());

    // The schema enforces what the domain says, even against a buggy caller.
    let bad_status = sqlx::query(
        "INSERT INTO actions (id, project_id, kind, status) VALUES (gen_random_uuid(), 'demo', 'deployment.deploy', 'bogus')",
    )
    .execute(&mut conn)
    .await;
    assert!(
        bad_status.is_err(),
        "an unknown action status must be refused"
    );
    let reserved =
        sqlx::query("INSERT INTO projects (id, display_name) VALUES ('system', 'System')")
            .execute(&mut conn)
            .await;
    assert!(reserved.is_err(), "the project id 'system' is reserved");
}

#[tokio::test]
async fn migrating_concurrently_is_safe() {
    let db = TestDb::new().await;
    let runs = (0..3).map(|_| {
        let url = db.url().to_owned();
        tokio::spawn(async move {
            let pool = sqlx::PgPool::connect(&url).await?;
            MIGRATOR.run(&pool).await?;
            Ok::<_, anyhow::Error>(())
        })
    });
    for run in join_all(runs).await {
        run.expect("task")
            .expect("a concurrent migration run succeeds");
    }
    let mut conn = db.connect().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .expect("count migrations");
    assert_eq!(
        applied as usize,
        MIGRATOR.iter().count(),
        "each applied once"
    );
}

#[tokio::test]
async fn all_three_binaries_become_ready_against_the_real_services() {
    let db = TestDb::new().await;
    let api = spawn_api(common_config(db.url()), ApiSettings::default())
        .await
        .expect("api starts");
    let worker = spawn_worker(common_config(db.url()), WorkerSettings::default())
        .await
        .expect("worker starts");
    let scheduler = spawn_scheduler(common_config(db.url()), SchedulerSettings::default())
        .await
        .expect("scheduler starts");

    for (app, deps) in [
        (&api, &["postgres", "rabbitmq"][..]),
        (&worker, &["docker", "postgres", "rabbitmq"][..]),
        (&scheduler, &["postgres", "rabbitmq"][..]),
    ] {
        let body = wait_for_readyz(app, 200).await;
        assert_eq!(body["status"], "ready");
        let checks = body["checks"].as_object().expect("checks object");
        let names: Vec<&str> = checks.keys().map(String::as_str).collect();
        assert_eq!(names, deps, "{body}");

        let (status, health) = get_json(&app.url("/healthz"))
            .await
            .expect("healthz answers");
        assert_eq!((status, health["status"].as_str()), (200, Some("alive")));
        let metrics = reqwest::get(app.url("/metrics"))
            .await
            .expect("metrics answers");
        assert_eq!(metrics.status(), 200);
    }

    for app in [api, worker, scheduler] {
        app.stop().await.expect("stops cleanly when cancelled");
    }
}

#[tokio::test]
async fn readyz_names_rabbitmq_when_it_is_unreachable() {
    let db = TestDb::new().await;
    let mut common = common_config(db.url());
    common.amqp_url = format!("amqp://guest:guest@{}/%2f", closed_port_addr()).into();
    let api = spawn_api(common.clone(), ApiSettings::default())
        .await
        .expect("api starts");
    let worker = spawn_worker(common, WorkerSettings::default())
        .await
        .expect("worker starts");

    for app in [&api, &worker] {
        // PostgreSQL is fine; once it is seen as fine, only RabbitMQ fails.
        let body = eventually(READY_WITHIN, "postgres ok while rabbitmq fails", || async {
            match get_json(&app.url("/readyz")).await {
                Some((503, body)) if body["checks"]["postgres"]["ok"] == true => Some(body),
                _ => None,
            }
        })
        .await;
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["checks"]["rabbitmq"]["ok"], false, "{body}");
        let error = body["checks"]["rabbitmq"]["error"]
            .as_str()
            .expect("a reason");
        assert!(!error.is_empty());
    }
}

#[tokio::test]
async fn readyz_names_postgres_when_it_is_unreachable() {
    let db_url = format!("postgres://contaxy:contaxy@{}/contaxy", closed_port_addr());
    let common = common_config(&db_url);
    let scheduler = spawn_scheduler(common.clone(), SchedulerSettings::default())
        .await
        .expect("starts even though PostgreSQL is down");
    let api = spawn_api(common, ApiSettings::default())
        .await
        .expect("starts");

    for app in [&scheduler, &api] {
        let body = eventually(READY_WITHIN, "rabbitmq ok while postgres fails", || async {
            match get_json(&app.url("/readyz")).await {
                Some((503, body)) if body["checks"]["rabbitmq"]["ok"] == true => Some(body),
                _ => None,
            }
        })
        .await;
        assert_eq!(body["checks"]["postgres"]["ok"], false, "{body}");
        let error = body["checks"]["postgres"]["error"]
            .as_str()
            .expect("a reason");
        assert!(!error.is_empty());
    }
}

#[tokio::test]
async fn readyz_names_docker_when_it_is_unreachable() {
    let db = TestDb::new().await;
    let settings = WorkerSettings {
        docker_host: format!("tcp://{}", closed_port_addr()),
        ..WorkerSettings::default()
    };
    let worker = spawn_worker(common_config(db.url()), settings)
        .await
        .expect("starts");
    let body = eventually(READY_WITHIN, "only docker failing", || async {
        match get_json(&worker.url("/readyz")).await {
            Some((503, body))
                if body["checks"]["postgres"]["ok"] == true
                    && body["checks"]["rabbitmq"]["ok"] == true =>
            {
                Some(body)
            }
            _ => None,
        }
    })
    .await;
    assert_eq!(body["checks"]["docker"]["ok"], false, "{body}");
}

/// PostgreSQL away: a request that needs it is a quick 503 with
/// `Retry-After`, not a 500 after a long hold.
#[tokio::test]
async fn requests_answer_503_with_retry_after_while_postgres_is_away() {
    let db_url = format!("postgres://contaxy:contaxy@{}/contaxy", closed_port_addr());
    let mut common = common_config(&db_url);
    common.database_acquire_timeout_ms = 500;
    let admin = contaxy_tests::api::random_secret();
    let api = spawn_api(common, contaxy_tests::api::test_api_settings(&admin))
        .await
        .expect("starts even though PostgreSQL is down");
    let answer = reqwest::Client::new()
        .get(api.url("/projects"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 503);
    assert_eq!(
        answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body: serde_json::Value = answer.json().await.expect("a JSON body");
    assert_eq!(body["details"]["dependency"], "database", "{body}");
}
