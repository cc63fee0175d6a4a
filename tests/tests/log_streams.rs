//! Logs streams are bounded: a follower that goes away is noticed while the
//! service is quiet (its stream, the engine's log connection and the task
//! end within seconds), a follow ends at its cap, and past a worker's
//! streams limit a request gets a 503 with a problem body, not a hang.

use std::time::{Duration, Instant};

use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, IDLE, eventually, str_of};
use contaxy_worker::WorkerSettings;

/// A stack whose one worker streams at most `max_streams` logs at once for
/// at most `cap_secs` each, with one quiet service running; its id.
async fn quiet_service(max_streams: u16, cap_secs: u64) -> (Stack, String) {
    let stack = Stack::start_with(StackOptions {
        worker: WorkerSettings {
            worker_max_log_streams: max_streams,
            worker_log_stream_max_secs: cap_secs,
            ..WorkerSettings::default()
        },
        ..StackOptions::default()
    })
    .await;
    let accepted = stack.submit("services", &job("quiet", IDLE)).await;
    let id = str_of(&accepted, "id").to_owned();
    stack.wait_status("services", &id, "running").await;
    (stack, id)
}

/// The worker's open logs streams, from its `/metrics`.
async fn open_streams(stack: &Stack) -> Option<f64> {
    let text = reqwest::get(stack.workers[0].url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("contaxy_worker_log_streams "))
        .and_then(|value| value.trim().parse().ok())
}

/// Starts following the service's logs; the response once its head came.
async fn follow(stack: &Stack, id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(stack.api.app.url(&format!(
            "/projects/{PROJECT}/services/{id}/logs?follow=true"
        )))
        .bearer_auth(&stack.api.admin)
        .send()
        .await
        .expect("the API answers")
}

#[tokio::test]
async fn followers_that_go_away_from_a_quiet_service_leave_no_stream_open() {
    let (stack, id) = quiet_service(4, 600).await;
    for _ in 0..12 {
        // `curl -m1 …/logs?follow=true`: the head, a second of nothing, gone.
        let response = follow(&stack, &id).await;
        assert_eq!(response.status(), 200);
        let mut response = response;
        let waited = tokio::time::timeout(Duration::from_secs(1), response.chunk()).await;
        assert!(waited.is_err(), "a quiet service sends nothing: {waited:?}");
        drop(response);
    }
    let seen = open_streams(&stack).await.expect("the gauge is exported");
    assert!(seen >= 1.0, "streams were open while followed: {seen}");
    eventually(
        Duration::from_secs(10),
        "the worker's logs streams to be back at 0",
        || async { (open_streams(&stack).await == Some(0.0)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_follow_ends_at_its_cap() {
    let (stack, id) = quiet_service(4, 3).await;
    let started = Instant::now();
    let response = follow(&stack, &id).await;
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(DEADLINE, response.text())
        .await
        .expect("the follow ends by itself")
        .expect("a complete body");
    let took = started.elapsed();
    assert!(body.is_empty(), "a quiet service printed {body:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "ended after {took:?}, the cap is 3 s"
    );
    eventually(Duration::from_secs(10), "no stream open", || async {
        (open_streams(&stack).await == Some(0.0)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_logs_request_past_the_workers_limit_gets_503_with_a_problem_body() {
    let (stack, id) = quiet_service(2, 600).await;
    let first = follow(&stack, &id).await;
    let second = follow(&stack, &id).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );

    let third = follow(&stack, &id).await;
    assert_eq!(third.status(), 503);
    let problem: serde_json::Value = third.json().await.expect("a JSON problem body");
    let detail = problem.to_string();
    assert!(
        detail.contains("No worker took the logs request"),
        "{detail}"
    );

    // A slot freed is a slot taken again.
    drop(first);
    eventually(DEADLINE, "a freed slot to serve a follow", || async {
        let response = follow(&stack, &id).await;
        (response.status() == 200).then_some(())
    })
    .await;
    drop(second);
}
