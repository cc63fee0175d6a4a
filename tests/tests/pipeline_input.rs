//! Bad input never enters the pipeline: every invalid deployment is refused
//! with 400 naming the field, unknown deployments are 404, and nothing is
//! written or enqueued.

use contaxy_tests::api::{Answer, assert_problem};
use contaxy_tests::stack::{IMAGE, PROJECT, Stack, StackOptions, job};
use reqwest::Method;
use serde_json::{Value, json};

/// A valid job with `change` applied to it.
fn job_with(change: impl FnOnce(&mut Value)) -> Value {
    let mut body = job("valid name", "echo hi");
    change(&mut body);
    body
}

async fn post_raw(stack: &Stack, kind: &str, body: String) -> Answer {
    let path = format!("/projects/{PROJECT}/{kind}");
    stack
        .api
        .send(
            |client, url| {
                client
                    .post(url)
                    .bearer_auth(&stack.api.admin)
                    .header("content-type", "application/json")
                    .body(body)
            },
            &path,
        )
        .await
}

#[track_caller]
fn assert_names_field(answer: &Answer, field: &str, case: &str) {
    assert_eq!(answer.status, 400, "{case}: {:?}", answer.body);
    assert_problem(answer, 400);
    let fields: Vec<&str> = answer.body["details"]["fields"]
        .as_array()
        .map(|list| list.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields.contains(&field),
        "{case}: {field} not named in {:?}",
        answer.body
    );
}

#[tokio::test]
async fn invalid_deployments_are_refused_naming_the_field_and_nothing_is_written() {
    let stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "short display name",
            "display_name",
            job_with(|b| b["display_name"] = json!("ab")),
        ),
        (
            "no display name",
            "display_name",
            job_with(|b| {
                b.as_object_mut().map(|o| o.remove("display_name"));
            }),
        ),
        (
            "empty image",
            "container_image",
            job_with(|b| b["container_image"] = json!("")),
        ),
        (
            "bad image",
            "container_image",
            job_with(|b| b["container_image"] = json!("Not An Image!")),
        ),
        (
            "no image",
            "container_image",
            json!({"display_name": "valid name"}),
        ),
        (
            "negative cpus",
            "compute.min_cpus",
            job_with(|b| b["compute"]["min_cpus"] = json!(-1)),
        ),
        (
            "absurd cpus",
            "compute.max_cpus",
            job_with(|b| b["compute"]["max_cpus"] = json!(1e9)),
        ),
        (
            "negative memory",
            "compute.max_memory",
            job_with(|b| b["compute"]["max_memory"] = json!(-5)),
        ),
        (
            "absurd memory",
            "compute.min_memory",
            job_with(|b| b["compute"]["min_memory"] = json!(999_999_999_999_u64)),
        ),
        (
            "fractional memory",
            "compute.max_memory",
            job_with(|b| b["compute"]["max_memory"] = json!(64.5)),
        ),
        (
            "no replicas",
            "compute.max_replicas",
            job_with(|b| b["compute"]["max_replicas"] = json!(0)),
        ),
        (
            "relative volume",
            "compute.volume_path",
            job_with(|b| b["compute"]["volume_path"] = json!("data")),
        ),
        (
            "unknown field",
            "surprise",
            job_with(|b| b["surprise"] = json!(1)),
        ),
        (
            "unknown compute field",
            "compute.turbo",
            job_with(|b| b["compute"]["turbo"] = json!(true)),
        ),
        (
            "wrong type",
            "command",
            job_with(|b| b["command"] = json!("sh -c")),
        ),
        (
            "bad endpoint",
            "endpoints[0]",
            job_with(|b| b["endpoints"] = json!(["http"])),
        ),
        (
            "port out of range",
            "endpoints[1]",
            job_with(|b| b["endpoints"] = json!(["8080", "70000"])),
        ),
        (
            "platform variable",
            "parameters.CONTAXY_API_TOKEN",
            job_with(|b| b["parameters"] = json!({"CONTAXY_API_TOKEN": "x"})),
        ),
        (
            "bad variable name",
            "parameters.1X",
            job_with(|b| b["parameters"] = json!({"1X": "x"})),
        ),
        (
            "service-only field",
            "idle_timeout",
            job_with(|b| b["idle_timeout"] = json!(60)),
        ),
    ];
    for (case, field, body) in &cases {
        let answer = stack
            .call(
                Method::POST,
                &format!("/projects/{PROJECT}/jobs"),
                Some(body),
            )
            .await;
        assert_names_field(&answer, field, case);
    }
    let service = |change: &dyn Fn(&mut Value)| {
        let mut body = json!({"container_image": IMAGE, "display_name": "web"});
        change(&mut body);
        body
    };
    for (case, field, body) in [
        ("short service name", "display_name", service(&|_| {})),
        (
            "service volume",
            "compute.volume_path",
            service(&|b| {
                b["display_name"] = json!("web service");
                b["compute"] = json!({"volume_path": "/"});
            }),
        ),
    ] {
        let answer = stack
            .call(
                Method::POST,
                &format!("/projects/{PROJECT}/services"),
                Some(&body),
            )
            .await;
        assert_names_field(&answer, field, case);
    }

    // Not JSON numbers: NaN and infinity are refused where they stand.
    let nan = r#"{"container_image": "contaxy/busybox:test", "display_name": "valid name", "compute": {"min_cpus": NaN}}"#;
    assert_names_field(
        &post_raw(&stack, "jobs", nan.to_owned()).await,
        "compute.min_cpus",
        "NaN",
    );
    let inf = r#"{"container_image": "contaxy/busybox:test", "display_name": "valid name", "compute": {"max_cpus": 1e999}}"#;
    assert_names_field(
        &post_raw(&stack, "jobs", inf.to_owned()).await,
        "compute.max_cpus",
        "infinity",
    );

    let huge = job_with(|b| b["parameters"] = json!({"BIG": "x".repeat(2 * 1024 * 1024)}));
    let answer = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs"),
            Some(&huge),
        )
        .await;
    assert_problem(&answer, 413);

    let custom = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs?action_id=custom"),
            Some(&job("valid name", "echo hi")),
        )
        .await;
    assert_problem(&custom, 400);

    let mut conn = stack.api.db.connect().await;
    for table in ["actions", "deployments"] {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(rows, 0, "{table} must stay empty");
    }
    assert_eq!(stack.work_queue_len().await, 0, "nothing enqueued");
}

#[tokio::test]
async fn unknown_deployments_and_actions_are_404() {
    let stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let missing = format!("{}-p-{PROJECT}-s-missing", stack.namespace());
    let p = format!("/projects/{PROJECT}");
    let patch = json!({"description": "x"});
    let requests: Vec<(Method, String, Option<&Value>)> = vec![
        (Method::GET, format!("{p}/services/{missing}"), None),
        (Method::GET, format!("{p}/jobs/{missing}"), None),
        (
            Method::PATCH,
            format!("{p}/services/{missing}"),
            Some(&patch),
        ),
        (Method::DELETE, format!("{p}/services/{missing}"), None),
        (
            Method::DELETE,
            format!("{p}/jobs/{missing}?delete_volumes=true"),
            None,
        ),
        (Method::GET, format!("{p}/services/{missing}/logs"), None),
        (Method::GET, format!("{p}/jobs/{missing}/logs"), None),
        (Method::GET, format!("{p}/services/{missing}/actions"), None),
        (
            Method::POST,
            format!("{p}/services/{missing}/actions/stop"),
            None,
        ),
        (
            Method::GET,
            format!("{p}/actions/{}", uuid::Uuid::new_v4()),
            None,
        ),
        (Method::GET, format!("{p}/actions/not-a-uuid"), None),
        (Method::GET, "/projects/nowhere/jobs".to_owned(), None),
    ];
    for (method, path, body) in requests {
        let answer = stack.call(method.clone(), &path, body).await;
        assert_eq!(answer.status, 404, "{method} {path}: {:?}", answer.body);
        assert_problem(&answer, 404);
    }
    let mut conn = stack.api.db.connect().await;
    let actions: i64 = sqlx::query_scalar("SELECT count(*) FROM actions")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(actions, 0);
    assert_eq!(stack.work_queue_len().await, 0);
}
