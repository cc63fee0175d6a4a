//! Schedules on the whole stack: an every-second schedule fires through the
//! scheduler's leader in real time, a worker runs the job on Docker, and the
//! run shows the job succeeded; and `replace`, driven by cron passes at
//! simulated instants, cancels the running job on Docker and runs the new
//! one.

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::broker::Broker;
use contaxy_common::publisher::Publisher;
use contaxy_common::scheduled::Firing;
use contaxy_common::store::quotas::Quotas;
use contaxy_scheduler::SchedulerSettings;
use contaxy_scheduler::cron::{self, CronSettings};
use contaxy_tests::broker::amqp_url;
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, eventually};
use reqwest::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn an_every_second_schedule_fires_and_its_job_succeeds() {
    let stack = Stack::start_with(StackOptions {
        scheduler: Some(SchedulerSettings {
            scheduler_tick_ms: 200,
            ..SchedulerSettings::default()
        }),
        ..StackOptions::default()
    })
    .await;
    // A few seconds of slots only: the end date bounds how many jobs run.
    let end_at = (Utc::now() + TimeDelta::seconds(4)).to_rfc3339();
    let mut body = serde_json::json!({
        "cron": "* * * * * *",
        "job_template": job("tick", "echo tick"),
        "end_at": end_at,
        "succeeded_history_limit": 100,
        "failed_history_limit": 100,
    });
    body["job_template"]["display_name"] = "every second".into();
    let created = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/schedules"),
            Some(&body),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let runs_path = format!("/projects/{PROJECT}/schedules/{id}/runs");

    let succeeded = eventually(DEADLINE, "a scheduled job to succeed", || async {
        let runs = stack.call(Method::GET, &runs_path, None).await;
        runs.body
            .as_array()?
            .iter()
            .find(|run| run["job_status"] == "succeeded")
            .cloned()
    })
    .await;
    assert_eq!(succeeded["outcome"], "fired");
    let job_id = succeeded["job_id"].as_str().expect("a job id");
    let (status, logs) = stack.logs("jobs", job_id, "").await;
    assert_eq!(status, 200);
    assert!(logs.contains("tick"), "{logs}");

    // Once the end date has passed, the schedule has no slot left; every
    // run has its own slot and job.
    let schedule_path = format!("/projects/{PROJECT}/schedules/{id}");
    eventually(DEADLINE, "the schedule to end", || async {
        let schedule = stack.call(Method::GET, &schedule_path, None).await;
        schedule.body["next_slot"].is_null().then_some(())
    })
    .await;
    let runs = stack.call(Method::GET, &runs_path, None).await;
    let runs = runs.body.as_array().expect("runs").clone();
    assert!(!runs.is_empty() && runs.len() <= 5, "{runs:?}");
    let mut slots: Vec<&Value> = runs.iter().map(|r| &r["slot_time"]).collect();
    let mut jobs: Vec<&Value> = runs.iter().map(|r| &r["job_id"]).collect();
    let count = runs.len();
    slots.dedup();
    jobs.dedup();
    assert_eq!((slots.len(), jobs.len()), (count, count), "{runs:?}");
}

#[tokio::test]
async fn replace_cancels_the_running_job_and_runs_the_new_one() {
    // The API, a worker on Docker, no scheduler binary: the test runs the
    // scheduler's cron passes itself, at the instants it chooses.
    let stack = Stack::start().await;
    let body = serde_json::json!({
        "cron": "* * * * *",
        "job_template": job("replaced", "echo started; sleep 300"),
        "concurrency_policy": "replace",
    });
    let created = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/schedules"),
            Some(&body),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let first_slot: DateTime<Utc> =
        serde_json::from_value(created.body["next_slot"].clone()).expect("a next slot");

    let pool = contaxy_tests::db::migrated_pool(stack.api.db.url(), 4).await;
    let shutdown = CancellationToken::new();
    let _stop_broker = shutdown.clone().drop_guard();
    let broker = Broker::start(
        &amqp_url().into(),
        "replace-test",
        stack.topology().clone(),
        shutdown,
    );
    tokio::time::timeout(DEADLINE, broker.connected())
        .await
        .expect("RabbitMQ is reachable");
    let publisher = Publisher::new(broker, stack.topology().clone());
    let firing = Firing {
        pool: &pool,
        publisher: &publisher,
        namespace: stack.namespace(),
        quotas: &Quotas::default(),
    };
    let settings = CronSettings::default();

    let report = cron::pass(&firing, &settings, first_slot)
        .await
        .expect("a pass");
    assert_eq!(report.fired, 1);
    let runs_path = format!("/projects/{PROJECT}/schedules/{id}/runs");
    let runs = stack.call(Method::GET, &runs_path, None).await;
    let first_job = runs.body[0]["job_id"].as_str().expect("a job").to_owned();
    stack.wait_status("jobs", &first_job, "running").await;

    // The next slot, while the first job still runs: it is cancelled, and
    // the new job runs.
    let report = cron::pass(&firing, &settings, first_slot + TimeDelta::minutes(1))
        .await
        .expect("a pass");
    assert_eq!(report.fired, 1);
    stack.wait_status("jobs", &first_job, "cancelled").await;
    let runs = stack.call(Method::GET, &runs_path, None).await;
    let runs = runs.body.as_array().expect("runs").clone();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let newest = runs
        .iter()
        .find(|run| run["job_id"] != first_job.as_str())
        .expect("the new run");
    assert_eq!(newest["outcome"], "fired");
    assert_eq!(
        newest["detail"],
        format!("replaced {first_job}"),
        "{newest:?}"
    );
    let second_job = newest["job_id"].as_str().expect("a job").to_owned();
    stack.wait_status("jobs", &second_job, "running").await;
    // The cancelled job's container was stopped; the new one's runs.
    let running = |job: String| {
        let namespace = stack.namespace().to_owned();
        async move {
            let out = std::process::Command::new("docker")
                .args(["ps", "-q", "--filter"])
                .arg(format!("label=ctxy.namespace={namespace}"))
                .arg("--filter")
                .arg(format!("label=ctxy.deploymentId={job}"))
                .output()
                .expect("docker ps runs");
            !out.stdout.is_empty()
        }
    };
    eventually(DEADLINE, "the cancelled job's container to stop", || {
        let first = running(first_job.clone());
        async move { (!first.await).then_some(()) }
    })
    .await;
    assert!(running(second_job.clone()).await, "the new job runs");
    // The cancel is an ordinary action, recorded for the scheduler.
    let cancels: Vec<(String, String)> = sqlx::query_as(
        "SELECT origin::text, status::text FROM actions
         WHERE kind = 'deployment.cancel' AND resource_id = $1",
    )
    .bind(&first_job)
    .fetch_all(&pool)
    .await
    .expect("the cancels");
    assert_eq!(cancels, [("scheduler".to_owned(), "succeeded".to_owned())]);
}
