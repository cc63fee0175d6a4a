//! A measurement, not a check: how many Docker Engine API calls one
//! `deployment.deploy` of a job makes, in a new project (its network is made
//! too) and in a project whose network exists. The worker reaches the engine
//! through a counting proxy. The figures are written down in
//! `worker/src/runtime/README.md`.
//!
//! Run it with
//! `cargo nextest run -p contaxy-tests --test engine_calls --run-ignored only --no-capture`.

use std::collections::BTreeMap;
use std::time::Duration;

use contaxy_tests::DEADLINE;
use contaxy_tests::docker_proxy::DockerProxy;
use contaxy_tests::pipeline::Pipeline;
use contaxy_tests::subnets::random_pool;
use contaxy_tests::{TestDb, eventually};

#[tokio::test]
#[ignore = "a measurement: run it on purpose, with --no-capture"]
async fn engine_calls_of_one_deploy() {
    let db = TestDb::new().await;
    let pipeline = Pipeline::new(db.url()).await;
    let proxy = DockerProxy::start().await;
    let mut settings = Pipeline::worker_settings(&random_pool(139, 22), 24);
    settings.docker_host = proxy.docker_host();
    // The reconcile and the network sweep run once at start, then not
    // again while we count.
    settings.worker_reconcile_interval_secs = 3600;
    let _worker = pipeline.spawn_worker(settings).await;
    for project in ["warmup", "fresh"] {
        pipeline.create_project(project).await;
    }

    // The worker's start (connect, event stream, first reconcile and sweep)
    // is over once a first deploy has gone through and the proxy is quiet.
    let id = pipeline.deployment_id("warmup", 'j', "first");
    let action = pipeline.deploy("warmup", &id, "job", "true").await;
    pipeline.succeeded("warmup", action).await;
    let mut last = usize::MAX;
    eventually(DEADLINE, "the engine traffic to settle", || {
        let now = proxy.request_count();
        let quiet = now == last;
        last = now;
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            quiet.then_some(())
        }
    })
    .await;
    proxy.take_requests();

    let id = pipeline.deployment_id("fresh", 'j', "one");
    let action = pipeline.deploy("fresh", &id, "job", "true").await;
    pipeline.succeeded("fresh", action).await;
    let new_project = proxy.take_requests();

    let id = pipeline.deployment_id("fresh", 'j', "two");
    let action = pipeline.deploy("fresh", &id, "job", "true").await;
    pipeline.succeeded("fresh", action).await;
    let network_exists = proxy.take_requests();

    report("a job in a new project", &new_project);
    report("a job in a project whose network exists", &network_exists);
}

fn report(what: &str, requests: &[String]) {
    let mut by_call: BTreeMap<String, usize> = BTreeMap::new();
    for request in requests {
        // Ids and names vary from run to run; the call does not.
        let call = request
            .split('/')
            .map(|part| {
                if part.len() > 20 || part.starts_with('t') && part.contains("-p-") {
                    "{id}"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        *by_call.entry(call).or_default() += 1;
    }
    println!("{what}: {} Engine API calls", requests.len());
    for request in requests {
        println!("    {request}");
    }
    for (call, count) in by_call {
        println!("  {count} x {call}");
    }
}
