//! Bad input never enters the pipeline: every invalid deployment is refused
//! with 400 naming the field, unknown deployments are 404, and nothing is
//! written or enqueued.

use contaxy_tests::IMAGE;
use contaxy_tests::api::{Answer, assert_problem};
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use reqwest::Method;
use serde_json::{Value, json};

/// Merges `patch` into `base`: objects key by key, `null` removes a key.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(&key);
                } else {
                    merge(base.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

/// A valid job with `patch` merged into it.
fn job_with(patch: Value) -> Value {
    let mut body = job("valid name", "echo hi");
    merge(&mut body, patch);
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
    // One line a case: (what, the field named, the change to a valid job).
    #[rustfmt::skip]
    let cases = [
        ("short display name", "display_name", json!({"display_name": "ab"})),
        ("no display name", "display_name", json!({"display_name": null})),
        ("empty image", "container_image", json!({"container_image": ""})),
        ("bad image", "container_image", json!({"container_image": "Not An Image!"})),
        ("uppercase repository", "container_image", json!({"container_image": "Foo/Bar"})),
        ("double colon", "container_image", json!({"container_image": "a::b"})),
        ("loopback registry", "container_image", json!({"container_image": "localhost:5000/app"})),
        ("loopback address", "container_image", json!({"container_image": "127.0.0.1:5000/app:1"})),
        ("metadata service", "container_image", json!({"container_image": "169.254.169.254/app"})),
        ("no image", "container_image", json!({"container_image": null})),
        ("negative cpus", "compute.min_cpus", json!({"compute": {"min_cpus": -1}})),
        ("absurd cpus", "compute.max_cpus", json!({"compute": {"max_cpus": 1e9}})),
        ("negative memory", "compute.max_memory", json!({"compute": {"max_memory": -5}})),
        ("absurd memory", "compute.min_memory", json!({"compute": {"min_memory": 999_999_999_999_u64}})),
        ("fractional memory", "compute.max_memory", json!({"compute": {"max_memory": 64.5}})),
        ("no replicas", "compute.max_replicas", json!({"compute": {"max_replicas": 0}})),
        ("relative volume", "compute.volume_path", json!({"compute": {"volume_path": "data"}})),
        ("unknown field", "surprise", json!({"surprise": 1})),
        ("unknown compute field", "compute.turbo", json!({"compute": {"turbo": true}})),
        ("wrong type", "command", json!({"command": "sh -c"})),
        ("bad endpoint", "endpoints[0]", json!({"endpoints": ["http"]})),
        ("port out of range", "endpoints[1]", json!({"endpoints": ["8080", "70000"]})),
        ("platform variable", "parameters.CONTAXY_API_TOKEN", json!({"parameters": {"CONTAXY_API_TOKEN": "x"}})),
        ("bad variable name", "parameters.1X", json!({"parameters": {"1X": "x"}})),
        ("service-only field", "idle_timeout", json!({"idle_timeout": 60})),
    ];
    for (case, field, patch) in cases {
        let body = job_with(patch);
        let answer = stack
            .call(
                Method::POST,
                &format!("/projects/{PROJECT}/jobs"),
                Some(&body),
            )
            .await;
        assert_names_field(&answer, field, case);
    }
    #[rustfmt::skip]
    let service_cases = [
        ("short service name", "display_name", json!({"display_name": "web"})),
        ("root volume", "compute.volume_path", json!({"compute": {"volume_path": "/"}})),
        ("negative idle timeout", "idle_timeout", json!({"idle_timeout": -1})),
    ];
    for (case, field, patch) in service_cases {
        let mut body = json!({"container_image": IMAGE, "display_name": "web service"});
        merge(&mut body, patch);
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

    let huge = job_with(json!({"parameters": {"BIG": "x".repeat(2 * 1024 * 1024)}}));
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
    let missing = format!("{}-p-{PROJECT}--s-missing", stack.namespace());
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

/// An image on the host's own registry address is refused naming the rule,
/// from the API (400) and from another system's message (the action fails
/// permanently with the same reason; nothing is created).
#[tokio::test]
async fn images_from_the_hosts_own_addresses_are_refused_naming_the_rule() {
    let stack = Stack::start().await;
    let answer = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs"),
            Some(&job_with(json!({"container_image": "127.0.0.1:5000/app"}))),
        )
        .await;
    assert_names_field(&answer, "container_image", "loopback registry");
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("loopback, link-local"), "{message}");

    let action_id = uuid::Uuid::new_v4();
    let deployment_id = format!("{}-p-{PROJECT}-j-local-image", stack.namespace());
    let mut input = job_with(json!({"container_image": "169.254.169.254/latest:1"}));
    input["display_name"] = "local image".into();
    let published = json!({
        "schema_version": 1,
        "action_id": action_id,
        "kind": "deployment.deploy",
        "project_id": PROJECT,
        "resource_id": deployment_id,
        "payload": {"deployment_type": "job", "input": input},
        "requested_by": "other-system",
    });
    stack
        .broker
        .publish_action(
            "deployment.deploy",
            &serde_json::to_vec(&published).expect("json"),
        )
        .await;
    let failed = stack.wait_action(&action_id.to_string(), "failed").await;
    assert_eq!(failed["attempts"], 0, "refused when accepted: {failed}");
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("loopback, link-local"), "{failed}");
    assert!(stack.containers(None).await.is_empty(), "nothing ran");
}
