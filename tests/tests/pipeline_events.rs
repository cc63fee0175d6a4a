//! Status from the runtime's own events, with several workers watching the
//! same events: each change is written once and published once.

use std::collections::BTreeMap;
use std::time::Duration;

use contaxy_tests::stack::{Stack, StackOptions, job};
use contaxy_worker::WorkerSettings;
use futures::StreamExt;
use serde_json::Value;

#[tokio::test]
async fn with_two_workers_each_status_change_is_published_once() {
    let stack = Stack::start_with(StackOptions {
        workers: 2,
        worker: WorkerSettings {
            // Reconcile often, so its passes get their chance to publish
            // a duplicate while the events are collected.
            worker_reconcile_interval_secs: 1,
            ..WorkerSettings::default()
        },
        ..StackOptions::default()
    })
    .await;
    let events_exchange = stack.topology().events_exchange();
    let mut events = stack
        .broker
        .subscribe(&events_exchange, "deployment.alpha.#")
        .await;
    let accepted = stack.submit("jobs", &job("once only", "echo once")).await;
    let id = accepted["id"].as_str().expect("an id").to_owned();
    stack.wait_status("jobs", &id, "succeeded").await;

    // Collect for a bounded while after the end: both workers' event streams
    // and three reconcile passes each have had their chance by then.
    let mut published: BTreeMap<String, usize> = BTreeMap::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(Ok(delivery))) = tokio::time::timeout_at(until, events.next()).await {
        let event: Value = serde_json::from_slice(&delivery.data).expect("a JSON event");
        if event["deployment_id"] == id.as_str() {
            let status = event["status"].as_str().expect("a status").to_owned();
            assert_eq!(
                delivery.routing_key.as_str(),
                format!("deployment.alpha.{status}"),
                "{event}"
            );
            *published.entry(status).or_default() += 1;
        }
    }
    assert_eq!(published.get("succeeded"), Some(&1), "{published:?}");
    assert!(
        published.get("running").copied().unwrap_or(0) <= 1,
        "{published:?}"
    );
    assert!(
        published.keys().all(|s| s == "running" || s == "succeeded"),
        "{published:?}"
    );
}
