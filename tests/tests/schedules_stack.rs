//! One real-time test on the whole stack: an every-second schedule fires
//! through the scheduler's leader, a worker runs the job on Docker, and the
//! run shows the job succeeded.

use chrono::{TimeDelta, Utc};
use contaxy_scheduler::SchedulerSettings;
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, eventually};
use reqwest::Method;
use serde_json::Value;

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
