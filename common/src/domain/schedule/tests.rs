use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

fn times(cron: &str, zone: &str) -> ScheduleTimes {
    ScheduleTimes::parse(cron, zone).expect("valid")
}

fn slots(times: &ScheduleTimes, after: &str, count: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = at(after);
    for _ in 0..count {
        t = times.next_after(t).expect("a slot");
        out.push(t);
    }
    out
}

#[test]
fn five_fields_fire_at_second_zero_and_six_fields_every_second() {
    let minute = times("* * * * *", "UTC");
    assert_eq!(
        slots(&minute, "2026-01-01T00:00:30Z", 2),
        [at("2026-01-01T00:01:00Z"), at("2026-01-01T00:02:00Z")]
    );
    let second = times("* * * * * *", "UTC");
    assert_eq!(
        slots(&second, "2026-01-01T00:00:00Z", 2),
        [at("2026-01-01T00:00:01Z"), at("2026-01-01T00:00:02Z")]
    );
    let shorthand = times("@daily", "UTC");
    assert_eq!(
        slots(&shorthand, "2026-01-01T12:00:00Z", 1),
        [at("2026-01-02T00:00:00Z")]
    );
}

#[test]
fn next_after_is_strictly_after_even_on_a_slot() {
    let minute = times("* * * * *", "UTC");
    assert_eq!(
        minute.next_after(at("2026-01-01T00:01:00Z")),
        Some(at("2026-01-01T00:02:00Z"))
    );
}

#[test]
fn a_wall_time_in_the_spring_forward_gap_fires_when_the_gap_ends() {
    // America/New_York, 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT.
    let daily = times("30 2 * * *", "America/New_York");
    assert_eq!(
        slots(&daily, "2026-03-07T00:00:00Z", 3),
        [
            at("2026-03-07T07:30:00Z"), // 02:30 EST
            at("2026-03-08T07:00:00Z"), // 02:30 does not exist: 03:00 EDT
            at("2026-03-09T06:30:00Z"), // 02:30 EDT
        ]
    );
    // Every minute: 02:00–02:59 collapse into the one fire at 03:00 EDT.
    let minute = times("* * * * *", "America/New_York");
    assert_eq!(
        slots(&minute, "2026-03-08T06:58:00Z", 3),
        [
            at("2026-03-08T06:59:00Z"), // 01:59 EST
            at("2026-03-08T07:00:00Z"), // 03:00 EDT
            at("2026-03-08T07:01:00Z"), // 03:01 EDT
        ]
    );
}

#[test]
fn a_repeated_wall_time_in_the_fall_back_hour_fires_once() {
    // America/New_York, 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST.
    let daily = times("30 1 * * *", "America/New_York");
    assert_eq!(
        slots(&daily, "2026-10-31T00:00:00Z", 3),
        [
            at("2026-10-31T05:30:00Z"), // 01:30 EDT
            at("2026-11-01T05:30:00Z"), // 01:30 EDT, its first occurrence only
            at("2026-11-02T06:30:00Z"), // 01:30 EST
        ]
    );
    // Asked during the second 01:30, the next slot is the next day's.
    assert_eq!(
        daily.next_after(at("2026-11-01T06:15:00Z")),
        Some(at("2026-11-02T06:30:00Z"))
    );
    // Every minute: the repeated hour has already fired; 02:00 EST is next.
    let minute = times("* * * * *", "America/New_York");
    assert_eq!(
        slots(&minute, "2026-11-01T05:58:00Z", 2),
        [at("2026-11-01T05:59:00Z"), at("2026-11-01T07:00:00Z")]
    );
}

#[test]
fn slots_only_ever_increase_across_a_year_of_transitions() {
    let every_half_hour = times("0,30 * * * *", "America/New_York");
    let mut t = at("2026-01-01T00:00:00Z");
    let mut count = 0;
    while t < at("2027-01-01T00:00:00Z") {
        let next = every_half_hour.next_after(t).expect("a slot");
        assert!(next > t, "{next} after {t}");
        assert!(next - t <= TimeDelta::minutes(90), "{t} -> {next}");
        t = next;
        count += 1;
    }
    // 365 days of 48 wall times, each firing once, less the two (02:00 and
    // 02:30) that collapse into 03:00 in spring.
    assert_eq!(count, 365 * 48 - 2);
}

#[test]
fn bad_expressions_and_zones_name_their_field() {
    for bad in ["", "* * *", "* * * * * * * *", "61 * * * *", "* * * * 0"] {
        let (field, error) = ScheduleTimes::parse(bad, "UTC").expect_err(bad);
        assert_eq!(field, "cron", "{bad}: {error}");
    }
    let (field, _) = ScheduleTimes::parse("* * * * *", "Mars/Olympus").expect_err("zone");
    assert_eq!(field, "time_zone");
    assert!(ScheduleTimes::parse("0 9 * * MON-FRI", "Europe/Berlin").is_ok());
}

#[test]
fn a_year_that_has_passed_has_no_slot() {
    let gone = times("0 0 0 1 1 * 2001", "UTC");
    assert_eq!(gone.next_after(at("2026-01-01T00:00:00Z")), None);
}

#[test]
fn the_shortest_interval_is_found_among_irregular_slots() {
    let irregular = times("0,10 0 * * * *", "UTC");
    assert_eq!(
        irregular.shortest_interval(at("2026-01-01T00:00:00Z")),
        Some(TimeDelta::seconds(10))
    );
    let minute = times("* * * * *", "UTC");
    assert_eq!(
        minute.shortest_interval(at("2026-01-01T00:00:00Z")),
        Some(TimeDelta::minutes(1))
    );
}

fn input(value: serde_json::Value) -> ScheduleInput {
    serde_json::from_value(value).expect("an input")
}

fn job() -> serde_json::Value {
    json!({"container_image": "busybox", "display_name": "nightly"})
}

#[test]
fn a_valid_input_takes_its_defaults() {
    let now = at("2026-01-01T00:00:00Z");
    let valid = input(json!({"cron": "*/5 * * * *", "job_template": job()}))
        .validate(TimeDelta::seconds(60), now)
        .expect("valid");
    assert_eq!(valid.input.time_zone, "UTC");
    assert_eq!(valid.input.display_name.as_deref(), Some("nightly"));
    assert_eq!(valid.input.catch_up, CatchUpPolicy::Skip);
    assert_eq!(valid.input.succeeded_history_limit, 3);
    assert_eq!(
        valid.first_slot_after(now),
        Some(at("2026-01-01T00:05:00Z"))
    );
}

#[test]
fn every_refused_field_is_named() {
    let now = at("2026-01-01T00:00:00Z");
    let errors = input(json!({
        "cron": "* * * * * *",
        "time_zone": "UTC",
        "job_template": {"container_image": "", "display_name": "x", "idle_timeout": 5},
        "failed_history_limit": 5000,
        "end_at": "2025-01-01T00:00:00Z",
    }))
    .validate(TimeDelta::seconds(60), now)
    .expect_err("refused");
    for field in [
        "cron",
        "job_template.container_image",
        "job_template.display_name",
        "failed_history_limit",
        "end_at",
    ] {
        assert!(errors.has(field), "{field} not named in {errors}");
    }
    let zone = input(json!({"cron": "* * * * *", "time_zone": "Nowhere", "job_template": job()}))
        .validate(TimeDelta::seconds(60), now)
        .expect_err("refused");
    assert!(zone.has("time_zone"), "{zone}");
}

#[test]
fn the_minimum_interval_is_configurable() {
    let now = at("2026-01-01T00:00:00Z");
    let every_second = || input(json!({"cron": "* * * * * *", "job_template": job()}));
    let refused = every_second()
        .validate(TimeDelta::seconds(60), now)
        .expect_err("too often");
    assert!(refused.to_string().contains("1 s apart"), "{refused}");
    assert!(every_second().validate(TimeDelta::seconds(1), now).is_ok());
}

#[test]
fn the_first_slot_respects_the_end_date() {
    let now = at("2026-01-01T00:00:00Z");
    let valid = input(json!({
        "cron": "0 0 * * *", "job_template": job(), "end_at": "2026-01-01T12:00:00Z"
    }))
    .validate(TimeDelta::seconds(60), now)
    .expect("valid");
    assert_eq!(valid.first_slot_after(now), None);
}

#[test]
fn an_impossible_date_has_no_slot_and_is_refused_quickly() {
    let started = std::time::Instant::now();
    let now = at("2026-01-01T00:00:00Z");
    for cron in ["0 0 0 31 2 *", "0 0 0 30 2 * 2027-2099"] {
        let refused = input(json!({"cron": cron, "job_template": job()}))
            .validate(TimeDelta::seconds(60), now)
            .expect_err(cron);
        assert!(refused.has("cron"), "{cron}: {refused}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn every_concurrency_policy_is_accepted() {
    let now = at("2026-01-01T00:00:00Z");
    for policy in ["allow", "forbid", "replace"] {
        let valid = input(
            json!({"cron": "*/5 * * * *", "job_template": job(), "concurrency_policy": policy}),
        )
        .validate(TimeDelta::seconds(60), now);
        assert!(valid.is_ok(), "{policy}: {:?}", valid.err());
    }
}
