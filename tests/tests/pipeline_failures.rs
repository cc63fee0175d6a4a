//! Failures on the action pipeline: a Docker Engine that goes away is waited
//! for (a retry through the delay queue), an image that does not exist is
//! given up at once and dead-lettered.

use contaxy_tests::broker::header;
use contaxy_tests::docker_proxy::DockerProxy;
use contaxy_tests::stack::{Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, eventually, get_json, str_of};
use contaxy_worker::WorkerSettings;
use serde_json::Value;

#[tokio::test]
async fn a_transient_docker_outage_is_retried_and_the_job_succeeds() {
    let proxy = DockerProxy::start().await;
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    // The worker negotiates the API version through the proxy at start, so
    // the engine goes away only once the worker is ready.
    let worker = stack
        .add_worker(WorkerSettings {
            docker_host: proxy.docker_host(),
            ..WorkerSettings::default()
        })
        .await;
    let readyz = worker.url("/readyz");
    proxy.switch_off().await;
    eventually(DEADLINE, "the worker to see Docker gone", || async {
        let (status, body) = get_json(&readyz).await?;
        (status == 503 && body["checks"]["docker"]["ok"] == false).then_some(())
    })
    .await;

    let accepted = stack
        .submit("jobs", &job("patient job", "echo made it"))
        .await;
    let action_id = str_of(&accepted, "action_id");
    let retrying = stack.wait_action(action_id, "retrying").await;
    assert_eq!(retrying["attempts"], 1, "{retrying}");
    assert_eq!(retrying["error_class"], "transient", "{retrying}");
    assert!(retrying["last_error"].is_string(), "{retrying}");

    proxy.switch_on().await;
    let action = stack.wait_action(action_id, "succeeded").await;
    assert_eq!(action["attempts"], 2, "{action}");
    let id = str_of(&accepted, "id");
    let done = stack.wait_status("jobs", id, "succeeded").await;
    assert_eq!(done["exit_code"], 0, "{done}");
    assert_eq!(stack.containers(Some(id)).await.len(), 1);
    assert!(stack.broker.drain_dead().await.is_empty());
}

#[tokio::test]
async fn a_permanent_error_fails_at_once_and_is_dead_lettered() {
    let stack = Stack::start().await;
    let mut body = job("missing image", "echo never");
    body["container_image"] = "contaxy/does-not-exist:1".into();
    let accepted = stack.submit("jobs", &body).await;
    let action_id = str_of(&accepted, "action_id");
    let id = str_of(&accepted, "id");

    let action = stack.wait_action(action_id, "failed").await;
    assert_eq!(action["attempts"], 1, "{action}");
    assert_eq!(action["error_class"], "permanent", "{action}");
    let error = str_of(&action, "last_error");
    assert!(error.contains("contaxy/does-not-exist:1"), "{error}");

    let failed = stack.wait_status("jobs", id, "failed").await;
    assert!(failed["status_detail"].is_string(), "{failed}");
    assert!(stack.containers(Some(id)).await.is_empty(), "nothing left");

    let dead_queue = stack.topology().dead_queue();
    eventually(DEADLINE, "the action in the dead queue", || async {
        (stack.broker.queue_len(&dead_queue).await? == 1).then_some(())
    })
    .await;
    let dead = stack.broker.drain_dead().await;
    let message = &dead[0];
    assert_eq!(
        header(message, "x-contaxy-error-class").as_deref(),
        Some("permanent")
    );
    assert_eq!(
        header(message, "x-contaxy-action-id").as_deref(),
        Some(action_id)
    );
    let reason = header(message, "x-contaxy-reason").unwrap_or_default();
    assert!(reason.contains("contaxy/does-not-exist:1"), "{reason}");
    let replayable: Value = serde_json::from_slice(&message.delivery.data).expect("json");
    assert_eq!(replayable["action_id"], action_id);
    assert_eq!(stack.work_queue_len().await, 0, "not retried");
}
