//! Batched fires against real PostgreSQL and RabbitMQ: a batch that mixes
//! schedules which fire with schedules whose fire is refused (a project
//! being deleted, `forbid` with a running job, a project without room)
//! records each slot exactly once, with the right outcome, while two
//! schedulers race over the same batch; then whole passes race the same
//! way.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::broker::Broker;
use contaxy_common::domain::action::{Action, DeploymentAction};
use contaxy_common::domain::schedule::{RunOutcome, ScheduleInput};
use contaxy_common::publisher::Publisher;
use contaxy_common::scheduled::Firing;
use contaxy_common::scheduled::batch::{self, BatchOutcome, DueSlot};
use contaxy_common::store::actions;
use contaxy_common::store::quotas::Quotas;
use contaxy_common::store::schedules::{self, ScheduleRecord};
use contaxy_common::topology::Topology;
use contaxy_scheduler::cron::{self, CronSettings};
use contaxy_tests::broker::{amqp_url, delete_topology_blocking};
use contaxy_tests::db::{insert_deployment, insert_project, migrated_pool};
use contaxy_tests::{DEADLINE, TestDb};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const NAMESPACE: &str = "tbatch";

/// Room for the test's jobs in `alpha`; `full` is filled to the limit.
const QUOTAS: Quotas = Quotas {
    max_deployments_per_project: 20,
    max_running_per_project: 0,
    max_projects_per_user: 0,
};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

async fn schedule(pool: &PgPool, project: &str, body: Value, now: DateTime<Utc>) -> Uuid {
    let input: ScheduleInput = serde_json::from_value(body).expect("an input");
    let valid = input
        .validate(TimeDelta::seconds(1), now)
        .expect("a valid schedule");
    let next = valid.first_slot_after(now);
    schedules::insert(pool, Uuid::now_v7(), project, &valid, next, "users/test")
        .await
        .expect("insert the schedule")
        .id
}

fn every_minute(name: &str, policy: &str) -> Value {
    json!({"cron": "* * * * *", "concurrency_policy": policy,
           "job_template": {"container_image": "busybox", "display_name": name}})
}

async fn records(pool: &PgPool) -> Vec<ScheduleRecord> {
    sqlx::query_as("SELECT * FROM schedules ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("the schedules")
}

/// (outcome, detail) of each schedule's run of `slot`.
async fn runs_of(pool: &PgPool, slot: DateTime<Utc>) -> HashMap<Uuid, (String, Option<String>)> {
    let rows: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT schedule_id, outcome, detail FROM schedule_runs WHERE slot_time = $1",
    )
    .bind(slot)
    .fetch_all(pool)
    .await
    .expect("runs");
    rows.into_iter()
        .map(|(id, outcome, detail)| (id, (outcome, detail)))
        .collect()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("a count")
}

#[tokio::test]
async fn a_mixed_batch_fires_the_right_slots_once_while_two_schedulers_race() {
    let db = TestDb::new().await;
    let (pool_a, pool_b) = (db.migrated_pool(5).await, migrated_pool(db.url(), 5).await);
    for project in ["alpha", "doomed", "full"] {
        insert_project(&pool_a, project).await;
    }
    for n in 0..QUOTAS.max_deployments_per_project {
        insert_deployment(&pool_a, "full", &format!("full-{n}"), "job", "succeeded").await;
    }
    let t0 = at("2026-01-01T00:00:30Z");
    let slot1 = at("2026-01-01T00:01:00Z");
    let slot2 = at("2026-01-01T00:02:00Z");
    let mut plain = Vec::new();
    for n in 0..5 {
        plain.push(
            schedule(
                &pool_a,
                "alpha",
                every_minute(&format!("plain-{n}"), "allow"),
                t0,
            )
            .await,
        );
    }
    let free = schedule(&pool_a, "alpha", every_minute("free", "forbid"), t0).await;
    let busy = schedule(&pool_a, "alpha", every_minute("busy", "forbid"), t0).await;
    let doomed = schedule(&pool_a, "doomed", every_minute("doomed", "allow"), t0).await;
    let full = schedule(&pool_a, "full", every_minute("full", "allow"), t0).await;
    // `busy` has a job still running from an earlier slot.
    insert_deployment(&pool_a, "alpha", "busy-earlier", "job", "running").await;
    sqlx::query(
        "INSERT INTO schedule_runs (schedule_id, slot_time, project_id, deployment_id, outcome)
         VALUES ($1, $2, 'alpha', 'busy-earlier', 'triggered')",
    )
    .bind(busy)
    .bind(t0)
    .execute(&pool_a)
    .await
    .expect("the earlier run");

    let topology = Topology::new(&format!("test-{}.", Uuid::new_v4().simple()));
    let shutdown = CancellationToken::new();
    let broker = Broker::start(
        &amqp_url().into(),
        "batch-test",
        topology.clone(),
        shutdown.clone(),
    );
    tokio::time::timeout(DEADLINE, broker.connected())
        .await
        .expect("RabbitMQ is reachable");
    let publisher = Publisher::new(broker, topology.clone());
    let firing = |pool| Firing {
        pool,
        publisher: &publisher,
        namespace: NAMESPACE,
        quotas: &QUOTAS,
    };
    let (firing_a, firing_b) = (firing(&pool_a), firing(&pool_b));

    // The due schedules as both schedulers read them; then the project
    // `doomed` starts being deleted before either batch runs.
    let due_records = records(&pool_a).await;
    let due: Vec<DueSlot<'_>> = due_records
        .iter()
        .map(|schedule| DueSlot {
            schedule,
            slot: slot1,
            next: Some(slot2),
        })
        .collect();
    sqlx::query("UPDATE projects SET deleting_since = now() WHERE id = 'doomed'")
        .execute(&pool_a)
        .await
        .expect("mark the project deleting");
    let (a, b) = tokio::join!(
        batch::fire_all(&firing_a, &due, slot1),
        batch::fire_all(&firing_b, &due, slot1),
    );
    let (a, b) = (a.expect("batch a"), b.expect("batch b"));
    let mut fired = Vec::new();
    for ((slot, a), b) in due.iter().zip(&a).zip(&b) {
        let handled: Vec<&BatchOutcome> = [a, b]
            .into_iter()
            .filter(|o| !matches!(o, BatchOutcome::Lost))
            .collect();
        assert_eq!(
            handled.len(),
            1,
            "exactly one scheduler handled {}",
            slot.schedule.id
        );
        if let BatchOutcome::Fired(action) = handled[0] {
            fired.push(action.as_ref().clone());
        }
    }
    let runs = runs_of(&pool_a, slot1).await;
    assert_eq!(runs.len(), 9, "one run per schedule: {runs:?}");
    for id in plain.iter().chain([&free]) {
        assert_eq!(runs[id], ("fired".to_owned(), None));
    }
    assert_eq!(runs[&busy].0, "skipped_forbid");
    assert_eq!(runs[&doomed].0, "failed");
    assert!(
        runs[&doomed]
            .1
            .as_deref()
            .is_some_and(|d| d.contains("being deleted"))
    );
    assert_eq!(runs[&full].0, "failed");
    assert!(
        runs[&full]
            .1
            .as_deref()
            .is_some_and(|d| d.contains("max_deployments_per_project")),
        "{:?}",
        runs[&full]
    );
    assert_eq!(fired.len(), 6);
    // Each recorded action (its payload built by PostgreSQL from the
    // schedule's row) reads back as the message the batch publishes.
    for message in &fired {
        let record = actions::get(&pool_a, &message.project_id, message.action_id)
            .await
            .expect("read the action")
            .expect("recorded");
        assert_eq!(&record.message().expect("a valid message"), message);
        let spec: Value = sqlx::query_scalar("SELECT spec FROM deployments WHERE id = $1")
            .bind(message.action.resource_id())
            .fetch_one(&pool_a)
            .await
            .expect("the job");
        let Action::Deployment {
            action: DeploymentAction::Deploy(deploy),
            ..
        } = &message.action
        else {
            panic!("a deploy: {message:?}");
        };
        assert_eq!(spec, serde_json::to_value(&deploy.input).expect("json"));
    }
    // One job and one deploy action per fired slot, none for the others.
    assert_eq!(
        count(
            &pool_a,
            "SELECT count(*) FROM deployments WHERE project_id = 'alpha'"
        )
        .await,
        7
    );
    assert_eq!(
        count(
            &pool_a,
            "SELECT count(*) FROM deployments WHERE project_id <> 'alpha'"
        )
        .await,
        20
    );
    assert_eq!(
        count(
            &pool_a,
            "SELECT count(*) FROM actions WHERE kind = 'deployment.deploy' AND origin = 'scheduler'"
        )
        .await,
        6
    );
    // Every cursor moved past the slot, refused or not.
    assert_eq!(
        count(
            &pool_a,
            "SELECT count(*) FROM schedules WHERE next_slot = '2026-01-01T00:02:00Z'"
        )
        .await,
        9
    );
    // Published together after the commit, and noted.
    let confirmed = batch::publish_all(&firing_a, &fired).await;
    assert_eq!(confirmed.len(), 6);
    batch::note_published(&firing_a, &confirmed).await;
    assert_eq!(
        count(
            &pool_a,
            "SELECT count(*) FROM actions WHERE published_at IS NOT NULL"
        )
        .await,
        6
    );

    // Whole passes racing at the next slot: the batch again, each slot
    // once. `busy` is still held back, and now `free` too (its first job
    // is pending: no worker runs here); `doomed` is no longer due (its
    // project is being deleted), `full` still has no room.
    let settings = CronSettings::default();
    let (a, b) = tokio::join!(
        cron::pass(&firing_a, &settings, slot2),
        cron::pass(&firing_b, &settings, slot2),
    );
    let (a, b) = (a.expect("pass a"), b.expect("pass b"));
    assert_eq!(a.fired + b.fired, 5, "{a:?} {b:?}");
    assert_eq!(a.passed_over + b.passed_over, 3, "{a:?} {b:?}");
    let runs = runs_of(&pool_a, slot2).await;
    assert_eq!(runs.len(), 8);
    assert_eq!(runs[&busy].0, "skipped_forbid");
    assert_eq!(runs[&full].0, "failed");
    assert!(!runs.contains_key(&doomed));
    assert_eq!(
        count(
            &pool_a,
            "SELECT count(*) FROM actions WHERE kind = 'deployment.deploy'"
        )
        .await,
        11
    );
    let outcome_of_free: RunOutcome = sqlx::query_scalar(
        "SELECT outcome FROM schedule_runs WHERE schedule_id = $1 AND slot_time = $2",
    )
    .bind(free)
    .bind(slot2)
    .fetch_one(&pool_a)
    .await
    .expect("free's run");
    assert_eq!(outcome_of_free, RunOutcome::SkippedForbid);
    shutdown.cancel();
    delete_topology_blocking(topology);
}
