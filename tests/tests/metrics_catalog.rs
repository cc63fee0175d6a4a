//! What `/metrics` exports, against the real stack (API, worker and
//! scheduler in one process, so one recorder and one output): every metric
//! is in `common::metric_catalog` (and so in docs/metrics.md) with its
//! kind and a `# HELP` line; histograms have buckets; the API counts its
//! requests by route template and status; every binary reports its build.

use std::collections::HashMap;

use contaxy_common::metric_catalog;
use contaxy_scheduler::SchedulerSettings;
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, eventually, str_of};
use reqwest::Method;

async fn scrape(url: &str) -> Option<String> {
    reqwest::get(url).await.ok()?.text().await.ok()
}

#[tokio::test]
async fn every_exported_metric_is_catalogued_described_and_bucketed() {
    let stack = Stack::start_with(StackOptions {
        scheduler: Some(SchedulerSettings::default()),
        ..StackOptions::default()
    })
    .await;
    let accepted = stack.submit("jobs", &job("counted job", "true")).await;
    stack
        .wait_action(str_of(&accepted, "action_id"), "succeeded")
        .await;
    let missing = stack
        .call(
            Method::GET,
            &format!("/projects/{PROJECT}/jobs/nothing-here"),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);

    let url = stack.api.app.url("/metrics");
    let text = eventually(DEADLINE, "the relay's gauges and the attempt", || async {
        let text = scrape(&url).await?;
        (text.contains("contaxy_scheduler_outbox_backlog ")
            && text.contains("contaxy_scheduler_dead_queue_messages ")
            && text.contains("contaxy_worker_attempt_seconds_bucket{"))
        .then_some(text)
    })
    .await;

    let mut types: HashMap<&str, &str> = HashMap::new();
    let mut helped = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("#"), Some("TYPE"), Some(name), Some(kind)) => {
                types.insert(name, kind);
            }
            (Some("#"), Some("HELP"), Some(name), Some(_)) => helped.push(name),
            _ => {}
        }
    }
    for (name, kind) in &types {
        if name.starts_with("contaxy_test_") {
            continue;
        }
        let doc = metric_catalog::find(name)
            .unwrap_or_else(|| panic!("{name} is exported but not in the catalog"));
        assert_eq!(doc.kind.as_str(), *kind, "{name}");
        assert!(helped.contains(name), "{name} has no # HELP line");
    }
    assert_eq!(
        types.get("contaxy_api_request_duration_seconds"),
        Some(&"histogram")
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("contaxy_api_request_duration_seconds_bucket{")
                && l.contains("le=\"0.005\"")
        ),
        "{text}"
    );
    let requests = |route: &str, status: &str| {
        text.lines().any(|l| {
            l.starts_with("contaxy_api_requests_total{")
                && l.contains("method=\"POST\"")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(requests("/projects/{project_id}/jobs", "202"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("contaxy_api_requests_total{")
                && l.contains("status=\"404\"")
                && !l.contains("nothing-here")),
        "a 404 of a known route is counted under its template: {text}"
    );
    for binary in ["contaxy-api", "contaxy-worker", "contaxy-scheduler"] {
        assert!(
            text.lines().any(|l| l.starts_with("contaxy_build_info{")
                && l.contains(&format!("binary=\"{binary}\""))
                && l.ends_with(" 1")),
            "{binary}: {text}"
        );
    }
}
