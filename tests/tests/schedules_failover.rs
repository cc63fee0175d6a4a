//! Two real `contaxy-scheduler` processes on one database, in real time:
//! every-second schedules fire each slot exactly once while both run, and
//! when the leader is killed with SIGKILL (no resignation, its lease row
//! stays) the standby takes the lease within lease + tick and fires on;
//! the slots of the handover window are made up per the catch-up policy.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::domain::schedule::ScheduleInput;
use contaxy_common::store::schedules;
use contaxy_common::topology::Topology;
use contaxy_tests::broker::{amqp_url, delete_topology_blocking};
use contaxy_tests::{DEADLINE, TestDb, binary, closed_port_addr, eventually};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const PROJECT: &str = "alpha";
const LEASE_MS: u64 = 2_000;
const TICK_MS: u64 = 200;

/// One scheduler process; killed when dropped.
struct Scheduler {
    child: Child,
    metrics: String,
}

impl Scheduler {
    fn start(db: &TestDb, topology_prefix: &str) -> Self {
        let port = closed_port_addr().port();
        let child = Command::new(binary("contaxy-scheduler"))
            .env("CONTAXY_SCHEDULER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("CONTAXY_DATABASE_URL", db.url())
            .env("CONTAXY_AMQP_URL", amqp_url())
            .env("CONTAXY_TOPOLOGY_PREFIX", topology_prefix)
            .env("CONTAXY_NAMESPACE", "tfail")
            .env("CONTAXY_SCHEDULER_LEASE_MS", LEASE_MS.to_string())
            .env("CONTAXY_SCHEDULER_TICK_MS", TICK_MS.to_string())
            .env("CONTAXY_CLEANUP_INTERVAL_SECS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the scheduler starts");
        Self {
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// Whether its `/metrics` says it leads (`None` while it does not
    /// answer).
    async fn leads(&self) -> Option<bool> {
        let text = reqwest::get(&self.metrics).await.ok()?.text().await.ok()?;
        Some(
            text.lines()
                .any(|line| line.trim() == "contaxy_scheduler_leader 1"),
        )
    }

    fn kill_hard(&mut self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let _ = self.child.wait();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deletes the test's exchanges and queues (the fired jobs' actions wait
/// there: no worker runs).
struct TopologyGuard(Topology);

impl Drop for TopologyGuard {
    fn drop(&mut self) {
        delete_topology_blocking(self.0.clone());
    }
}

async fn every_second(pool: &PgPool, name: &str, catch_up: &str) -> Uuid {
    let input: ScheduleInput = serde_json::from_value(json!({
        "cron": "* * * * * *",
        "job_template": {"container_image": "busybox", "display_name": name},
        "catch_up": catch_up,
        "succeeded_history_limit": 1000,
        "failed_history_limit": 1000,
    }))
    .expect("an input");
    let now = Utc::now();
    let valid = input
        .validate(TimeDelta::seconds(1), now)
        .expect("a valid schedule");
    let next = valid.first_slot_after(now);
    schedules::insert(pool, Uuid::now_v7(), PROJECT, &valid, next, "users/test")
        .await
        .expect("insert the schedule")
        .id
}

/// (slot, outcome) of a schedule's runs, oldest first.
async fn runs(pool: &PgPool, id: Uuid) -> Vec<(DateTime<Utc>, String)> {
    sqlx::query_as(
        "SELECT slot_time, outcome FROM schedule_runs WHERE schedule_id = $1 ORDER BY slot_time",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("runs")
}

async fn lease_holder(pool: &PgPool) -> Option<String> {
    sqlx::query_scalar("SELECT holder FROM scheduler_leases WHERE name = 'cron'")
        .fetch_optional(pool)
        .await
        .expect("the lease")
}

async fn fired_since(pool: &PgPool, id: Uuid, since: DateTime<Utc>) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM schedule_runs WHERE schedule_id = $1 AND outcome = 'fired' AND slot_time > $2",
    )
    .bind(id)
    .bind(since)
    .fetch_one(pool)
    .await
    .expect("a count")
}

/// Every slot from the first run to the last has exactly one run (one
/// second apart, none missing, none twice).
fn assert_contiguous(runs: &[(DateTime<Utc>, String)]) {
    assert!(runs.len() >= 6, "{runs:?}");
    for pair in runs.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, TimeDelta::seconds(1), "{runs:?}");
    }
}

#[tokio::test]
async fn two_scheduler_processes_fire_once_and_a_killed_leader_hands_over() {
    let (db, pool) = TestDb::with_project(PROJECT).await;
    let prefix = format!("test-{}.", Uuid::new_v4().simple());
    let _topology = TopologyGuard(Topology::new(&prefix));
    let all = every_second(&pool, "failover-all", "all").await;
    let skip = every_second(&pool, "failover-skip", "skip").await;

    let mut replicas = [
        Scheduler::start(&db, &prefix),
        Scheduler::start(&db, &prefix),
    ];
    // One leads, the other stands by.
    let leader = eventually(DEADLINE, "one scheduler to lead", || async {
        let (a, b) = (replicas[0].leads().await?, replicas[1].leads().await?);
        match (a, b) {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        }
    })
    .await;
    let standby = 1 - leader;
    let started = Utc::now();
    eventually(DEADLINE, "the leader to fire a few slots", || async {
        (fired_since(&pool, all, started).await >= 3).then_some(())
    })
    .await;
    assert_eq!(replicas[standby].leads().await, Some(false));

    let dead_holder = lease_holder(&pool).await.expect("a lease row");
    replicas[leader].kill_hard();
    let killed_at = Utc::now();
    let killed = Instant::now();
    let new_holder = eventually(DEADLINE, "the standby to take the lease", || async {
        lease_holder(&pool)
            .await
            .filter(|holder| *holder != dead_holder)
    })
    .await;
    let handover = killed.elapsed();
    let took_over_at = Utc::now();
    assert!(!new_holder.is_empty());
    // The documented bound is lease + tick; polling the row every 100 ms
    // and a loaded machine add the margin.
    let bound = Duration::from_millis(LEASE_MS + TICK_MS + 1_000);
    assert!(handover <= bound, "handover took {handover:?} > {bound:?}");
    eprintln!("handover after SIGKILL: {handover:?} (lease {LEASE_MS} ms, tick {TICK_MS} ms)");
    eventually(DEADLINE, "the standby to lead and fire on", || async {
        let leads = replicas[standby].leads().await?;
        (leads && fired_since(&pool, all, took_over_at).await >= 3).then_some(())
    })
    .await;
    drop(replicas);

    // catch_up = all: every slot, the handover window's too, fired once.
    let all_runs = runs(&pool, all).await;
    assert_contiguous(&all_runs);
    assert!(
        all_runs.iter().all(|(_, outcome)| outcome == "fired"),
        "{all_runs:?}"
    );
    // catch_up = skip: every slot has one run; the only ones that did not
    // fire were due while nobody led (skipped_catch_up, never a gap).
    let skip_runs = runs(&pool, skip).await;
    assert_contiguous(&skip_runs);
    for (slot, outcome) in &skip_runs {
        if outcome != "fired" {
            assert_eq!(outcome, "skipped_catch_up", "{skip_runs:?}");
            assert!(
                *slot >= killed_at - TimeDelta::seconds(1) && *slot <= took_over_at,
                "{slot} passed over outside the handover window {killed_at}..{took_over_at}"
            );
        }
    }
    let passed_over = skip_runs.iter().filter(|(_, o)| o != "fired").count();
    eprintln!(
        "slots: {} (all), {} (skip, {passed_over} passed over in the handover)",
        all_runs.len(),
        skip_runs.len()
    );
    // One job and one deploy action per fired slot.
    let fired: i64 =
        sqlx::query_scalar("SELECT count(*) FROM schedule_runs WHERE outcome = 'fired'")
            .fetch_one(&pool)
            .await
            .expect("a count");
    let jobs: i64 = sqlx::query_scalar("SELECT count(DISTINCT id) FROM deployments")
        .fetch_one(&pool)
        .await
        .expect("a count");
    let deploys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM actions WHERE kind = 'deployment.deploy'")
            .fetch_one(&pool)
            .await
            .expect("a count");
    assert_eq!((jobs, deploys), (fired, fired));
}
