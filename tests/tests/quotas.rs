//! Per-tenant limits against the real API and worker: deployments and
//! running deployments per project, projects per user. Passing one is a
//! 409 naming the limit; a deployment another system publishes into a full
//! project fails with the same reason, and nothing runs.

use contaxy_common::store::quotas::Quotas;
use contaxy_tests::api::{Answer, assert_problem};
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{IDLE, str_of};
use reqwest::Method;
use serde_json::json;

fn limits(deployments: u32, running: u32, projects: u32) -> StackOptions {
    StackOptions {
        quotas: Some(Quotas {
            max_deployments_per_project: deployments,
            max_running_per_project: running,
            max_projects_per_user: projects,
        }),
        ..StackOptions::default()
    }
}

async fn post_job(stack: &Stack, name: &str, script: &str) -> Answer {
    stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs"),
            Some(&job(name, script)),
        )
        .await
}

#[track_caller]
fn assert_limit(answer: &Answer, limit: &str, max: u32) {
    assert_eq!(answer.status, 409, "{:?}", answer.body);
    assert_problem(answer, 409);
    assert_eq!(answer.body["details"]["limit"], limit, "{:?}", answer.body);
    assert_eq!(answer.body["details"]["max"], max, "{:?}", answer.body);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(limit), "{message}");
}

#[tokio::test]
async fn a_project_gets_no_more_deployments_than_its_limit() {
    let stack = Stack::start_with(StackOptions {
        workers: 0,
        ..limits(2, 0, 0)
    })
    .await;
    for name in ["first job", "second job"] {
        assert_eq!(post_job(&stack, name, "true").await.status, 202);
    }
    let third = post_job(&stack, "third job", "true").await;
    assert_limit(&third, "max_deployments_per_project", 2);
    let listed = stack
        .call(Method::GET, &format!("/projects/{PROJECT}/jobs"), None)
        .await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(2),
        "nothing written"
    );
}

#[tokio::test]
async fn a_project_runs_no_more_deployments_than_its_limit_and_a_stop_makes_room() {
    let stack = Stack::start_with(limits(0, 1, 0)).await;
    let service = stack.submit("services", &job("idle service", IDLE)).await;
    let id = str_of(&service, "id").to_owned();
    stack.wait_status("services", &id, "running").await;

    let refused = post_job(&stack, "one too many", "true").await;
    assert_limit(&refused, "max_running_per_project", 1);

    let stop = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/services/{id}/actions/stop"),
            None,
        )
        .await;
    assert_eq!(stop.status, 202, "{:?}", stop.body);
    stack.wait_status("services", &id, "stopped").await;
    let accepted = post_job(&stack, "room again", "true").await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
}

async fn service_action(stack: &Stack, id: &str, verb: &str) -> Answer {
    stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/services/{id}/actions/{verb}"),
            None,
        )
        .await
}

#[tokio::test]
async fn starting_a_stopped_service_needs_room_too_from_the_api_or_the_broker() {
    let stack = Stack::start_with(limits(0, 1, 0)).await;
    let first = stack.submit("services", &job("first service", IDLE)).await;
    let first = str_of(&first, "id").to_owned();
    stack.wait_status("services", &first, "running").await;
    assert_eq!(service_action(&stack, &first, "stop").await.status, 202);
    stack.wait_status("services", &first, "stopped").await;
    let second = stack.submit("services", &job("second service", IDLE)).await;
    let second = str_of(&second, "id").to_owned();
    stack.wait_status("services", &second, "running").await;

    for verb in ["start", "restart"] {
        let refused = service_action(&stack, &first, verb).await;
        assert_limit(&refused, "max_running_per_project", 1);
    }
    // Another system asking the same through the broker is refused alike.
    let action_id = uuid::Uuid::new_v4();
    let message = json!({
        "schema_version": 1,
        "action_id": action_id,
        "kind": "deployment.start",
        "project_id": PROJECT,
        "resource_id": first,
        "requested_by": "other-system",
    });
    stack
        .broker
        .publish_action(
            "deployment.start",
            &serde_json::to_vec(&message).expect("json"),
        )
        .await;
    let failed = stack.wait_action(&action_id.to_string(), "failed").await;
    assert_eq!(failed["attempts"], 0, "refused when accepted: {failed}");
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("max_running_per_project"), "{failed}");
    assert_eq!(
        stack.deployment("services", &first).await.body["status"],
        "stopped"
    );
    // A running service's restart takes no new place.
    assert_eq!(service_action(&stack, &second, "restart").await.status, 202);

    // Stopped once the stop ran (the restart stops the container on its
    // way, so the status alone says nothing yet).
    let stop = service_action(&stack, &second, "stop").await;
    assert_eq!(stop.status, 202, "{:?}", stop.body);
    stack
        .wait_action(str_of(&stop.body, "action_id"), "succeeded")
        .await;
    let started = service_action(&stack, &first, "start").await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    stack.wait_status("services", &first, "running").await;
}

#[tokio::test]
async fn a_deployment_published_into_a_full_project_fails_naming_the_limit() {
    let stack = Stack::start_with(limits(1, 0, 0)).await;
    assert_eq!(post_job(&stack, "the only job", "true").await.status, 202);
    let action_id = uuid::Uuid::new_v4();
    let deployment_id = format!("{}-p-{PROJECT}-j-from-elsewhere", stack.namespace());
    let message = json!({
        "schema_version": 1,
        "action_id": action_id,
        "kind": "deployment.deploy",
        "project_id": PROJECT,
        "resource_id": deployment_id,
        "payload": {"deployment_type": "job", "input": job("from elsewhere", "true")},
        "requested_by": "other-system",
    });
    stack
        .broker
        .publish_action(
            "deployment.deploy",
            &serde_json::to_vec(&message).expect("json"),
        )
        .await;
    let failed = stack.wait_action(&action_id.to_string(), "failed").await;
    assert_eq!(failed["attempts"], 0, "refused when accepted: {failed}");
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("max_deployments_per_project"), "{failed}");
    assert_eq!(
        stack.deployment("jobs", &deployment_id).await.status,
        404,
        "not recorded"
    );
}

#[tokio::test]
async fn a_user_creates_no_more_projects_than_the_limit() {
    let stack = Stack::start_with(StackOptions {
        workers: 0,
        ..limits(0, 0, 2)
    })
    .await;
    let (bob, _) = stack
        .api
        .create_token("users/bob", &["projects#write"], None)
        .await;
    let create = |id: &'static str| {
        let body = json!({"id": id, "display_name": format!("Project {id}")});
        let api = &stack.api;
        let bob = bob.clone();
        async move {
            api.call(Method::POST, "/projects", Some(&bob), Some(&body))
                .await
        }
    };
    for id in ["bob-one", "bob-two"] {
        let answer = create(id).await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
    let third = create("bob-three").await;
    assert_limit(&third, "max_projects_per_user", 2);
    let answer = stack.call(Method::GET, "/projects/bob-three", None).await;
    assert_eq!(answer.status, 404, "{:?}", answer.body);
    // The system administrator is not limited: the stack's project and
    // this one make two, and a third is fine.
    stack.api.create_project("admin-two").await;
    stack.api.create_project("admin-three").await;
}
