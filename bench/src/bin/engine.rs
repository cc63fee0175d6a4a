//! `engine`: the action pipeline itself, under concurrency, against the raw
//! capacity of the services it stands on, measured in the same run
//! (issue 13). Release binaries, started as processes:
//!
//! 1. **accept path**: N clients submitting jobs to the real `contaxy-api`
//!    for a fixed time (no worker: only the accept path is measured), and
//!    the floor under it at the same concurrency: a bare PostgreSQL
//!    insert+commit and a bare confirmed, persistent RabbitMQ publish; then
//!    an open-loop run offering a fixed rate (latency measured from each
//!    request's scheduled time, so a slow server cannot hide its queue);
//! 2. **the engine without a container runtime**: jobs from submission to
//!    a `succeeded` action through the broker, the worker's claim and its
//!    outcome, with 1, 2 and 4 `engine-worker` processes (the real worker
//!    around the in-memory runtime of `bench/src/null_runtime.rs`), against
//!    the raw work of the same shape done in process: insert a row and
//!    publish (confirmed), consume, two row updates, ack;
//! 3. **footprint**: the RSS of `contaxy-api`, `contaxy-worker` (Docker)
//!    and `contaxy-scheduler` idle after one demo job, and of the API and
//!    the workers above before and after their load.
//!
//! PostgreSQL is whatever `CONTAXY_TEST_DATABASE_URL` names; the settings
//! that decide durability are read from it and printed (`scripts/bench.sh`
//! starts a cluster of its own with `fsync`, `synchronous_commit` and
//! `full_page_writes` on). The Docker half of the picture is the
//! `contaxy-bench` binary (`bench/src/main.rs`).
//!
//! Usage: `engine [seconds per load step (10)] [jobs per engine run (5000)]
//! [parts: accept,engine,footprint (all)]`.
//! Figures: `docs/benchmarks.md`.

#[path = "../api_client.rs"]
mod api_client;
#[path = "../proc_stats.rs"]
mod proc_stats;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use api_client::ApiClient;
use contaxy_common::topology::Topology;
use contaxy_tests::api::random_secret;
use contaxy_tests::broker::{amqp_url, delete_topology_blocking};
use contaxy_tests::docker::{fresh_namespace, remove_docker_namespace};
use contaxy_tests::{IMAGE, TestDb};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use proc_stats::{RssSampler, rss_kib, rss_split_kib};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Concurrent clients of the closed-loop accept runs.
const CLIENTS: [usize; 3] = [1, 16, 64];
/// The rate offered in the open-loop accept run (issue 13: p99 ≤ 5 ms at
/// 1,000/s).
const OFFERED_PER_SECOND: u64 = 1000;
/// Worker processes of the engine runs.
const WORKERS: [usize; 3] = [1, 2, 4];
/// Submissions in flight during an engine run (and producers of its raw
/// baseline).
const ENGINE_CLIENTS: usize = 32;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(10);
    let jobs: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(5000);
    let step = Duration::from_secs(seconds);
    let bin = std::env::current_exe()?
        .parent()
        .context("the bench's directory")?
        .to_path_buf();
    for name in [
        "contaxy-api",
        "contaxy-worker",
        "contaxy-scheduler",
        "engine-worker",
    ] {
        if !bin.join(name).is_file() {
            bail!(
                "{} is not built: cargo build --release -p contaxy-api -p contaxy-worker -p contaxy-scheduler -p contaxy-bench",
                bin.join(name).display()
            );
        }
    }
    let parts = args
        .next()
        .unwrap_or_else(|| "accept,engine,footprint".to_owned());
    let parts: Vec<&str> = parts.split(',').collect();
    settings().await?;
    let mut summary = Vec::new();
    if parts.contains(&"accept") {
        accept(&bin, step, &mut summary).await?;
    }
    if parts.contains(&"engine") {
        engine(&bin, jobs, &mut summary).await?;
    }
    if parts.contains(&"footprint") {
        footprint(&bin, &mut summary).await?;
    }
    println!("\n== summary");
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

/// Prints what decides the durability of the figures.
async fn settings() -> anyhow::Result<()> {
    let db = TestDb::new().await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(db.url())
        .await?;
    let mut shown = Vec::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_sync_method",
        "shared_buffers",
    ] {
        let value: String = sqlx::query_scalar(&format!("SHOW {name}"))
            .fetch_one(&pool)
            .await?;
        shown.push(format!("{name}={value}"));
    }
    pool.close().await;
    println!("PostgreSQL: {}", shown.join(" "));
    println!(
        "RabbitMQ: durable queues, persistent messages (delivery mode 2), publisher confirms awaited per message"
    );
    println!(
        "machine: {} cores, load average at start {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The stack: a fresh database and broker prefix, the API and workers as
// processes.

struct Stack {
    db: TestDb,
    env: Env,
    api: Proc,
    others: Vec<Proc>,
    client: ApiClient,
}

struct Proc {
    name: String,
    child: Child,
    port: u16,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every process of a stack is given.
struct Env {
    database_url: String,
    prefix: String,
    namespace: String,
    admin: String,
}

impl Env {
    fn spawn(
        &self,
        bin: &Path,
        binary: &str,
        listen_var: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Proc> {
        let port = free_port()?;
        let mut command = Command::new(bin.join(binary));
        command
            .env("CONTAXY_DATABASE_URL", &self.database_url)
            .env("CONTAXY_AMQP_URL", amqp_url())
            .env("CONTAXY_TOPOLOGY_PREFIX", &self.prefix)
            .env("CONTAXY_NAMESPACE", &self.namespace)
            .env("CONTAXY_ADMIN_TOKEN", &self.admin)
            .env(
                format!("CONTAXY_{listen_var}_LISTEN_ADDR"),
                format!("127.0.0.1:{port}"),
            )
            .env("CONTAXY_API_RATE_LIMIT_PER_SECOND", "0")
            .env("CONTAXY_MAX_DEPLOYMENTS_PER_PROJECT", "0")
            .env("CONTAXY_MAX_RUNNING_PER_PROJECT", "0")
            .env("CONTAXY_DATABASE_MAX_CONNECTIONS", "20")
            .env("CONTAXY_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().with_context(|| format!("start {binary}"))?;
        Ok(Proc {
            name: binary.to_owned(),
            child,
            port,
        })
    }
}

impl Stack {
    async fn start(bin: &Path, namespace: String) -> anyhow::Result<Self> {
        let db = TestDb::new().await;
        let env = Env {
            database_url: db.url().to_owned(),
            prefix: format!("bench-{}.", uuid_suffix()),
            namespace,
            admin: random_secret(),
        };
        let api = env.spawn(bin, "contaxy-api", "API", &[])?;
        let client = ApiClient {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?,
            base: format!("http://127.0.0.1:{}", api.port),
            admin: env.admin.clone(),
        };
        let stack = Self {
            db,
            env,
            api,
            others: Vec::new(),
            client,
        };
        stack.wait_ready(&stack.api).await?;
        stack
            .client
            .post(
                "/projects",
                json!({"id": "bench", "display_name": "Benchmark"}),
            )
            .await?;
        Ok(stack)
    }

    async fn add(
        &mut self,
        bin: &Path,
        binary: &str,
        listen_var: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let proc = self.env.spawn(bin, binary, listen_var, extra)?;
        self.wait_ready(&proc).await?;
        self.others.push(proc);
        Ok(())
    }

    async fn wait_ready(&self, proc: &Proc) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self
                .client
                .http
                .get(format!("http://127.0.0.1:{}/readyz", proc.port))
                .send()
                .await;
            if matches!(answer, Ok(ref r) if r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} is not ready after 60 s", proc.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn pool(&self) -> anyhow::Result<PgPool> {
        Ok(PgPoolOptions::new()
            .max_connections(70)
            .connect(self.db.url())
            .await?)
    }

    fn stop(self) {
        drop(self.others);
        drop(self.api);
        delete_topology_blocking(Topology::new(&self.env.prefix));
        drop(self.db);
    }
}

fn job(i: usize) -> Value {
    json!({"container_image": IMAGE, "display_name": format!("bench {i}"), "command": ["true"],
           "compute": {"min_cpus": 0, "min_memory": 4, "max_memory": 64}})
}

// ---------------------------------------------------------------------------
// Latency figures.

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    /// Failed calls by what failed them (a status, a transport error).
    errors: BTreeMap<String, usize>,
    seconds: f64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }

    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn line(&mut self, what: &str) -> String {
        self.latencies.sort();
        let n = self.latencies.len();
        let at = |percent: usize| {
            if n == 0 {
                0.0
            } else {
                self.latencies[((n - 1) * percent) / 100].as_secs_f64() * 1e3
            }
        };
        let max = self.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3);
        let line = format!(
            "{what:<44} {:>8.0} /s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.1} ms   (n = {n}, errors {}{})",
            n as f64 / self.seconds,
            at(50),
            at(99),
            max,
            self.errors.values().sum::<usize>(),
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(": {:?}", self.errors)
            }
        );
        println!("  {line}");
        line
    }
}

/// Runs `clients` copies of `one` back to back for `length`; each call's
/// latency is a sample, an `Err` an error.
async fn closed_loop<F, Fut>(clients: usize, length: Duration, one: F) -> Samples
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let one = one.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut i = client * 10_000_000;
                while Instant::now() < deadline {
                    let at = Instant::now();
                    match one(i).await {
                        Ok(()) => samples.latencies.push(at.elapsed()),
                        Err(error) => samples.error(format!("{error:#}")),
                    }
                    i += 1;
                }
                samples
            })
        })
        .collect();
    let mut all = Samples::default();
    for task in tasks {
        if let Ok(samples) = task.await {
            all.merge(samples);
        }
    }
    all.seconds = started.elapsed().as_secs_f64();
    all
}

// ---------------------------------------------------------------------------
// 1. The accept path.

async fn accept(bin: &Path, step: Duration, summary: &mut Vec<String>) -> anyhow::Result<()> {
    println!("\n== 1. accept path: {}-s steps, no worker", step.as_secs());
    let stack = Stack::start(bin, fresh_namespace("e")).await?;
    let pool = stack.pool().await?;
    sqlx::query(
        "CREATE TABLE bench_floor (id UUID PRIMARY KEY, project_id TEXT NOT NULL,
                                   payload JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&pool)
    .await?;
    let broker = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let channel = broker.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let floor_queue = format!("{}floor", stack.env.prefix);
    declare_durable(&channel, &floor_queue).await?;
    let rss_before = rss_kib(stack.api.pid())?;
    let sampler = RssSampler::start(stack.api.pid(), Duration::from_millis(100));
    let payload = job(0);
    let body = bytes::Bytes::from(serde_json::to_vec(&payload)?);
    for clients in CLIENTS {
        let (pg_pool, pg_payload) = (pool.clone(), payload.clone());
        let mut pg = closed_loop(clients, step, move |_| {
            let (pool, payload) = (pg_pool.clone(), pg_payload.clone());
            async move {
                sqlx::query(
                    "INSERT INTO bench_floor (id, project_id, payload) VALUES ($1, 'bench', $2)",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(sqlx::types::Json(payload))
                .execute(&pool)
                .await?;
                Ok(())
            }
        })
        .await;
        summary.push(pg.line(&format!(
            "floor: PostgreSQL insert+commit, {clients} clients"
        )));
        let (mq_channel, mq_queue, mq_body) = (channel.clone(), floor_queue.clone(), body.clone());
        let mut mq = closed_loop(clients, step, move |_| {
            let (channel, queue, body) = (mq_channel.clone(), mq_queue.clone(), mq_body.clone());
            async move {
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?
                    .await?;
                if !confirm.is_ack() {
                    bail!("nacked");
                }
                Ok(())
            }
        })
        .await;
        summary.push(mq.line(&format!(
            "floor: RabbitMQ confirmed publish, {clients} clients"
        )));
        let http = stack.client.http.clone();
        let url = stack.client.url("/projects/bench/jobs");
        let admin = stack.client.admin.clone();
        let mut api = closed_loop(clients, step, move |i| {
            let request = http.post(url.clone()).bearer_auth(&admin).json(&job(i));
            async move {
                let response = request.send().await?;
                if response.status() != reqwest::StatusCode::ACCEPTED {
                    bail!("{}", response.status());
                }
                Ok(())
            }
        })
        .await;
        summary.push(api.line(&format!("API: POST …/jobs → 202, {clients} clients")));
        channel
            .queue_purge(floor_queue.as_str().into(), Default::default())
            .await?;
    }
    let mut open = open_loop(&stack, OFFERED_PER_SECOND, step).await;
    summary.push(open.line(&format!(
        "API: {OFFERED_PER_SECOND}/s offered (open loop), latency from schedule"
    )));
    let rss_peak = sampler.stop();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = rss_kib(stack.api.pid())?;
    summary.push(rss_line(
        "contaxy-api (accept runs)",
        rss_before,
        rss_peak,
        rss_after,
    ));
    channel
        .queue_delete(floor_queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = broker.close(0, "done".into()).await;
    pool.close().await;
    stack.stop();
    Ok(())
}

/// Offers `rate` submissions a second for `length`, each on its own task,
/// its latency counted from the moment it was due.
async fn open_loop(stack: &Stack, rate: u64, length: Duration) -> Samples {
    let every = Duration::from_nanos(1_000_000_000 / rate);
    let started = tokio::time::Instant::now();
    let total = rate * length.as_secs();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let due = started + every * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        let request = stack
            .client
            .http
            .post(stack.client.url("/projects/bench/jobs"))
            .bearer_auth(&stack.client.admin)
            .json(&job(usize::try_from(i).unwrap_or(0)));
        tasks.push(tokio::spawn(async move {
            let outcome = match request.send().await {
                Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(error) if error.is_timeout() => Err("client timeout".to_owned()),
                Err(error) if error.is_connect() => Err("could not connect".to_owned()),
                Err(_) => Err("transport error".to_owned()),
            };
            (outcome, due.elapsed())
        }));
    }
    let mut samples = Samples::default();
    for task in tasks {
        match task.await {
            Ok((Ok(()), latency)) => samples.latencies.push(latency),
            Ok((Err(kind), _)) => samples.error(kind),
            Err(_) => samples.error("bench task failed".to_owned()),
        }
    }
    samples.seconds = started.elapsed().as_secs_f64();
    samples
}

async fn declare_durable(channel: &Channel, queue: &str) -> anyhow::Result<()> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. The engine without a container runtime.

async fn engine(bin: &Path, jobs: usize, summary: &mut Vec<String>) -> anyhow::Result<()> {
    println!(
        "\n== 2. engine: {jobs} jobs, {ENGINE_CLIENTS} submissions in flight, in-memory runtime"
    );
    let raw = raw_pipeline(jobs).await?;
    let line = format!(
        "raw: insert+publish, consume, 2 updates, ack      {raw:>8.0} /s   ({jobs} items, {ENGINE_CLIENTS} producers, {ENGINE_CLIENTS} in flight)"
    );
    println!("  {line}");
    summary.push(line);
    for workers in WORKERS {
        let mut stack = Stack::start(bin, fresh_namespace("e")).await?;
        for _ in 0..workers {
            stack.add(bin, "engine-worker", "WORKER", &[]).await?;
        }
        let pids: Vec<u32> = std::iter::once(stack.api.pid())
            .chain(stack.others.iter().map(Proc::pid))
            .collect();
        let before: Vec<u64> = pids.iter().map(|&p| rss_kib(p).unwrap_or(0)).collect();
        let samplers: Vec<RssSampler> = pids
            .iter()
            .map(|&p| RssSampler::start(p, Duration::from_millis(100)))
            .collect();
        let pool = stack.pool().await?;
        let started = Instant::now();
        let stack_ref = &stack;
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..jobs)
            .map(|i| async move {
                stack_ref
                    .client
                    .post("/projects/bench/jobs", job(i))
                    .await?;
                Ok(())
            })
            .buffer_unordered(ENGINE_CLIENTS)
            .collect()
            .await;
        let accepted = started.elapsed();
        if let Some(Err(error)) = results.into_iter().find(Result::is_err) {
            bail!("a submission failed: {error:#}");
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (succeeded, failed): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE status = 'succeeded'),
                        count(*) FILTER (WHERE status IN ('failed', 'dead'))
                 FROM actions",
            )
            .fetch_one(&pool)
            .await?;
            if failed > 0 {
                bail!("{failed} actions failed");
            }
            if usize::try_from(succeeded).unwrap_or(0) >= jobs {
                break;
            }
            if Instant::now() > deadline {
                bail!("{succeeded} of {jobs} actions succeeded in 600 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let total = started.elapsed().as_secs_f64();
        let rate = jobs as f64 / total;
        let line = format!(
            "engine, {workers} worker process(es): submit → succeeded {rate:>8.0} /s   ({:.0}% of raw; all accepted after {:.1} s, all succeeded after {total:.1} s)",
            100.0 * rate / raw,
            accepted.as_secs_f64()
        );
        println!("  {line}");
        summary.push(line);
        let peaks: Vec<u64> = samplers.into_iter().map(RssSampler::stop).collect();
        tokio::time::sleep(Duration::from_secs(5)).await;
        for (i, &pid) in pids.iter().enumerate() {
            let name = if i == 0 {
                "contaxy-api".to_owned()
            } else {
                format!("engine-worker {i} of {workers}")
            };
            summary.push(rss_line(
                &format!("{name} (engine run)"),
                before[i],
                peaks[i],
                rss_kib(pid).unwrap_or(0),
            ));
        }
        pool.close().await;
        stack.stop();
    }
    Ok(())
}

/// The same PostgreSQL and RabbitMQ work as one action, without the
/// engine: producers insert a row and publish its id (confirmed,
/// persistent); a consumer takes `ENGINE_CLIENTS` at a time, updates the
/// row twice (running, succeeded) and acks. Items per second, from the
/// first insert to the last ack.
async fn raw_pipeline(items: usize) -> anyhow::Result<f64> {
    let db = TestDb::new().await;
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(ENGINE_CLIENTS * 2).unwrap_or(64))
        .connect(db.url())
        .await?;
    sqlx::query(
        "CREATE TABLE bench_raw (id UUID PRIMARY KEY, status TEXT NOT NULL, payload JSONB NOT NULL,
                                 updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&pool)
    .await?;
    let queue = format!("bench-raw-{}", uuid_suffix());
    let broker = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let publish = broker.create_channel().await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    declare_durable(&publish, &queue).await?;
    let consume = broker.create_channel().await?;
    consume
        .basic_qos(
            u16::try_from(ENGINE_CLIENTS).unwrap_or(32),
            BasicQosOptions::default(),
        )
        .await?;
    let consumer = consume
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let body = serde_json::to_vec(&job(0))?;
    let started = Instant::now();
    let consuming = {
        let pool = pool.clone();
        tokio::spawn(async move {
            consumer
                .take(items)
                .for_each_concurrent(ENGINE_CLIENTS, |delivery| {
                    let pool = pool.clone();
                    async move {
                        let Ok(delivery) = delivery else { return };
                        let Ok(id) = std::str::from_utf8(&delivery.data)
                            .map_err(drop)
                            .and_then(|s| s.parse::<uuid::Uuid>().map_err(drop))
                        else {
                            return;
                        };
                        for status in ["running", "succeeded"] {
                            let _ = sqlx::query(
                                "UPDATE bench_raw SET status = $2, updated_at = now() WHERE id = $1",
                            )
                            .bind(id)
                            .bind(status)
                            .execute(&pool)
                            .await;
                        }
                        let _ = delivery.ack(BasicAckOptions::default()).await;
                    }
                })
                .await;
        })
    };
    let produced: Vec<anyhow::Result<()>> = futures::stream::iter(0..items)
        .map(|_| {
            let pool = pool.clone();
            let publish = publish.clone();
            let body = body.clone();
            let queue = queue.clone();
            async move {
                let id = uuid::Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO bench_raw (id, status, payload) VALUES ($1, 'queued', $2)",
                )
                .bind(id)
                .bind(sqlx::types::Json(serde_json::from_slice::<Value>(&body)?))
                .execute(&pool)
                .await?;
                publish
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        id.to_string().as_bytes(),
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(ENGINE_CLIENTS)
        .collect()
        .await;
    if let Some(Err(error)) = produced.into_iter().find(Result::is_err) {
        bail!("the raw producer failed: {error:#}");
    }
    tokio::time::timeout(Duration::from_secs(600), consuming)
        .await
        .context("the raw consumer did not finish in 600 s")??;
    let rate = items as f64 / started.elapsed().as_secs_f64();
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_raw WHERE status = 'succeeded'")
        .fetch_one(&pool)
        .await?;
    if usize::try_from(done).unwrap_or(0) != items {
        bail!("the raw pipeline finished {done} of {items} items");
    }
    let _ = publish
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = broker.close(0, "done".into()).await;
    pool.close().await;
    drop(db);
    Ok(rate)
}

// ---------------------------------------------------------------------------
// 3. Footprint.

async fn footprint(bin: &Path, summary: &mut Vec<String>) -> anyhow::Result<()> {
    println!("\n== 3. footprint: api, worker (Docker), scheduler, idle after one job");
    let namespace = fresh_namespace("f");
    let mut stack = Stack::start(bin, namespace.clone()).await?;
    let result = async {
        stack.add(bin, "contaxy-worker", "WORKER", &[]).await?;
        stack
            .add(bin, "contaxy-scheduler", "SCHEDULER", &[])
            .await?;
        let answer = stack
            .client
            .post(
                "/projects/bench/jobs?wait=true",
                json!({"container_image": IMAGE, "display_name": "demo",
                       "command": ["echo", "hello"]}),
            )
            .await?;
        println!("  demo job: {}", answer["status"]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        for proc in std::iter::once(&stack.api).chain(stack.others.iter()) {
            let rss = rss_kib(proc.pid())? as f64 / 1024.0;
            let (anon, file) = rss_split_kib(proc.pid())?;
            let line = format!(
                "idle RSS after one job: {:<20} {rss:>6.1} MiB (anonymous {:.1}, file-backed {:.1})",
                proc.name,
                anon as f64 / 1024.0,
                file as f64 / 1024.0
            );
            println!("  {line}");
            summary.push(line);
        }
        anyhow::Ok(())
    }
    .await;
    stack.others.clear();
    stack.stop();
    remove_docker_namespace(&namespace);
    result
}

fn rss_line(what: &str, before: u64, peak: u64, after: u64) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let line = format!(
        "RSS {what:<40} before {:>6.1} MiB   peak {:>6.1} MiB   5 s after {:>6.1} MiB",
        mib(before),
        mib(peak),
        mib(after)
    );
    println!("  {line}");
    line
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn uuid_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
