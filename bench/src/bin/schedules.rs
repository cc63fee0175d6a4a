//! `schedules`: N schedules firing every minute against one scheduler
//! process (the real binary, built beside this one), on the real
//! PostgreSQL and RabbitMQ. It measures, for each fire, the time from the
//! slot to its action being recorded (p50, p99, max), and samples the
//! scheduler's CPU time and RSS from `/proc`. A second lateness runs to
//! the fire's commit: a trigger on `schedule_runs` (in the bench's own
//! database) notifies the bench of each committed statement's fires, and
//! PostgreSQL delivers a notification when its transaction commits.
//!
//! No worker runs: the jobs stay `pending` and their deploy messages wait
//! in the run's own queues, removed at the end with its database.
//!
//! Usage: `cargo build --release -p contaxy-scheduler -p contaxy-bench &&
//! target/release/schedules [schedules] [slots] [scheduler binary]`
//! (default 10000, 2, and `contaxy-scheduler` beside this binary). The
//! bench itself only polls PostgreSQL; a debug build of it measures a
//! release scheduler as well.
//! Figures: `docs/benchmarks.md`.

#[path = "../proc_stats.rs"]
mod proc_stats;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use contaxy_common::topology::Topology;
use contaxy_tests::broker::delete_topology_blocking;
use contaxy_tests::{TestDb, common_config, db::insert_project};
use proc_stats::{cpu_seconds, rss_kib};
use secrecy::ExposeSecret;
use serde_json::json;
use sqlx::postgres::PgListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: i64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10_000);
    let slots: i64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2);
    let db = TestDb::new().await;
    let pool = db.migrated_pool(10).await;
    insert_project(&pool, "bench").await;
    let common = common_config(db.url());
    let topology = Topology::new(&common.topology_prefix);

    // The first slot is the start of a minute at least 20 s away, so the
    // scheduler is up and leading before it.
    let now = Utc::now();
    let first = (now + TimeDelta::seconds(80))
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .context("a minute boundary")?;
    let template = json!({"container_image": "busybox", "display_name": "bench job"});
    sqlx::query(
        "INSERT INTO schedules (id, project_id, display_name, cron, job_template, next_slot, created_by)
         SELECT gen_random_uuid(), 'bench', 'bench ' || n, '* * * * *', $1, $2, 'users/bench'
         FROM generate_series(1, $3) AS n",
    )
    .bind(&template)
    .bind(first)
    .bind(count)
    .execute(&pool)
    .await?;
    println!("{count} schedules every minute; first slot {first}, {slots} slots");

    let binary = match args.next() {
        Some(path) => path.into(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench's directory")?
            .join("contaxy-scheduler"),
    };
    if !binary.is_file() {
        bail!(
            "{} is not built: cargo build --release -p contaxy-scheduler",
            binary.display()
        );
    }
    let mut commits = notify_commits(&pool).await?;
    let mut scheduler = Command::new(&binary)
        .env("CONTAXY_DATABASE_URL", common.database_url.expose_secret())
        .env("CONTAXY_DATABASE_MAX_CONNECTIONS", "10")
        .env("CONTAXY_AMQP_URL", common.amqp_url.expose_secret())
        .env("CONTAXY_TOPOLOGY_PREFIX", &common.topology_prefix)
        .env("CONTAXY_NAMESPACE", "bench")
        .env("CONTAXY_SCHEDULER_LISTEN_ADDR", "127.0.0.1:0")
        .env("CONTAXY_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        // One project holds all the schedules, and no worker runs their
        // jobs: the per-project limits would refuse all but the first few
        // hundred fires.
        .env("CONTAXY_MAX_DEPLOYMENTS_PER_PROJECT", "0")
        .env("CONTAXY_MAX_RUNNING_PER_PROJECT", "0")
        .stdout(Stdio::null())
        .spawn()
        .context("start the scheduler")?;
    let result = measure(&pool, &mut commits, &mut scheduler, first, count, slots).await;
    let _ = scheduler.kill();
    let _ = scheduler.wait();
    if result.is_ok() {
        let floor = database_floor(&pool).await?;
        println!(
            "same-run baseline: the rows of one slot written by plain SQL in one transaction: {floor:.3} s"
        );
    }
    delete_topology_blocking(topology);
    drop(pool);
    drop(db);
    result
}

/// The database's own share of a slot, taken right after the run on the
/// same machine: one transaction writes the rows a slot of every schedule
/// writes (cursor moves, jobs, deploy actions, runs, publish marks) with
/// one plain statement each, generated in the server: no client, no
/// broker. Rows for a slot in 2100, so the measured ones are not touched.
async fn database_floor(pool: &sqlx::PgPool) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for statement in [
        "UPDATE schedules SET last_slot = next_slot, next_slot = next_slot + interval '1 minute'",
        "INSERT INTO deployments (id, project_id, deployment_type, display_name, spec, created_by, updated_by)
         SELECT 'floor-' || s.id, s.project_id, 'job', 'bench job', s.job_template, s.created_by, s.created_by
         FROM schedules s",
        "INSERT INTO actions (id, project_id, kind, resource_id, payload, idempotency_key, requested_by, origin)
         SELECT gen_random_uuid(), s.project_id, 'deployment.deploy', 'floor-' || s.id,
                jsonb_build_object('deployment_type', 'job', 'input', s.job_template),
                'floor:' || s.id, s.created_by, 'scheduler'
         FROM schedules s",
        "INSERT INTO schedule_runs (schedule_id, slot_time, project_id, deployment_id, outcome)
         SELECT s.id, '2100-01-01T00:00:00Z', s.project_id, 'floor-' || s.id, 'fired' FROM schedules s",
        "UPDATE actions SET published_at = now() WHERE resource_id LIKE 'floor-%'",
    ] {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(started.elapsed().as_secs_f64())
}

/// `slot seconds,count;…` (what the trigger sends) as (slot, fires).
fn parse_commit(payload: &str) -> Vec<(DateTime<Utc>, usize)> {
    payload
        .split(';')
        .filter_map(|pair| {
            let (slot, count) = pair.split_once(',')?;
            let slot = DateTime::from_timestamp(slot.parse().ok()?, 0)?;
            Some((slot, count.parse().ok()?))
        })
        .collect()
}

/// A trigger that tells a listener, at each commit that recorded fired
/// runs, how many per slot: PostgreSQL delivers a notification when its
/// transaction commits, so its arrival is the fires' commit (within the
/// delivery's own latency), at no cost to the scheduler's statements.
async fn notify_commits(pool: &sqlx::PgPool) -> anyhow::Result<PgListener> {
    sqlx::query(
        "CREATE FUNCTION bench_notify_runs() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM pg_notify('bench_runs', string_agg(pair, ';'))
             FROM (SELECT extract(epoch FROM slot_time)::bigint || ',' || count(*) AS pair
                   FROM new_runs WHERE outcome = 'fired' GROUP BY slot_time) AS fired
             HAVING count(*) > 0;
             RETURN NULL;
         END $$",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "CREATE TRIGGER bench_notify_runs AFTER INSERT ON schedule_runs
         REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION bench_notify_runs()",
    )
    .execute(pool)
    .await?;
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("bench_runs").await?;
    Ok(listener)
}

async fn measure(
    pool: &sqlx::PgPool,
    commits: &mut PgListener,
    scheduler: &mut Child,
    first: DateTime<Utc>,
    count: i64,
    slots: i64,
) -> anyhow::Result<()> {
    let pid = scheduler.id();
    let expected = count * slots;
    // Fires of later slots (the scheduler keeps going while the last
    // measured slot finishes) are not counted.
    let end = first + TimeDelta::minutes(slots);
    let deadline = first + TimeDelta::minutes(slots) + TimeDelta::seconds(120);
    let started = Instant::now();
    let idle_cpu = cpu_seconds(pid)?;
    let mut peak_rss = 0;
    let mut cpu_at_first = None;
    // Seconds from its slot to its commit, as the notifications arrive.
    let mut committed_after: Vec<f64> = Vec::new();
    let mut polled_at = Instant::now();
    loop {
        let wait = Duration::from_millis(500).saturating_sub(polled_at.elapsed());
        match tokio::time::timeout(wait, commits.recv()).await {
            Ok(Ok(notification)) => {
                let arrived = Utc::now();
                for (slot, count) in parse_commit(notification.payload()) {
                    if slot < end {
                        let after = (arrived - slot).num_milliseconds() as f64 / 1000.0;
                        committed_after.extend((0..count).map(|_| after));
                    }
                }
                continue;
            }
            Ok(Err(error)) => bail!("the commit notifications stopped: {error}"),
            Err(_) => {}
        }
        polled_at = Instant::now();
        if let Ok(Some(status)) = scheduler.try_wait() {
            bail!("the scheduler exited: {status}");
        }
        peak_rss = peak_rss.max(rss_kib(pid)?);
        if cpu_at_first.is_none() && Utc::now() >= first {
            cpu_at_first = Some(cpu_seconds(pid)?);
        }
        let fired: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM schedule_runs WHERE outcome = 'fired' AND slot_time < $1",
        )
        .bind(end)
        .fetch_one(pool)
        .await?;
        if fired >= expected {
            break;
        }
        if Utc::now() > deadline {
            bail!("only {fired} of {expected} fires after the last slot plus 120 s");
        }
    }
    peak_rss = peak_rss.max(rss_kib(pid)?);
    let cpu_end = cpu_seconds(pid)?;
    let busy = cpu_end - cpu_at_first.unwrap_or(idle_cpu);
    let (p50, p99, max, late): (f64, f64, f64, i64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l), percentile_cont(0.99) WITHIN GROUP (ORDER BY l),
                max(l), count(*) FILTER (WHERE l > 1)
         FROM (SELECT extract(epoch FROM a.created_at - r.slot_time)::float8 AS l
               FROM schedule_runs r JOIN actions a ON a.id = r.action_id WHERE r.outcome = 'fired' AND r.slot_time < $1) f",
    )
    .bind(end)
    .fetch_one(pool)
    .await?;
    let per_slot: Vec<(DateTime<Utc>, f64)> = sqlx::query_as(
        "SELECT r.slot_time, max(extract(epoch FROM a.created_at - r.slot_time))::float8
         FROM schedule_runs r JOIN actions a ON a.id = r.action_id WHERE r.slot_time < $1
         GROUP BY r.slot_time ORDER BY 1",
    )
    .bind(end)
    .fetch_all(pool)
    .await?;
    println!(
        "fires: {expected} in {:.0} s of wall time",
        started.elapsed().as_secs_f64()
    );
    println!(
        "lateness (slot to action recorded): p50 {p50:.3} s, p99 {p99:.3} s, max {max:.3} s; {late} fires over 1 s"
    );
    committed_after.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((committed_after.len() as f64 * q).ceil() as usize).saturating_sub(1);
        committed_after.get(index).copied().unwrap_or(f64::NAN)
    };
    println!(
        "lateness (slot to commit, notified): p50 {:.3} s, p99 {:.3} s, max {:.3} s; {} fires over 1 s",
        at(0.5),
        at(0.99),
        at(1.0),
        committed_after.iter().filter(|l| **l > 1.0).count()
    );
    for (slot, last) in per_slot {
        println!("  slot {slot}: last fire recorded {last:.3} s after it");
    }
    let minutes = slots as f64;
    println!(
        "scheduler CPU: {busy:.1} s over {slots} slots ({:.1}% of one core per minute); peak RSS {} MiB",
        busy / (minutes * 60.0) * 100.0,
        peak_rss / 1024
    );
    Ok(())
}
