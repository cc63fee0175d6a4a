//! The schedule routes: create, read, change, suspend, resume, trigger,
//! runs, delete; and every refusal a 400 naming its field.

use contaxy_tests::IMAGE;
use contaxy_tests::api::{Answer, TestApi, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

fn job(name: &str) -> Value {
    json!({"container_image": IMAGE, "display_name": name})
}

async fn call(api: &TestApi, method: Method, path: &str, body: Option<Value>) -> Answer {
    api.call(method, path, Some(&api.admin), body.as_ref())
        .await
}

fn fields(answer: &Answer) -> Vec<String> {
    answer.body["details"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| f["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_schedules_are_400_naming_the_field() {
    let api = TestApi::start_with(|s| s.api_rate_limit_per_second = 0).await;
    api.create_project("alpha").await;
    let cases = [
        (
            json!({"cron": "not cron", "job_template": job("nightly")}),
            "cron",
        ),
        (
            json!({"cron": "61 * * * *", "job_template": job("nightly")}),
            "cron",
        ),
        (
            json!({"cron": "* * * * * *", "job_template": job("nightly")}),
            "cron",
        ),
        (
            json!({"cron": "0 0 0 1 1 * 2001", "job_template": job("nightly")}),
            "cron",
        ),
        (
            json!({"cron": "0 3 * * *", "time_zone": "Mars/Olympus", "job_template": job("nightly")}),
            "time_zone",
        ),
        (
            json!({"cron": "0 3 * * *", "job_template": {"container_image": "", "display_name": "nightly"}}),
            "job_template.container_image",
        ),
        (
            json!({"cron": "0 3 * * *", "job_template": {"container_image": IMAGE, "display_name": "nightly", "idle_timeout": 5}}),
            "job_template.idle_timeout",
        ),
        (
            json!({"cron": "0 3 * * *", "job_template": job("nightly"), "concurrency_policy": "sometimes"}),
            "concurrency_policy",
        ),
        (
            json!({"cron": "0 3 * * *", "job_template": job("nightly"), "end_at": "2001-01-01T00:00:00Z"}),
            "end_at",
        ),
        (
            json!({"cron": "0 3 * * *", "job_template": job("nightly"), "succeeded_history_limit": 1001}),
            "succeeded_history_limit",
        ),
        (
            json!({"cron": "0 3 * * *", "job_template": job("nightly"), "catch_up": "sometimes"}),
            "catch_up",
        ),
        (
            json!({"cron": "0 3 * * *", "job_template": job("nightly"), "colour": "blue"}),
            "colour",
        ),
        (json!({"job_template": job("nightly")}), "cron"),
    ];
    for (body, field) in cases {
        let answer = call(
            &api,
            Method::POST,
            "/projects/alpha/schedules",
            Some(body.clone()),
        )
        .await;
        assert_problem(&answer, 400);
        assert!(
            fields(&answer).iter().any(|f| f == field),
            "{body}: {field} not named in {:?}",
            answer.body
        );
    }
    let listed = call(&api, Method::GET, "/projects/alpha/schedules", None).await;
    assert_eq!(listed.body, json!([]), "nothing was recorded");
}

#[tokio::test]
async fn the_minimum_interval_is_a_setting() {
    let api = TestApi::start_with(|s| s.schedule_min_interval_secs = 1).await;
    api.create_project("alpha").await;
    let answer = call(
        &api,
        Method::POST,
        "/projects/alpha/schedules",
        Some(json!({"cron": "* * * * * *", "job_template": job("every second")})),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let answer = call(
        &api,
        Method::POST,
        "/projects/alpha/schedules",
        Some(json!({"cron": "*/1 * * * * *", "job_template": job("every second")})),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
}

#[tokio::test]
async fn a_schedule_is_created_changed_suspended_triggered_and_deleted() {
    let api = TestApi::start_with(|s| s.api_rate_limit_per_second = 0).await;
    api.create_project("alpha").await;
    let created = call(
        &api,
        Method::POST,
        "/projects/alpha/schedules",
        Some(json!({"cron": "30 2 * * *", "time_zone": "America/New_York", "job_template": job("nightly run"),
                    "concurrency_policy": "forbid", "starting_deadline_seconds": 600})),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("an id").to_owned();
    let path = format!("/projects/alpha/schedules/{id}");
    assert_eq!(created.body["display_name"], "nightly run");
    assert_eq!(created.body["time_zone"], "America/New_York");
    assert_eq!(created.body["catch_up"], "skip");
    assert_eq!(created.body["concurrency_policy"], "forbid");
    assert!(created.body["next_slot"].is_string(), "{:?}", created.body);

    let read = call(&api, Method::GET, &path, None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);

    // PATCH: the cron changes, so the next slot is computed anew.
    let patched = call(
        &api,
        Method::PATCH,
        &path,
        Some(json!({"cron": "0 4 * * *", "time_zone": "UTC"})),
    )
    .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["cron"], "0 4 * * *");
    assert!(
        patched.body["next_slot"]
            .as_str()
            .is_some_and(|s| s.contains("T04:00:00")),
        "{:?}",
        patched.body
    );
    assert_eq!(
        patched.body["concurrency_policy"], "forbid",
        "other fields kept"
    );
    let refused = call(
        &api,
        Method::PATCH,
        &path,
        Some(json!({"time_zone": "Nowhere"})),
    )
    .await;
    assert_problem(&refused, 400);
    assert_eq!(fields(&refused), ["time_zone"]);

    let suspended = call(&api, Method::POST, &format!("{path}:suspend"), None).await;
    assert_eq!(suspended.status, 200, "{:?}", suspended.body);
    assert_eq!(suspended.body["suspended"], true);
    let resumed = call(&api, Method::POST, &format!("{path}:resume"), None).await;
    assert_eq!(resumed.body["suspended"], false);
    let unknown = call(&api, Method::POST, &format!("{path}:explode"), None).await;
    assert_problem(&unknown, 404);

    // :trigger makes a job now, through the job pipeline.
    let triggered = call(&api, Method::POST, &format!("{path}:trigger"), None).await;
    assert_eq!(triggered.status, 202, "{:?}", triggered.body);
    assert_eq!(triggered.body["outcome"], "triggered");
    let job_id = triggered.body["job_id"]
        .as_str()
        .expect("a job id")
        .to_owned();
    let job = call(
        &api,
        Method::GET,
        &format!("/projects/alpha/jobs/{job_id}"),
        None,
    )
    .await;
    assert_eq!(job.status, 200, "{:?}", job.body);
    assert_eq!(job.body["display_name"], "nightly run");
    let action_id = triggered.body["action_id"].as_str().expect("an action id");
    let action = call(
        &api,
        Method::GET,
        &format!("/projects/alpha/actions/{action_id}"),
        None,
    )
    .await;
    assert_eq!(action.body["kind"], "deployment.deploy");
    assert_eq!(action.body["origin"], "scheduler");

    let runs = call(&api, Method::GET, &format!("{path}/runs"), None).await;
    assert_eq!(runs.status, 200);
    assert_eq!(
        runs.body.as_array().map(Vec::len),
        Some(1),
        "{:?}",
        runs.body
    );
    assert_eq!(runs.body[0]["job_id"], job_id.as_str());
    assert_eq!(runs.body[0]["job_status"], "pending");
    let bad_limit = call(&api, Method::GET, &format!("{path}/runs?limit=0"), None).await;
    assert_problem(&bad_limit, 400);

    let deleted = call(&api, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204);
    assert_problem(&call(&api, Method::GET, &path, None).await, 404);
    assert_problem(
        &call(
            &api,
            Method::GET,
            "/projects/alpha/schedules/not-a-uuid",
            None,
        )
        .await,
        404,
    );
    // The job it made stays.
    let job = call(
        &api,
        Method::GET,
        &format!("/projects/alpha/jobs/{job_id}"),
        None,
    )
    .await;
    assert_eq!(job.status, 200);
}
