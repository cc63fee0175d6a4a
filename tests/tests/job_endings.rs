//! How jobs end besides running out, end to end: a client's cancel, and the
//! run deadline enforced by the scheduler's deadline pass (run here with a
//! clock moved past the deadline instead of waiting for it).

use contaxy_scheduler::cleanup::{CleanupSettings, deadlines};
use contaxy_tests::cleanup::{cleanup_context, db_now_plus};
use contaxy_tests::stack::{PROJECT, Stack, job};
use contaxy_tests::{DEADLINE, eventually, str_of};
use reqwest::Method;
use serde_json::Value;

/// Whether the deployment's container is running.
async fn running(id: &str) -> bool {
    let id = id.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("docker")
            .args(["inspect", "-f", "{{.State.Running}}", &id])
            .output()
    })
    .await
    .expect("joined")
    .expect("docker runs");
    String::from_utf8_lossy(&output.stdout).trim() == "true"
}

async fn cancel(stack: &Stack, id: &str) -> Value {
    let answer = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs/{id}:cancel"),
            None,
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    answer.body
}

#[tokio::test]
async fn a_cancelled_job_stops_and_ends_cancelled_and_a_finished_one_stays_as_it_was() {
    let stack = Stack::start().await;
    let long = stack.submit("jobs", &job("long job", "sleep 3600")).await;
    let long = str_of(&long, "id").to_owned();
    let done = stack.submit("jobs", &job("quick job", "echo done")).await;
    let done = str_of(&done, "id").to_owned();
    stack.wait_status("jobs", &long, "running").await;
    stack.wait_status("jobs", &done, "succeeded").await;

    let accepted = cancel(&stack, &long).await;
    let action = stack
        .wait_action(str_of(&accepted, "action_id"), "succeeded")
        .await;
    assert_eq!(action["kind"], "deployment.cancel", "{action}");
    let cancelled = stack.wait_status("jobs", &long, "cancelled").await;
    assert_eq!(
        cancelled["status_detail"], "cancelled on request",
        "{cancelled}"
    );
    assert_eq!(cancelled["is_stopped"], true, "{cancelled}");
    assert!(!running(&long).await, "the container was stopped");
    // Its exit (killed) did not turn it into `failed`.
    let again = stack.deployment("jobs", &long).await;
    assert_eq!(again.body["status"], "cancelled", "{:?}", again.body);

    // Cancelling again, or cancelling a finished job, changes nothing.
    let repeat = cancel(&stack, &long).await;
    stack
        .wait_action(str_of(&repeat, "action_id"), "succeeded")
        .await;
    let finished = cancel(&stack, &done).await;
    stack
        .wait_action(str_of(&finished, "action_id"), "succeeded")
        .await;
    let done_now = stack.deployment("jobs", &done).await.body;
    assert_eq!(done_now["status"], "succeeded", "{done_now}");
    assert_eq!(done_now["exit_code"], 0, "{done_now}");
    assert_eq!(
        stack.deployment("jobs", &long).await.body["status"],
        "cancelled"
    );

    // Unknown jobs are 404; other methods on the verb path are 405.
    let missing = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs/nope:cancel"),
            None,
        )
        .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    let get = stack
        .call(
            Method::GET,
            &format!("/projects/{PROJECT}/jobs/{long}:cancel"),
            None,
        )
        .await;
    assert_eq!(get.status, 405, "{:?}", get.body);
    let other_verb = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs/{long}:explode"),
            None,
        )
        .await;
    assert_eq!(other_verb.status, 405, "{:?}", other_verb.body);
}

#[tokio::test]
async fn a_job_past_its_deadline_is_killed_and_marked_failed_with_the_reason() {
    let stack = Stack::start().await;
    let mut body = job("deadline job", "sleep 3600");
    body["deadline_seconds"] = 60.into();
    let accepted = stack.submit("jobs", &body).await;
    let id = str_of(&accepted, "id").to_owned();
    let mut other = job("patient job", "sleep 3600");
    other["deadline_seconds"] = 7200.into();
    let other = stack.submit("jobs", &other).await;
    let other = str_of(&other, "id").to_owned();
    stack.wait_status("jobs", &id, "running").await;
    stack.wait_status("jobs", &other, "running").await;
    let cleanup = cleanup_context(&stack, CleanupSettings::default()).await;

    // Not yet due: nothing happens.
    let early = db_now_plus(&cleanup.pool, 30).await;
    let report = deadlines::run_once(&cleanup.ctx, early)
        .await
        .expect("a pass");
    assert!(report.submitted.is_empty(), "{report:?}");

    // Past it: one cancel for this job only, and once only.
    let late = db_now_plus(&cleanup.pool, 120).await;
    let report = deadlines::run_once(&cleanup.ctx, late)
        .await
        .expect("a pass");
    assert_eq!(
        report.submitted,
        vec![(PROJECT.to_owned(), id.clone())],
        "{report:?}"
    );
    let failed = stack.wait_status("jobs", &id, "failed").await;
    assert_eq!(
        failed["status_detail"], "ran past its deadline of 60 s",
        "{failed}"
    );
    eventually(DEADLINE, "the container to be killed", || async {
        (!running(&id).await).then_some(())
    })
    .await;
    let report = deadlines::run_once(&cleanup.ctx, late)
        .await
        .expect("a pass");
    assert!(report.submitted.is_empty(), "{report:?}");
    assert_eq!(report.already_submitted, 0, "a failed job is not due");

    // The other job, with a longer deadline, still runs.
    assert!(running(&other).await);
    assert_eq!(
        stack.deployment("jobs", &other).await.body["status"],
        "running"
    );
}

#[tokio::test]
async fn job_only_fields_are_refused_for_services_and_bad_deadlines_are_400() {
    let stack = Stack::start().await;
    let mut body = job("bad deadline", "true");
    body["deadline_seconds"] = 0.into();
    let answer = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs"),
            Some(&body),
        )
        .await;
    assert_eq!(answer.status, 400, "{:?}", answer.body);
    assert!(
        answer.body["details"]["fields"]
            .to_string()
            .contains("deadline_seconds"),
        "{:?}",
        answer.body
    );
    let mut service = job("service with ttl", "true");
    service["ttl_seconds_after_finished"] = 5.into();
    let answer = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/services"),
            Some(&service),
        )
        .await;
    assert_eq!(answer.status, 400, "{:?}", answer.body);
}
