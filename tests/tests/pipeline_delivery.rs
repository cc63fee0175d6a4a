//! Delivery on the action pipeline against the real broker: duplicates are
//! no-ops, an action accepted while RabbitMQ is away is published later by
//! the relay, malformed messages are dead-lettered at once, and two workers
//! on one queue run every action once.

use contaxy_common::domain::action::ActionFamily;
use contaxy_scheduler::SchedulerSettings;
use contaxy_tests::broker::header;
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, IDLE, closed_port_addr, eventually, get_json, str_of};
use contaxy_worker::WorkerSettings;
use serde_json::json;
use uuid::Uuid;

/// A `contaxy_worker_actions_total` counter from a worker's `/metrics`.
async fn handled(stack: &Stack, outcome: &str) -> u64 {
    let url = stack.workers[0].url("/metrics");
    let text = reqwest::get(&url)
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let wanted = format!("outcome=\"{outcome}\"");
    text.lines()
        .filter(|l| l.starts_with("contaxy_worker_actions_total") && l.contains(&wanted))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[tokio::test]
async fn a_duplicate_delivery_makes_one_container_and_one_attempt() {
    let stack = Stack::start().await;
    let action_id = Uuid::new_v4();
    let deployment_id = format!("{}-p-{PROJECT}--j-from-elsewhere", stack.namespace());
    // What another system publishes: a self-contained deploy, no row yet.
    let message = json!({
        "schema_version": 1,
        "action_id": action_id,
        "kind": "deployment.deploy",
        "project_id": PROJECT,
        "resource_id": deployment_id,
        "payload": {"deployment_type": "job", "input": job("from elsewhere", "echo once")},
        "requested_by": "other-system",
    });
    let body = serde_json::to_vec(&message).expect("json");
    stack
        .broker
        .publish_action("deployment.deploy", &body)
        .await;
    stack
        .broker
        .publish_action("deployment.deploy", &body)
        .await;

    let action = stack.wait_action(&action_id.to_string(), "succeeded").await;
    assert_eq!(action["origin"], "broker", "{action}");
    eventually(DEADLINE, "the second delivery to be handled", || async {
        (handled(&stack, "duplicate").await >= 1).then_some(())
    })
    .await;
    assert_eq!(stack.action(&action_id.to_string()).await["attempts"], 1);
    let done = stack.wait_status("jobs", &deployment_id, "succeeded").await;
    assert_eq!(done["created_by"], "other-system", "{done}");
    assert_eq!(stack.containers(None).await.len(), 1, "one container");
    assert_eq!(stack.work_queue_len().await, 0);
    assert!(stack.broker.drain_dead().await.is_empty());
}

#[tokio::test]
async fn a_deploy_that_adopts_a_running_container_leaves_it_a_working_token() {
    let stack = Stack::start().await;
    let accepted = stack
        .submit(
            "services",
            &job(
                "token service",
                &format!("echo \"token=$CONTAXY_API_TOKEN\"; {IDLE}"),
            ),
        )
        .await;
    let id = str_of(&accepted, "id").to_owned();
    stack.wait_status("services", &id, "running").await;
    let token = stack.printed_token("services", &id).await;
    let path = format!("/projects/{PROJECT}/services/{id}");
    assert_eq!(stack.api.get(&path, &token).await.status, 200);

    // A second deploy of the same deployment, as a redelivery after a crash
    // or another system would send it: the container is adopted, not made
    // anew, so the token it holds must still work.
    let action_id = Uuid::new_v4();
    let message = json!({
        "schema_version": 1,
        "action_id": action_id,
        "kind": "deployment.deploy",
        "project_id": PROJECT,
        "resource_id": id,
        "payload": {"deployment_type": "service", "input": job("token service", "true")},
    });
    let body = serde_json::to_vec(&message).expect("json");
    stack
        .broker
        .publish_action("deployment.deploy", &body)
        .await;
    stack.wait_action(&action_id.to_string(), "succeeded").await;
    assert_eq!(stack.containers(Some(&id)).await.len(), 1, "one container");
    let answer = stack.api.get(&path, &token).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

/// When the broker confirmed the action, as recorded.
async fn published_at(stack: &Stack, action_id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut conn = stack.api.db.connect().await;
    sqlx::query_scalar("SELECT published_at FROM actions WHERE id = $1::uuid")
        .bind(action_id)
        .fetch_one(&mut conn)
        .await
        .expect("the action row")
}

#[tokio::test]
async fn an_action_accepted_while_rabbitmq_is_away_is_relayed_and_run() {
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        api_amqp_url: Some(format!("amqp://guest:guest@{}/%2f", closed_port_addr())),
        ..StackOptions::default()
    })
    .await;
    let accepted = stack
        .submit("jobs", &job("relayed job", "echo relayed"))
        .await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    let id = str_of(&accepted, "id").to_owned();
    assert_eq!(
        published_at(&stack, &action_id).await,
        None,
        "nothing could confirm it"
    );
    assert_eq!(stack.action(&action_id).await["status"], "queued");

    // The relay (real broker) publishes it; no worker consumes yet.
    stack
        .add_scheduler(SchedulerSettings {
            relay_interval_ms: 200,
            relay_min_age_ms: 100,
            ..SchedulerSettings::default()
        })
        .await;
    eventually(DEADLINE, "the relay to publish the action", || async {
        published_at(&stack, &action_id).await.map(drop)
    })
    .await;
    assert_eq!(stack.work_queue_len().await, 1);

    stack.add_worker(WorkerSettings::default()).await;
    let action = stack.wait_action(&action_id, "succeeded").await;
    assert_eq!(action["attempts"], 1, "{action}");
    stack.wait_status("jobs", &id, "succeeded").await;
    let (status, logs) = stack.logs("jobs", &id, "").await;
    assert_eq!(status, 503, "the API has no broker to ask a worker: {logs}");
}

#[tokio::test]
async fn malformed_messages_are_dead_lettered_at_once_and_the_worker_goes_on() {
    let stack = Stack::start().await;
    let garbage = b"{not json at all".to_vec();
    let wrong_schema =
        serde_json::to_vec(&json!({"hello": "world", "action_id": 7})).expect("json");
    stack
        .broker
        .publish_action("deployment.deploy", &garbage)
        .await;
    stack
        .broker
        .publish_action("deployment.stop", &wrong_schema)
        .await;

    let dead_queue = stack.topology().dead_queue();
    eventually(DEADLINE, "both messages in the dead queue", || async {
        (stack.broker.queue_len(&dead_queue).await? == 2).then_some(())
    })
    .await;
    let mut dead = stack.broker.drain_dead().await;
    dead.sort_by_key(|m| m.delivery.data.len());
    let bodies: Vec<&[u8]> = dead.iter().map(|m| m.delivery.data.as_slice()).collect();
    assert_eq!(bodies, [garbage.as_slice(), wrong_schema.as_slice()]);
    for (message, routing_key) in dead.iter().zip(["deployment.deploy", "deployment.stop"]) {
        let reason = header(message, "x-contaxy-reason").unwrap_or_default();
        assert!(reason.contains("not a valid action message"), "{reason}");
        assert_eq!(
            header(message, "x-contaxy-error-class").as_deref(),
            Some("malformed")
        );
        assert_eq!(
            header(message, "x-contaxy-original-routing-key").as_deref(),
            Some(routing_key)
        );
    }
    assert_eq!(stack.work_queue_len().await, 0, "nothing requeued");

    // The worker is still consuming.
    let accepted = stack
        .submit("jobs", &job("after garbage", "echo fine"))
        .await;
    stack
        .wait_action(str_of(&accepted, "action_id"), "succeeded")
        .await;
    stack
        .wait_status("jobs", str_of(&accepted, "id"), "succeeded")
        .await;
    let ready = get_json(&stack.workers[0].url("/readyz")).await;
    assert!(matches!(ready, Some((200, _))), "{ready:?}");
}

#[tokio::test]
async fn two_workers_on_one_queue_run_every_action_once() {
    let stack = Stack::start_with(StackOptions {
        workers: 2,
        worker: WorkerSettings {
            worker_concurrency: 3,
            ..WorkerSettings::default()
        },
        ..StackOptions::default()
    })
    .await;
    let mut submitted = Vec::new();
    for i in 0..10 {
        let accepted = stack
            .submit("jobs", &job(&format!("batch job {i}"), "echo batch"))
            .await;
        submitted.push((
            str_of(&accepted, "id").to_owned(),
            str_of(&accepted, "action_id").to_owned(),
        ));
    }
    for (id, action_id) in &submitted {
        let action = stack.wait_action(action_id, "succeeded").await;
        assert_eq!(action["attempts"], 1, "{action}");
        stack.wait_status("jobs", id, "succeeded").await;
        assert_eq!(stack.containers(Some(id)).await.len(), 1, "{id}");
    }
    assert_eq!(stack.containers(None).await.len(), 10);
    let queue = stack.topology().work_queue(ActionFamily::Deployment);
    assert_eq!(stack.broker.queue_len(&queue).await, Some(0));
    assert!(stack.broker.drain_dead().await.is_empty());
}
