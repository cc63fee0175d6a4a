//! Logs (lines, since, follow) and status changes from the engine's events.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use contaxy_tests::runtime::TestRuntime;
use contaxy_tests::{IDLE, within};
use contaxy_worker::runtime::{
    DeploymentRef, DeploymentStatus, LogOptions, Runtime, RuntimeError, StatusChange,
};
use futures::StreamExt;

#[tokio::test]
async fn logs_honour_lines_and_since() {
    let test = TestRuntime::new().await;
    // "late" comes two seconds after the rest, so a `since` between them
    // (Docker counts whole seconds) separates them.
    let script = format!("echo line1; echo line2; echo line3; sleep 2; echo late; {IDLE}");
    let spec = test.service("alpha", "chatty", &script);
    let target = spec.target();
    test.deploy(&spec).await.unwrap();
    test.wait_for_output(&target, "late\n").await;

    let all = test.logs(&target, LogOptions::default()).await;
    assert_eq!(all, "line1\nline2\nline3\nlate\n");
    let last_two = LogOptions {
        lines: Some(2),
        ..LogOptions::default()
    };
    assert_eq!(test.logs(&target, last_two).await, "line3\nlate\n");

    let stamped = LogOptions {
        timestamps: true,
        ..LogOptions::default()
    };
    let stamped = test.logs(&target, stamped).await;
    let late_line = stamped.lines().find(|l| l.ends_with(" late")).unwrap();
    let late_at: DateTime<Utc> = late_line.split(' ').next().unwrap().parse().unwrap();
    let since = LogOptions {
        since: Some(late_at.duration_trunc(TimeDelta::seconds(1)).unwrap()),
        ..LogOptions::default()
    };
    assert_eq!(test.logs(&target, since).await, "late\n");
}

#[tokio::test]
async fn follow_yields_chunks_as_they_are_printed() {
    let test = TestRuntime::new().await;
    let script = "trap 'exit 0' TERM; i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done";
    let spec = test.service("alpha", "ticker", script);
    test.deploy(&spec).await.unwrap();
    test.wait_for_output(&spec.target(), "tick0\n").await;

    // Only what is printed from now on, and the stream stays open.
    let options = LogOptions {
        lines: Some(0),
        follow: true,
        ..LogOptions::default()
    };
    let mut stream = test.runtime.logs(&spec.target(), options).await.unwrap();
    let mut ticks = Vec::new();
    while ticks.len() < 4 {
        let chunk = within("the next tick", stream.next())
            .await
            .unwrap()
            .unwrap();
        for line in chunk.text().lines() {
            ticks.push(line.strip_prefix("tick").unwrap().parse::<u32>().unwrap());
        }
    }
    assert!(
        ticks[0] > 0,
        "tick0 was printed before following began: {ticks:?}"
    );
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, none lost: {ticks:?}"
    );
}

#[tokio::test]
async fn logs_of_a_missing_deployment_are_not_found() {
    let test = TestRuntime::new().await;
    let target = DeploymentRef::new("alpha", format!("{}-p-alpha-j-none", test.namespace));
    let error = test
        .runtime
        .logs(&target, LogOptions::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn the_event_stream_reports_running_then_succeeded_for_a_short_job() {
    let test = TestRuntime::new().await;
    let since = Utc::now() - TimeDelta::seconds(1);
    let mut changes = test.runtime.status_changes(Some(since));
    let spec = test.job("alpha", "brief", "echo done");
    test.deploy(&spec).await.unwrap();

    let mut seen: Vec<StatusChange> = Vec::new();
    while !seen.iter().any(|c| c.status.is_final()) {
        let change = within("the job's status changes", changes.next())
            .await
            .expect("the event stream stays open")
            .unwrap();
        assert_eq!(
            change.project_id, "alpha",
            "only this namespace's events: {change:?}"
        );
        seen.push(change);
    }
    let statuses: Vec<_> = seen.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            DeploymentStatus::Pending,
            DeploymentStatus::Running,
            DeploymentStatus::Succeeded
        ]
    );
    assert!(seen.iter().all(|c| c.deployment_id == spec.deployment_id));
    assert_eq!(seen[2].exit_code, Some(0));
    assert!(seen.windows(2).all(|w| w[0].at <= w[1].at));

    // Removal is reported too: the runtime has nothing for it any more.
    test.runtime
        .delete(&spec.target(), Default::default())
        .await
        .unwrap();
    let removed = within("the removal", changes.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.status, DeploymentStatus::Stopped);
}

#[tokio::test]
async fn a_failed_job_is_reported_with_its_exit_code() {
    let test = TestRuntime::new().await;
    let mut changes = test
        .runtime
        .status_changes(Some(Utc::now() - TimeDelta::seconds(1)));
    let spec = test.job("alpha", "broken", "exit 7");
    test.deploy(&spec).await.unwrap();
    let last = loop {
        let change = within("the failure", changes.next())
            .await
            .unwrap()
            .unwrap();
        if change.status.is_final() {
            break change;
        }
    };
    assert_eq!(
        (last.status, last.exit_code),
        (DeploymentStatus::Failed, Some(7))
    );
}
