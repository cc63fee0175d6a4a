//! Deployments on Docker, end to end: the API records and publishes, a
//! worker runs the container, its status comes back from Docker's events.
//! Jobs that succeed and fail, and a service through its whole life.

use contaxy_tests::stack::{PROJECT, Stack, job};
use contaxy_tests::{DEADLINE, IDLE, IMAGE, eventually, str_of};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_job_runs_to_succeeded_and_its_logs_hold_its_output() {
    let stack = Stack::start().await;
    let accepted = stack
        .submit(
            "jobs",
            &job("hello job", "echo hello from contaxy; echo and stderr >&2"),
        )
        .await;
    assert_eq!(accepted["status"], "pending", "{accepted}");
    assert_eq!(accepted["action_status"], "queued", "{accepted}");
    let id = str_of(&accepted, "id");
    assert!(id.starts_with(&format!("{}-p-{PROJECT}--j-hello-job-", stack.namespace())));

    let action = stack
        .wait_action(str_of(&accepted, "action_id"), "succeeded")
        .await;
    assert_eq!(action["attempts"], 1, "{action}");
    assert_eq!(action["kind"], "deployment.deploy", "{action}");
    assert_eq!(action["resource_id"], id, "{action}");

    let done = stack.wait_status("jobs", id, "succeeded").await;
    assert_eq!(done["exit_code"], 0, "{done}");
    assert_eq!(done["is_stopped"], true, "{done}");
    assert!(done["started_at"].is_string(), "{done}");
    assert!(done["stopped_at"].is_string(), "{done}");

    let (status, text) = stack.logs("jobs", id, "").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("hello from contaxy"), "{text:?}");
    assert!(text.contains("and stderr"), "{text:?}");
    let (status, tail) = stack.logs("jobs", id, "lines=1").await;
    assert_eq!(status, 200, "{tail}");
    assert_eq!(tail.lines().count(), 1, "{tail:?}");

    let listed = stack
        .call(Method::GET, &format!("/projects/{PROJECT}/jobs"), None)
        .await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{:?}",
        listed.body
    );
    assert_eq!(stack.containers(Some(id)).await.len(), 1);
}

#[tokio::test]
async fn a_failing_job_ends_failed_with_its_exit_code() {
    let stack = Stack::start().await;
    let accepted = stack.submit("jobs", &job("failing job", "exit 3")).await;
    let id = str_of(&accepted, "id");
    // The deploy action did its work (the container ran); the job failed.
    let action = stack
        .wait_action(str_of(&accepted, "action_id"), "succeeded")
        .await;
    assert_eq!(action["attempts"], 1, "{action}");
    let failed = stack.wait_status("jobs", id, "failed").await;
    assert_eq!(failed["exit_code"], 3, "{failed}");
    assert_eq!(failed["is_stopped"], true, "{failed}");
}

/// Posts a service action (`start`, `stop`, `restart`) and waits until it
/// has succeeded.
async fn service_action(stack: &Stack, id: &str, action: &str) {
    let answer = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/services/{id}/actions/{action}"),
            None,
        )
        .await;
    assert_eq!(answer.status, 202, "{action}: {:?}", answer.body);
    let done = stack
        .wait_action(str_of(&answer.body, "action_id"), "succeeded")
        .await;
    assert_eq!(done["attempts"], 1, "{done}");
}

async fn offered(stack: &Stack, id: &str) -> Vec<String> {
    let answer = stack
        .call(
            Method::GET,
            &format!("/projects/{PROJECT}/services/{id}/actions"),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| str_of(a, "action_id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_service_runs_stops_starts_restarts_and_is_deleted_with_its_volume() {
    let stack = Stack::start().await;
    let body = json!({
        "container_image": IMAGE,
        "display_name": "idle service",
        "command": ["/bin/sh", "-c"],
        "args": [IDLE],
        "compute": {"min_cpus": 0.1, "min_memory": 16, "max_memory": 64, "volume_path": "/data"},
    });
    let accepted = stack.submit("services", &body).await;
    let id = str_of(&accepted, "id").to_owned();
    let id = id.as_str();
    stack
        .wait_action(str_of(&accepted, "action_id"), "succeeded")
        .await;
    let running = stack.wait_status("services", id, "running").await;
    assert_eq!(stack.containers(Some(id)).await.len(), 1);
    assert_eq!(
        stack.volumes(id).await.len(),
        1,
        "the service has its volume"
    );
    assert_eq!(offered(&stack, id).await, ["stop", "restart"]);

    // Stopped on request, the service is `stopped` (worker/src/runtime/README.md).
    service_action(&stack, id, "stop").await;
    let stopped = stack.wait_status("services", id, "stopped").await;
    assert_eq!(stopped["is_stopped"], true, "{stopped}");
    assert_eq!(offered(&stack, id).await, ["start"]);

    service_action(&stack, id, "start").await;
    let started = stack.wait_status("services", id, "running").await;
    assert_ne!(started["started_at"], running["started_at"], "{started}");

    // A restart is a stop and a start: running again, since a later time.
    service_action(&stack, id, "restart").await;
    let before = started["started_at"].clone();
    let restarted = stack
        .wait_deployment("services", id, "to run again after the restart", |d| {
            d["status"] == "running" && d["started_at"] != before
        })
        .await;
    assert_eq!(restarted["exit_code"], Value::Null, "{restarted}");
    assert_eq!(
        stack.containers(Some(id)).await.len(),
        1,
        "one container still"
    );

    stack.delete("services", id, "delete_volumes=true").await;
    assert!(
        stack.containers(Some(id)).await.is_empty(),
        "container left"
    );
    assert!(stack.volumes(id).await.is_empty(), "volume left");
    assert_eq!(stack.deployment("services", id).await.status, 404);
}

#[tokio::test]
async fn a_deployment_has_a_token_of_its_own_that_reads_only_itself_and_dies_with_it() {
    let stack = Stack::start().await;
    let other = stack.submit("jobs", &job("other job", "true")).await;
    let accepted = stack
        .submit(
            "services",
            &job(
                "token service",
                &format!("echo \"token=$CONTAXY_API_TOKEN\"; {IDLE}"),
            ),
        )
        .await;
    let id = str_of(&accepted, "id");
    stack.wait_status("services", id, "running").await;
    let token = stack.printed_token("services", id).await;
    assert!(token.len() >= 32, "a short token: {token:?}");

    // Stored as its SHA-256 only, with the deployment's own scope.
    let mut db = stack.api.db.connect().await;
    let (hash_matches, scopes, subject): (bool, Vec<String>, String) = sqlx::query_as(
        "SELECT token_hash = sha256(convert_to($2, 'UTF8')), scopes, subject
         FROM api_tokens WHERE deployment_id = $1",
    )
    .bind(id)
    .bind(&token)
    .fetch_one(&mut db)
    .await
    .expect("the deployment's token row");
    assert!(hash_matches, "the stored hash is not the token's SHA-256");
    assert_eq!(
        scopes,
        vec![format!("projects/{PROJECT}/services/{id}#read")]
    );
    assert_eq!(subject, format!("projects/{PROJECT}"));

    // It reads its own deployment...
    let own_path = format!("/projects/{PROJECT}/services/{id}");
    let own = stack.api.get(&own_path, &token).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(own.body["id"], id);
    // (logs need `write`, like everywhere)
    let logs = stack.api.get(&format!("{own_path}/logs"), &token).await;
    assert_eq!(logs.status, 403, "{:?}", logs.body);
    // ...and nothing else of the project, without learning what exists.
    for path in [
        format!("/projects/{PROJECT}/jobs/{}", str_of(&other, "id")),
        format!("/projects/{PROJECT}/services"),
        format!("/projects/{PROJECT}"),
        format!("/projects/{PROJECT}/jobs"),
    ] {
        let answer = stack.api.get(&path, &token).await;
        assert_eq!(answer.status, 404, "{path}: {:?}", answer.body);
    }
    // Read only: it cannot stop or delete itself.
    for (method, path) in [
        (Method::POST, format!("{own_path}/actions/stop")),
        (Method::DELETE, own_path.clone()),
    ] {
        let refused = stack.api.call(method, &path, Some(&token), None).await;
        assert_eq!(refused.status, 403, "{path}: {:?}", refused.body);
    }

    // Deleting the deployment revokes it.
    stack.delete("services", id, "").await;
    let gone = stack.api.get(&own_path, &token).await;
    assert_eq!(gone.status, 401, "{:?}", gone.body);
}

#[tokio::test]
async fn a_finished_jobs_token_is_revoked() {
    let stack = Stack::start().await;
    let accepted = stack
        .submit(
            "jobs",
            &job("token job", "echo \"token=$CONTAXY_API_TOKEN\""),
        )
        .await;
    let id = str_of(&accepted, "id");
    stack.wait_status("jobs", id, "succeeded").await;
    let token = stack.printed_token("jobs", id).await;
    let path = format!("/projects/{PROJECT}/jobs/{id}");
    let answer = eventually(DEADLINE, "the job's token to be revoked", || async {
        let answer = stack.api.get(&path, &token).await;
        (answer.status != 200).then_some(answer)
    })
    .await;
    assert_eq!(answer.status, 401, "{:?}", answer.body);
    assert_eq!(answer.body["message"], "The API token was revoked.");
}

/// A service that is a plain `sh -c 'sleep 3600'`: as PID 1 the shell would
/// ignore SIGTERM and be killed after the stop timeout (137). With Docker's
/// init as PID 1 the stop's SIGTERM reaches the shell (exit 143), and a
/// stop asked for ends `stopped`, never `failed`.
#[tokio::test]
async fn a_service_stopped_on_request_ends_stopped_and_gets_the_sigterm() {
    let stack = Stack::start().await;
    let accepted = stack
        .submit("services", &job("plain sleeper", "sleep 3600"))
        .await;
    let id = str_of(&accepted, "id").to_owned();
    let id = id.as_str();
    stack.wait_status("services", id, "running").await;
    let docker = contaxy_tests::docker::client();
    let inspected = docker.inspect_container(id, None).await.expect("inspect");
    let host = inspected.host_config.expect("host config");
    assert_eq!(host.init, Some(true), "Docker's init is PID 1");

    service_action(&stack, id, "stop").await;
    let state = docker
        .inspect_container(id, None)
        .await
        .expect("inspect")
        .state
        .expect("state");
    assert_eq!(state.running, Some(false), "{state:?}");
    assert_eq!(state.exit_code, Some(143), "ended by SIGTERM: {state:?}");

    // Engine events are followed in order: once a later job's exit is
    // recorded, the stopped service's exit has been read too.
    let marker = stack.submit("jobs", &job("marker", "true")).await;
    stack
        .wait_status("jobs", str_of(&marker, "id"), "succeeded")
        .await;
    let stopped = stack.deployment("services", id).await.body;
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert_eq!(stopped["is_stopped"], true, "{stopped}");
    assert_eq!(stopped["status_detail"], "stopped on request", "{stopped}");
}
