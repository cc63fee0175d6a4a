//! The scheduler's cron passes and leader election against real PostgreSQL
//! and RabbitMQ, driven by a simulated clock (never a sleep): every slot
//! fires once, DST in America/New_York, forbid, catch-up after an outage,
//! two schedulers on one database, a dead leader handed over, suspend, end
//! dates and history limits.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use contaxy_common::broker::Broker;
use contaxy_common::domain::schedule::ScheduleInput;
use contaxy_common::publisher::Publisher;
use contaxy_common::scheduled::Firing;
use contaxy_common::store::quotas::Quotas;
use contaxy_common::store::schedules::{self, ScheduleRecord};
use contaxy_common::topology::Topology;
use contaxy_scheduler::cron::{self, CronSettings, PassReport};
use contaxy_scheduler::leader::{CRON_LEASE, CronLoop, Leadership, ManualClock};
use contaxy_tests::broker::{amqp_url, delete_topology_blocking};
use contaxy_tests::{DEADLINE, TestDb};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PROJECT: &str = "alpha";
const NAMESPACE: &str = "tcron";
/// No per-tenant limits: these tests make hundreds of jobs that stay
/// pending (no worker runs them); the batch test sets its own.
const QUOTAS: Quotas = Quotas {
    max_deployments_per_project: 0,
    max_running_per_project: 0,
    max_projects_per_user: 0,
};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

/// A database with project `alpha`, a broker prefix, and a publisher.
struct Cron {
    pool: PgPool,
    publisher: Publisher,
    settings: CronSettings,
    shutdown: CancellationToken,
    topology: Topology,
    _db: TestDb,
}

impl Cron {
    async fn new() -> Self {
        let (db, pool) = TestDb::with_project(PROJECT).await;
        let topology = Topology::new(&format!("test-{}.", Uuid::new_v4().simple()));
        let shutdown = CancellationToken::new();
        let broker = Broker::start(
            &amqp_url().into(),
            "schedules-test",
            topology.clone(),
            shutdown.clone(),
        );
        tokio::time::timeout(DEADLINE, broker.connected())
            .await
            .expect("RabbitMQ is reachable");
        Self {
            pool,
            publisher: Publisher::new(broker, topology.clone()),
            settings: CronSettings::default(),
            shutdown,
            topology,
            _db: db,
        }
    }

    fn firing(&self) -> Firing<'_> {
        Firing {
            pool: &self.pool,
            publisher: &self.publisher,
            namespace: NAMESPACE,
            quotas: &QUOTAS,
        }
    }

    /// Records a schedule as the API would at `now`.
    async fn schedule(&self, body: Value, now: DateTime<Utc>) -> ScheduleRecord {
        let input: ScheduleInput = serde_json::from_value(body).expect("an input");
        let valid = input
            .validate(TimeDelta::seconds(1), now)
            .expect("a valid schedule");
        let next = valid.first_slot_after(now);
        schedules::insert(
            &self.pool,
            Uuid::now_v7(),
            PROJECT,
            &valid,
            next,
            "users/test",
        )
        .await
        .expect("insert the schedule")
    }

    async fn pass(&self, now: DateTime<Utc>) -> PassReport {
        cron::pass(&self.firing(), &self.settings, now)
            .await
            .expect("a pass")
    }

    /// Passes every `step` from `from` (exclusive) to `to` (inclusive).
    async fn run(&self, from: DateTime<Utc>, to: DateTime<Utc>, step: TimeDelta) {
        let mut now = from;
        while now < to {
            now = (now + step).min(to);
            self.pass(now).await;
        }
    }

    /// (slot, outcome) of a schedule's runs, oldest first.
    async fn runs(&self, id: Uuid) -> Vec<(DateTime<Utc>, String)> {
        sqlx::query_as(
            "SELECT slot_time, outcome FROM schedule_runs WHERE schedule_id = $1 ORDER BY slot_time",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .expect("runs")
    }

    async fn fired(&self, id: Uuid) -> Vec<DateTime<Utc>> {
        self.runs(id)
            .await
            .into_iter()
            .filter(|(_, outcome)| outcome == "fired")
            .map(|(slot, _)| slot)
            .collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("a count")
    }

    async fn set_job_status(&self, schedule: Uuid, slot: DateTime<Utc>, status: &str) {
        sqlx::query(
            "UPDATE deployments SET status = $3 WHERE id =
               (SELECT deployment_id FROM schedule_runs WHERE schedule_id = $1 AND slot_time = $2)",
        )
        .bind(schedule)
        .bind(slot)
        .bind(status)
        .execute(&self.pool)
        .await
        .expect("set a job's status");
    }
}

impl Drop for Cron {
    fn drop(&mut self) {
        self.shutdown.cancel();
        delete_topology_blocking(self.topology.clone());
    }
}

fn job(name: &str) -> Value {
    json!({"container_image": "busybox", "display_name": name})
}

fn minutes(start: &str, count: i64) -> Vec<DateTime<Utc>> {
    (0..count)
        .map(|i| at(start) + TimeDelta::minutes(i))
        .collect()
}

#[tokio::test]
async fn every_minute_fires_once_per_slot_over_a_simulated_hour() {
    let cron = Cron::new().await;
    let t0 = at("2026-01-01T00:00:30Z");
    let schedule = cron
        .schedule(
            json!({"cron": "* * * * *", "job_template": job("minutely")}),
            t0,
        )
        .await;
    // Passes every 7 s, so some land exactly on no slot and several per slot.
    cron.run(t0, t0 + TimeDelta::hours(1), TimeDelta::seconds(7))
        .await;

    assert_eq!(
        cron.fired(schedule.id).await,
        minutes("2026-01-01T00:01:00Z", 60)
    );
    assert_eq!(cron.runs(schedule.id).await.len(), 60, "only fires");
    // One job and one deploy action per slot, each from the scheduler.
    assert_eq!(
        cron.count("SELECT count(DISTINCT id) FROM deployments")
            .await,
        60
    );
    assert_eq!(
        cron.count(
            "SELECT count(*) FROM actions WHERE kind = 'deployment.deploy' AND origin = 'scheduler'"
        )
        .await,
        60
    );
    // Each run names its job and action, and the job is the action's resource.
    let linked = cron
        .count(
            "SELECT count(*) FROM schedule_runs r JOIN actions a ON a.id = r.action_id
             JOIN deployments d ON d.id = r.deployment_id AND d.id = a.resource_id",
        )
        .await;
    assert_eq!(linked, 60);
    // Lateness is at most one pass interval.
    let late = cron
        .count("SELECT count(*) FROM schedule_runs WHERE recorded_at - slot_time > interval '7 seconds'")
        .await;
    assert_eq!(late, 0);
    let record = schedules::get(&cron.pool, PROJECT, schedule.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(record.next_slot, Some(at("2026-01-01T01:01:00Z")));
}

#[tokio::test]
async fn new_york_daylight_saving_both_ways() {
    let mut cron = Cron::new().await;
    cron.settings.on_time = TimeDelta::minutes(5);
    // Spring forward, 2026-03-08: 02:30 does not exist; it fires at 03:00 EDT.
    let spring_start = at("2026-03-07T00:00:00Z");
    let spring = cron
        .schedule(
            json!({"cron": "30 2 * * *", "time_zone": "America/New_York", "job_template": job("spring")}),
            spring_start,
        )
        .await;
    // Fall back, 2026-11-01: 01:30 happens twice; it fires once, at 01:30 EDT.
    let fall_start = at("2026-10-31T00:00:00Z");
    let fall = cron
        .schedule(
            json!({"cron": "30 1 * * *", "time_zone": "America/New_York", "job_template": job("fall")}),
            fall_start,
        )
        .await;
    cron.run(
        spring_start,
        at("2026-03-10T00:00:00Z"),
        TimeDelta::minutes(2),
    )
    .await;
    assert_eq!(
        cron.fired(spring.id).await,
        [
            at("2026-03-07T07:30:00Z"),
            at("2026-03-08T07:00:00Z"),
            at("2026-03-09T06:30:00Z"),
        ]
    );
    cron.run(
        fall_start,
        at("2026-11-03T00:00:00Z"),
        TimeDelta::minutes(2),
    )
    .await;
    assert_eq!(
        cron.fired(fall.id).await,
        [
            at("2026-10-31T05:30:00Z"),
            at("2026-11-01T05:30:00Z"),
            at("2026-11-02T06:30:00Z"),
        ]
    );
}

#[tokio::test]
async fn forbid_skips_slots_while_the_previous_job_runs() {
    let cron = Cron::new().await;
    let t0 = at("2026-01-01T00:00:30Z");
    let schedule = cron
        .schedule(
            json!({"cron": "* * * * *", "job_template": job("exclusive"), "concurrency_policy": "forbid",
                   "failed_history_limit": 10}),
            t0,
        )
        .await;
    let slot = |m: i64| at("2026-01-01T00:00:00Z") + TimeDelta::minutes(m);
    cron.pass(slot(1)).await;
    cron.set_job_status(schedule.id, slot(1), "running").await;
    cron.pass(slot(2)).await;
    cron.pass(slot(3)).await;
    cron.set_job_status(schedule.id, slot(1), "succeeded").await;
    cron.pass(slot(4)).await;
    let outcomes: Vec<String> = cron
        .runs(schedule.id)
        .await
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        outcomes,
        ["fired", "skipped_forbid", "skipped_forbid", "fired"]
    );
    assert_eq!(cron.count("SELECT count(*) FROM deployments").await, 2);
}

#[tokio::test]
async fn allow_fires_while_the_previous_job_runs() {
    let cron = Cron::new().await;
    let t0 = at("2026-01-01T00:00:30Z");
    let schedule = cron
        .schedule(
            json!({"cron": "* * * * *", "job_template": job("overlap")}),
            t0,
        )
        .await;
    let slot = |m: i64| at("2026-01-01T00:00:00Z") + TimeDelta::minutes(m);
    cron.pass(slot(1)).await;
    cron.set_job_status(schedule.id, slot(1), "running").await;
    cron.pass(slot(2)).await;
    assert_eq!(cron.fired(schedule.id).await, [slot(1), slot(2)]);
}

#[tokio::test]
async fn catch_up_policies_after_a_simulated_outage() {
    let cron = Cron::new().await;
    let t0 = at("2026-01-01T00:00:30Z");
    let body = |policy: &str, deadline: Value| {
        json!({"cron": "* * * * *", "job_template": job(&format!("catch-{policy}")), "catch_up": policy,
               "starting_deadline_seconds": deadline, "failed_history_limit": 100})
    };
    let skip = cron.schedule(body("skip", json!(300)), t0).await;
    let latest = cron.schedule(body("latest", json!(300)), t0).await;
    let all = cron.schedule(body("all", json!(300)), t0).await;
    let all_unbounded = cron.schedule(body("all", Value::Null), t0).await;
    let slot = |m: i64| at("2026-01-01T00:00:00Z") + TimeDelta::minutes(m);
    cron.pass(slot(1)).await;
    // Down from 00:01 to 00:10:05: slots 2–10 are due at once; 2–5 are more
    // than 300 s late.
    cron.pass(slot(10) + TimeDelta::seconds(5)).await;

    let outcomes = |runs: Vec<(DateTime<Utc>, String)>| -> Vec<String> {
        runs.into_iter().map(|(_, o)| o).collect()
    };
    let missed = ["missed"; 4];
    let skipped = ["skipped_catch_up"; 4];
    let mut want_skip = vec!["fired"];
    want_skip.extend(missed);
    want_skip.extend(skipped);
    want_skip.push("fired");
    assert_eq!(outcomes(cron.runs(skip.id).await), want_skip, "skip");
    assert_eq!(outcomes(cron.runs(latest.id).await), want_skip, "latest");
    let mut want_all = vec!["fired"];
    want_all.extend(missed);
    want_all.extend(["fired"; 5]);
    assert_eq!(outcomes(cron.runs(all.id).await), want_all, "all");
    assert_eq!(
        outcomes(cron.runs(all_unbounded.id).await),
        ["fired"; 10],
        "all without a deadline"
    );

    // A longer outage: the latest slot is 45 s late. `skip` waits for the
    // next slot; `latest` still fires it.
    cron.pass(slot(20) + TimeDelta::seconds(45)).await;
    assert_eq!(
        cron.runs(skip.id).await.last(),
        Some(&(slot(20), "skipped_catch_up".to_owned()))
    );
    assert_eq!(
        cron.runs(latest.id).await.last(),
        Some(&(slot(20), "fired".to_owned()))
    );
    cron.pass(slot(21)).await;
    assert_eq!(
        cron.runs(skip.id).await.last(),
        Some(&(slot(21), "fired".to_owned()))
    );
}

#[tokio::test]
async fn two_schedulers_on_one_database_fire_each_slot_exactly_once() {
    let first = Cron::new().await;
    // A second scheduler: its own pool and publisher on the same database.
    let second_pool = contaxy_tests::db::migrated_pool(first._db.url(), 5).await;
    let t0 = at("2026-01-01T00:00:30Z");
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = first
            .schedule(
                json!({"cron": "* * * * *", "job_template": job(&format!("twin-{i}")),
                             "catch_up": "all"}),
                t0,
            )
            .await;
        ids.push(s.id);
    }
    let second = Firing {
        pool: &second_pool,
        publisher: &first.publisher,
        namespace: NAMESPACE,
        quotas: &QUOTAS,
    };
    // Both believe they lead (no lease): they pass at the same moments.
    let first_firing = first.firing();
    let mut now = t0;
    let mut lost = 0;
    while now < t0 + TimeDelta::hours(1) {
        now += TimeDelta::seconds(10);
        let (a, b) = tokio::join!(
            cron::pass(&first_firing, &first.settings, now),
            cron::pass(&second, &first.settings, now),
        );
        let (a, b) = (a.expect("pass"), b.expect("pass"));
        lost += a.lost_races + b.lost_races;
    }
    for id in ids {
        assert_eq!(first.fired(id).await, minutes("2026-01-01T00:01:00Z", 60));
    }
    assert_eq!(first.count("SELECT count(*) FROM deployments").await, 300);
    assert_eq!(
        first
            .count("SELECT count(*) FROM actions WHERE kind = 'deployment.deploy'")
            .await,
        300
    );
    eprintln!("passes that lost a race: {lost}");
}

#[tokio::test]
async fn one_replica_leads_and_a_dead_leaders_lease_is_taken_within_its_ttl() {
    let cron = Cron::new().await;
    let t0 = at("2026-01-01T00:00:50Z");
    let schedule = cron
        .schedule(
            json!({"cron": "* * * * *", "job_template": job("handover")}),
            t0,
        )
        .await;
    let clock = ManualClock::new(t0);
    let replica = |holder: &str| CronLoop {
        leadership: Leadership::new(
            cron.pool.clone(),
            CRON_LEASE,
            holder,
            TimeDelta::seconds(10),
        ),
        clock: Arc::new(clock.clone()),
        settings: CronSettings::default(),
        namespace: NAMESPACE.to_owned(),
        quotas: QUOTAS,
    };
    let (a, b) = (replica("a"), replica("b"));
    assert!(
        a.tick(&cron.publisher).await.expect("tick").is_some(),
        "a leads first"
    );
    assert!(
        b.tick(&cron.publisher).await.expect("tick").is_none(),
        "b stands by"
    );
    clock.advance(TimeDelta::seconds(5));
    assert!(
        a.tick(&cron.publisher).await.expect("tick").is_some(),
        "a renews"
    );
    assert!(b.tick(&cron.publisher).await.expect("tick").is_none());
    // a dies at t0 + 5 s (no more ticks, no resignation). The slot at
    // 00:01:00 (t0 + 10 s) passes while nobody leads.
    clock.advance(TimeDelta::seconds(9));
    assert!(
        b.tick(&cron.publisher).await.expect("tick").is_none(),
        "a's lease runs to t0 + 15 s"
    );
    assert!(cron.fired(schedule.id).await.is_empty());
    clock.advance(TimeDelta::seconds(1));
    let report = b
        .tick(&cron.publisher)
        .await
        .expect("tick")
        .expect("b leads once the lease expired");
    assert_eq!(report.fired, 1);
    assert_eq!(cron.fired(schedule.id).await, [at("2026-01-01T00:01:00Z")]);
    // a comes back: it does not lead while b renews.
    clock.advance(TimeDelta::seconds(1));
    assert!(a.tick(&cron.publisher).await.expect("tick").is_none());
    // b stops cleanly: it gives the lease up and a takes it at once.
    b.leadership.resign().await;
    assert!(a.tick(&cron.publisher).await.expect("tick").is_some());
}

#[tokio::test]
async fn suspended_and_ended_schedules_stop_and_history_limits_prune() {
    let cron = Cron::new().await;
    let t0 = at("2026-01-01T00:00:30Z");
    let suspended = cron
        .schedule(
            json!({"cron": "* * * * *", "job_template": job("paused"), "suspended": true}),
            t0,
        )
        .await;
    let ending = cron
        .schedule(
            json!({"cron": "* * * * *", "job_template": job("ending"),
                         "end_at": "2026-01-01T00:03:30Z"}),
            t0,
        )
        .await;
    let limited = cron
        .schedule(
            json!({"cron": "* * * * *", "job_template": job("limited"),
                         "succeeded_history_limit": 2, "failed_history_limit": 1}),
            t0,
        )
        .await;
    let slot = |m: i64| at("2026-01-01T00:00:00Z") + TimeDelta::minutes(m);
    for m in 1..=6 {
        cron.pass(slot(m)).await;
        // Every job of `limited` ends at once: odd minutes succeed.
        let status = if m % 2 == 1 { "succeeded" } else { "failed" };
        cron.set_job_status(limited.id, slot(m), status).await;
    }
    cron.pass(slot(7)).await;

    assert!(
        cron.runs(suspended.id).await.is_empty(),
        "a suspended schedule does not fire"
    );
    assert_eq!(
        cron.fired(ending.id).await,
        minutes("2026-01-01T00:01:00Z", 3)
    );
    let ended = schedules::get(&cron.pool, PROJECT, ending.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(ended.next_slot, None, "no slot after the end date");
    // Kept: the two newest succeeded (3, 5), the newest failed (6), and the
    // run of minute 7, whose job has not finished.
    assert_eq!(
        cron.fired(limited.id).await,
        [slot(3), slot(5), slot(6), slot(7)]
    );
}

#[tokio::test]
async fn a_slot_read_ahead_fires_each_schedule_as_it_is_at_the_slot() {
    let cron = Cron::new().await;
    let t0 = at("2026-01-01T00:00:30Z");
    let slot = at("2026-01-01T00:01:00Z");
    let every_minute = |name: &str| json!({"cron": "* * * * *", "job_template": job(name)});
    let kept = cron.schedule(every_minute("kept"), t0).await;
    let edited = cron.schedule(every_minute("before"), t0).await;
    let paused = cron.schedule(every_minute("paused"), t0).await;

    let ahead = cron::read_ahead(&cron.pool, &cron.settings, slot)
        .await
        .expect("read ahead");
    assert_eq!(ahead.slot(), slot);
    // Between the read and the slot: one schedule gets a new job template
    // and one is suspended, as the API does it.
    let changed: ScheduleInput = serde_json::from_value(every_minute("after")).expect("an input");
    let changed = changed
        .validate(TimeDelta::seconds(1), t0)
        .expect("a valid schedule");
    schedules::update(
        &cron.pool,
        PROJECT,
        edited.id,
        &changed,
        Some(slot),
        "users/test",
    )
    .await
    .expect("update")
    .expect("exists");
    schedules::set_suspended(&cron.pool, PROJECT, paused.id, true, None, "users/test")
        .await
        .expect("suspend")
        .expect("exists");

    // Before its slot a read ahead is not used, nor anything fired.
    let early = cron::read_ahead(&cron.pool, &cron.settings, slot)
        .await
        .expect("read ahead");
    let report = cron::pass_read_ahead(&cron.firing(), &cron.settings, t0, Some(early))
        .await
        .expect("a pass");
    assert_eq!(report, PassReport::default());

    let report = cron::pass_read_ahead(&cron.firing(), &cron.settings, slot, Some(ahead))
        .await
        .expect("a pass");
    // The edited schedule was not fired from the stale read, but read
    // again in the same pass.
    assert_eq!(report.fired, 2, "{report:?}");
    assert_eq!(report.lost_races, 2, "{report:?}");
    assert_eq!(cron.fired(kept.id).await, vec![slot]);
    assert_eq!(cron.fired(edited.id).await, vec![slot]);
    assert!(cron.runs(paused.id).await.is_empty());
    // The edited one's job is made from its template as it is now.
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT d.display_name FROM schedule_runs r JOIN deployments d ON d.id = r.deployment_id
         WHERE r.schedule_id = $1",
    )
    .bind(edited.id)
    .fetch_all(&cron.pool)
    .await
    .expect("the job");
    assert_eq!(names, ["after"]);
    // Published and noted once the pass ended.
    assert_eq!(
        cron.count("SELECT count(*) FROM actions WHERE published_at IS NULL")
            .await,
        0
    );
}
