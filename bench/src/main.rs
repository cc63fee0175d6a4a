//! `contaxy-bench`: the action pipeline under load, against the real
//! services, with raw Docker Engine create+start measured in the same run as
//! the baseline (the machines are shared and noisy: ratios, not absolutes).
//!
//! It starts the API and one worker in process (fresh database, unique
//! namespace and broker prefix), then measures:
//!
//! 1. latency, sequentially, one job at a time: the API's accept latency
//!    (POST to 202), and the time from POST to the `running` event on the
//!    `events` exchange, against raw create+start of the same image;
//! 2. throughput: N jobs submitted 16 at a time, until every action has
//!    succeeded, against raw create+start of N containers 8 at a time;
//! 3. makespan: 200 jobs submitted at once, until every action has
//!    succeeded, against raw create+start of 200 containers at once.
//!
//! Usage: `cargo run --release -p contaxy-bench -- [jobs]` (default 40).
//! Figures and how to read them: `docs/benchmarks.md`.

#[path = "api_client.rs"]
mod api_client;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use api_client::ApiClient;
use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, StartContainerOptions};
use contaxy_api::ApiSettings;
use contaxy_common::config::CommonConfig;
use contaxy_tests::api::{random_secret, test_api_settings};
use contaxy_tests::docker::{fresh_namespace, remove_docker_namespace};
use contaxy_tests::{IMAGE, TestDb, common_config, spawn_api, spawn_worker};
use contaxy_worker::WorkerSettings;
use futures::{StreamExt, stream};
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(40);
    let db = TestDb::new().await;
    let namespace = fresh_namespace("b");
    let common = CommonConfig {
        namespace: namespace.clone(),
        database_max_connections: 20,
        // The makespan run has 200 jobs pending at once.
        max_deployments_per_project: 0,
        max_running_per_project: 0,
        ..common_config(db.url())
    };
    let admin = random_secret();
    let settings = ApiSettings {
        api_rate_limit_per_second: 0,
        ..test_api_settings(&admin)
    };
    let api = spawn_api(common.clone(), settings).await?;
    let worker = spawn_worker(common.clone(), WorkerSettings::default()).await?;
    api.wait_ready("the API").await;
    worker.wait_ready("the worker").await;
    let client = ApiClient {
        http: reqwest::Client::new(),
        base: api.url(""),
        admin,
    };
    client
        .post(
            "/projects",
            json!({"id": "bench", "display_name": "Benchmark"}),
        )
        .await?;
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    let mut running = running_events(&common).await?;

    let result = measure(&client, &docker, &namespace, &mut running, jobs).await;
    // Stop the worker first: nothing may make or attach anything while the
    // namespace is cleaned up.
    worker.stop().await?;
    api.stop().await?;
    remove_docker_namespace(&namespace);
    result
}

async fn measure(
    client: &ApiClient,
    docker: &Docker,
    namespace: &str,
    running: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    jobs: usize,
) -> anyhow::Result<()> {
    let sequential = jobs.min(20);
    println!("latency: {sequential} jobs one at a time (sleep 30), raw Docker baseline first");
    let mut raw = Vec::new();
    for i in 0..sequential {
        let started = Instant::now();
        raw_create_start(
            docker,
            namespace,
            &format!("{namespace}-raw-{i}"),
            &["sleep", "30"],
        )
        .await?;
        raw.push(started.elapsed());
    }
    let mut accept = Vec::new();
    let mut to_running = Vec::new();
    for i in 0..sequential {
        let started = Instant::now();
        let body = job_body(&format!("Latency {i}"), &["sleep", "30"]);
        let created = client.post("/projects/bench/jobs", body).await?;
        accept.push(started.elapsed());
        let id = created["id"].as_str().context("a job id")?.to_owned();
        let at = wait_running(running, &id).await?;
        to_running.push(at.duration_since(started));
    }
    report("raw create+start", &mut raw);
    report("API accept (POST → 202)", &mut accept);
    report("POST → running event", &mut to_running);
    println!(
        "  ratio p50 (pipeline to running / raw create+start): {:.2}",
        p(&to_running, 50).as_secs_f64() / p(&raw, 50).as_secs_f64()
    );

    println!("throughput: {jobs} jobs (`true`), 16 submissions in flight; raw: 8 in flight");
    let started = Instant::now();
    raw_batch(docker, namespace, "tput", jobs, 8).await?;
    let raw_rate = jobs as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let action_ids = submit_jobs(client, "Throughput", jobs, 16).await?;
    let submitted = started.elapsed();
    wait_succeeded(client, &action_ids).await?;
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    println!(
        "  submissions: {:.1} /s (all {jobs} accepted in {:.2} s)",
        jobs as f64 / submitted.as_secs_f64(),
        submitted.as_secs_f64()
    );
    println!(
        "  pipeline: {rate:.1} actions/s to succeeded; raw create+start: {raw_rate:.1} containers/s; ratio {:.2}",
        rate / raw_rate
    );

    println!(
        "makespan: {MAKESPAN_JOBS} jobs (`true`) at once; raw: {MAKESPAN_JOBS} create+start at once"
    );
    let started = Instant::now();
    raw_batch(docker, namespace, "burst", MAKESPAN_JOBS, MAKESPAN_JOBS).await?;
    let raw_makespan = started.elapsed();
    let started = Instant::now();
    let action_ids = submit_jobs(client, "Burst", MAKESPAN_JOBS, MAKESPAN_JOBS).await?;
    wait_succeeded(client, &action_ids).await?;
    let makespan = started.elapsed();
    println!(
        "  makespan: pipeline {:.2} s, raw {:.2} s; ratio {:.2}",
        makespan.as_secs_f64(),
        raw_makespan.as_secs_f64(),
        makespan.as_secs_f64() / raw_makespan.as_secs_f64()
    );
    Ok(())
}

/// Submits `count` jobs (`true`), `in_flight` at a time; their action ids.
async fn submit_jobs(
    client: &ApiClient,
    name: &str,
    count: usize,
    in_flight: usize,
) -> anyhow::Result<Vec<String>> {
    stream::iter(0..count)
        .map(|i| async move {
            let created = client
                .post(
                    "/projects/bench/jobs",
                    job_body(&format!("{name} {i}"), &["true"]),
                )
                .await?;
            Ok::<_, anyhow::Error>(
                created["action_id"]
                    .as_str()
                    .context("an action id")?
                    .to_owned(),
            )
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Jobs submitted at once for the makespan figure (issue 13: ≤ 1.15× raw).
const MAKESPAN_JOBS: usize = 200;

/// Waits until every action in `ids` has succeeded (5 minutes each at most).
async fn wait_succeeded(client: &ApiClient, ids: &[String]) -> anyhow::Result<()> {
    for id in ids {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let action = client.get(&format!("/projects/bench/actions/{id}")).await?;
            match action["status"].as_str() {
                Some("succeeded") => break,
                Some("failed") => bail!("action {id} failed: {}", action["last_error"]),
                _ if Instant::now() > deadline => bail!("action {id} did not end"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
    Ok(())
}

fn job_body(name: &str, command: &[&str]) -> Value {
    json!({"container_image": IMAGE, "display_name": name, "command": command,
           "compute": {"min_cpus": 0, "min_memory": 4, "max_memory": 64}})
}

/// Raw create+start of `count` containers running `true`, `in_flight` at
/// a time.
async fn raw_batch(
    docker: &Docker,
    namespace: &str,
    label: &str,
    count: usize,
    in_flight: usize,
) -> anyhow::Result<()> {
    stream::iter(0..count)
        .map(|i| async move {
            raw_create_start(
                docker,
                namespace,
                &format!("{namespace}-{label}-{i}"),
                &["true"],
            )
            .await
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn raw_create_start(
    docker: &Docker,
    namespace: &str,
    name: &str,
    command: &[&str],
) -> anyhow::Result<()> {
    let labels = HashMap::from([("ctxy.namespace".to_owned(), namespace.to_owned())]);
    let body = ContainerCreateBody {
        image: Some(IMAGE.to_owned()),
        cmd: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        labels: Some(labels),
        ..ContainerCreateBody::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    docker.create_container(Some(options), body).await?;
    docker
        .start_container(name, None::<StartContainerOptions>)
        .await?;
    Ok(())
}

/// Deployment ids as their `running` events arrive.
async fn running_events(
    common: &CommonConfig,
) -> anyhow::Result<mpsc::UnboundedReceiver<(String, Instant)>> {
    use secrecy::ExposeSecret;
    let conn = lapin::Connection::connect(
        common.amqp_url.expose_secret(),
        lapin::ConnectionProperties::default(),
    )
    .await?;
    let channel = conn.create_channel().await?;
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare("".into(), exclusive, FieldTable::default())
        .await?;
    let events = contaxy_common::topology::Topology::new(&common.topology_prefix).events_exchange();
    channel
        .queue_bind(
            queue.name().clone(),
            events.into(),
            "deployment.bench.running".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = channel
        .basic_consume(
            queue.name().clone(),
            "".into(),
            no_ack,
            FieldTable::default(),
        )
        .await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _keep = (conn, channel);
        while let Some(Ok(delivery)) = consumer.next().await {
            let at = Instant::now();
            if let Ok(event) = serde_json::from_slice::<Value>(&delivery.data)
                && let Some(id) = event["deployment_id"].as_str()
                && tx.send((id.to_owned(), at)).is_err()
            {
                break;
            }
        }
    });
    Ok(rx)
}

async fn wait_running(
    running: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    id: &str,
) -> anyhow::Result<Instant> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, running.recv()).await {
            Ok(Some((seen, at))) if seen == id => return Ok(at),
            Ok(Some(_)) => {}
            Ok(None) => bail!("the events subscription ended"),
            Err(_) => bail!("{id} did not report running within 60 s"),
        }
    }
}

fn p(sorted: &[Duration], percent: usize) -> Duration {
    sorted[((sorted.len() - 1) * percent) / 100]
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    println!(
        "  {what:<28} p50 {:>7.1} ms   p99 {:>7.1} ms   (n = {})",
        p(samples, 50).as_secs_f64() * 1e3,
        p(samples, 99).as_secs_f64() * 1e3,
        samples.len()
    );
}
