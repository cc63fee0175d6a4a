//! Every message ends: a message PostgreSQL refuses is dead-lettered with a
//! readable reason instead of looping; no message is given back to the queue
//! without bound; an action whose workers keep dying fails after its
//! attempts; the configured concurrency bounds attempts across every family
//! queue; and a deployment that fails before it has a container is announced
//! on `events` like any other status change.

use contaxy_tests::broker::{TestBroker, header};
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, eventually, str_of};
use contaxy_worker::WorkerSettings;
use futures::StreamExt;
use lapin::message::BasicGetMessage;
use serde_json::{Value, json};
use uuid::Uuid;

/// A deploy as another system would publish it, with `requested_by` and
/// the job's display name as given.
fn deploy_body(stack: &Stack, slug: &str, requested_by: &str, display_name: &str) -> Vec<u8> {
    let message = json!({
        "schema_version": 1,
        "action_id": Uuid::new_v4(),
        "kind": "deployment.deploy",
        "project_id": PROJECT,
        "resource_id": format!("{}-p-{PROJECT}--j-{slug}", stack.namespace()),
        "payload": {"deployment_type": "job", "input": job(display_name, "echo never")},
        "requested_by": requested_by,
    });
    serde_json::to_vec(&message).expect("json")
}

/// Waits until the dead queue holds `count` messages and takes them.
async fn dead_letters(stack: &Stack, count: u32) -> Vec<BasicGetMessage> {
    let dead_queue = stack.topology().dead_queue();
    eventually(DEADLINE, "the messages in the dead queue", || async {
        (stack.broker.queue_len(&dead_queue).await? >= count).then_some(())
    })
    .await;
    stack.broker.drain_dead().await
}

fn action_id_of(message: &BasicGetMessage) -> String {
    let body: Value = serde_json::from_slice(&message.delivery.data).expect("json");
    str_of(&body, "action_id").to_owned()
}

#[tokio::test]
async fn a_message_postgresql_refuses_is_dead_lettered_with_a_readable_reason() {
    let stack = Stack::start().await;
    let in_requested_by = deploy_body(&stack, "nul-requester", "sys\u{0}tem", "fine");
    let in_payload = deploy_body(&stack, "nul-payload", "other-system", "bad\u{0}name");
    let broker: &TestBroker = &stack.broker;
    broker
        .publish_action("deployment.deploy", &in_requested_by)
        .await;
    broker
        .publish_action("deployment.deploy", &in_payload)
        .await;

    let dead = dead_letters(&stack, 2).await;
    assert_eq!(dead.len(), 2, "each once");
    for message in &dead {
        let reason = header(message, "x-contaxy-reason").unwrap_or_default();
        assert_eq!(
            reason, "a string holds a NUL character, which PostgreSQL cannot store",
            "a reason for people, not the database's text"
        );
        assert_eq!(
            header(message, "x-contaxy-error-class").as_deref(),
            Some("permanent")
        );
        assert!(
            stack.try_action(&action_id_of(message)).await.is_none(),
            "nothing recorded"
        );
    }
    assert_eq!(stack.work_queue_len().await, 0, "nothing requeued");

    // The worker goes on with the next message.
    let accepted = stack
        .submit("jobs", &job("after poison", "echo fine"))
        .await;
    stack
        .wait_action(str_of(&accepted, "action_id"), "succeeded")
        .await;
}

#[tokio::test]
async fn a_message_that_keeps_failing_to_record_is_redelivered_a_bounded_number_of_times() {
    let stack = Stack::start_with(StackOptions {
        worker: WorkerSettings {
            worker_max_redeliveries: 2,
            ..WorkerSettings::default()
        },
        ..StackOptions::default()
    })
    .await;
    // An error that is neither the database away nor the data's fault (a
    // trigger raising one), for messages from one sender only.
    let mut conn = stack.api.db.connect().await;
    for statement in [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'not today' USING ERRCODE = '55000'; END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON actions FOR EACH ROW
         WHEN (NEW.requested_by = 'poison') EXECUTE FUNCTION refuse_poison()",
    ] {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("the trigger");
    }
    let body = deploy_body(&stack, "looping", "poison", "looping");
    stack
        .broker
        .publish_action("deployment.deploy", &body)
        .await;

    let dead = dead_letters(&stack, 1).await;
    assert_eq!(dead.len(), 1);
    let reason = header(&dead[0], "x-contaxy-reason").unwrap_or_default();
    assert_eq!(
        reason,
        "given up after 3 deliveries: the action could not be recorded (SQLSTATE 55000)"
    );
    assert_eq!(
        header(&dead[0], "x-contaxy-redeliveries").as_deref(),
        Some("LongLongInt(2)")
    );
    assert_eq!(stack.work_queue_len().await, 0, "not looping");
    assert!(stack.try_action(&action_id_of(&dead[0])).await.is_none());
}

#[tokio::test]
async fn an_action_whose_workers_keep_dying_fails_after_its_attempts() {
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let accepted = stack
        .submit("jobs", &job("worker killer", "echo never"))
        .await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    let id = str_of(&accepted, "id").to_owned();
    // As two workers left it, each killed while running it: claimed twice,
    // the last lease run out, the message back in the queue.
    let mut conn = stack.api.db.connect().await;
    sqlx::query(
        "UPDATE actions SET status = 'running', attempts = 2,
                lease_expires_at = now() - interval '1 second'
         WHERE id = $1::uuid",
    )
    .bind(&action_id)
    .execute(&mut conn)
    .await
    .expect("the row as dead workers left it");

    stack
        .add_worker(WorkerSettings {
            worker_max_attempts: 2,
            ..WorkerSettings::default()
        })
        .await;
    let action = stack.wait_action(&action_id, "failed").await;
    assert_eq!(action["attempts"], 2, "not claimed again: {action}");
    assert_eq!(action["error_class"], "transient", "{action}");
    let error = str_of(&action, "last_error");
    assert!(error.starts_with("gave up after 2 attempts"), "{error}");

    let dead = dead_letters(&stack, 1).await;
    assert_eq!(action_id_of(&dead[0]), action_id);
    assert_eq!(
        header(&dead[0], "x-contaxy-error-class").as_deref(),
        Some("transient")
    );
    assert!(stack.containers(Some(&id)).await.is_empty(), "never run");
    assert_eq!(stack.work_queue_len().await, 0);
}

/// The most attempts that ran at once, from the actions' recorded start and
/// end (each ran one attempt).
async fn most_at_once(stack: &Stack) -> usize {
    let mut conn = stack.api.db.connect().await;
    let spans: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT started_at, finished_at FROM actions WHERE attempts = 1")
            .fetch_all(&mut conn)
            .await
            .expect("the actions");
    let mut edges: Vec<(chrono::DateTime<chrono::Utc>, i32)> = spans
        .iter()
        .flat_map(|(start, end)| [(*start, 1), (*end, -1)])
        .collect();
    // An end before a start at the same instant: touching is not overlapping.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or_default()
}

#[tokio::test]
async fn the_configured_concurrency_bounds_attempts_across_every_queue() {
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    // A backlog in two family queues before any worker consumes.
    let mut action_ids = Vec::new();
    for i in 0..3 {
        let accepted = stack
            .submit("jobs", &job(&format!("bounded {i}"), "echo bounded"))
            .await;
        action_ids.push(str_of(&accepted, "action_id").to_owned());
        let ensure = json!({
            "schema_version": 1, "action_id": Uuid::new_v4(), "kind": "network.ensure",
            "project_id": PROJECT,
        });
        stack
            .broker
            .publish_action(
                "network.ensure",
                &serde_json::to_vec(&ensure).expect("json"),
            )
            .await;
        action_ids.push(str_of(&ensure, "action_id").to_owned());
    }
    stack
        .add_worker(WorkerSettings {
            worker_concurrency: 1,
            ..WorkerSettings::default()
        })
        .await;
    for action_id in &action_ids {
        let action = stack.wait_action(action_id, "succeeded").await;
        assert_eq!(action["attempts"], 1, "{action}");
    }
    assert_eq!(most_at_once(&stack).await, 1, "one attempt at a time");
}

#[tokio::test]
async fn a_deployment_that_fails_before_it_has_a_container_is_announced() {
    let stack = Stack::start().await;
    let events_exchange = stack.topology().events_exchange();
    let mut events = stack
        .broker
        .subscribe(&events_exchange, &format!("deployment.{PROJECT}.#"))
        .await;
    let mut body = job("missing image", "echo never");
    body["container_image"] = "contaxy/does-not-exist:1".into();
    let accepted = stack.submit("jobs", &body).await;
    let id = str_of(&accepted, "id").to_owned();
    stack.wait_status("jobs", &id, "failed").await;

    let mut failed = Vec::new();
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Ok(Some(Ok(delivery))) = tokio::time::timeout_at(until, events.next()).await {
        let event: Value = serde_json::from_slice(&delivery.data).expect("a JSON event");
        if event["deployment_id"] == id.as_str() && event["status"] == "failed" {
            assert_eq!(
                delivery.routing_key.as_str(),
                format!("deployment.{PROJECT}.failed")
            );
            assert_eq!(event["project_id"], PROJECT, "{event}");
            failed.push(event);
            // Wait a little more for a duplicate, then stop.
            let more = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            while let Ok(Some(Ok(delivery))) = tokio::time::timeout_at(more, events.next()).await {
                let event: Value = serde_json::from_slice(&delivery.data).expect("json");
                if event["deployment_id"] == id.as_str() && event["status"] == "failed" {
                    failed.push(event);
                }
            }
            break;
        }
    }
    assert_eq!(failed.len(), 1, "published once: {failed:?}");
}

/// A malformed message that borrows the id of a recorded, well-formed
/// action is dead-lettered without touching that action.
#[tokio::test]
async fn a_malformed_message_borrowing_an_actions_id_leaves_that_action_alone() {
    use contaxy_common::domain::action::{Action, ActionOrigin, NetworkAction};
    use contaxy_common::store::actions::{self, NewAction};

    let stack = Stack::start().await;
    let pool = stack.api.db.migrated_pool(2).await;
    let recorded = NewAction::new(
        PROJECT,
        Action::Network(NetworkAction::Ensure),
        ActionOrigin::Api,
    );
    let mut conn = pool.acquire().await.expect("a connection");
    actions::record(&mut conn, &recorded)
        .await
        .expect("recorded");
    drop(conn);
    let borrowed = json!({
        "schema_version": 1,
        "action_id": recorded.id,
        "kind": "deployment.explode",
        "project_id": PROJECT,
    });
    stack
        .broker
        .publish_action(
            "deployment.explode",
            &serde_json::to_vec(&borrowed).expect("json"),
        )
        .await;
    let dead = dead_letters(&stack, 1).await;
    assert_eq!(action_id_of(&dead[0]), recorded.id.to_string());
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM actions WHERE id = $1")
            .bind(recorded.id)
            .fetch_one(&pool)
            .await
            .expect("the action row");
    assert_ne!(status, "failed", "{error:?}");
    assert!(
        !error.unwrap_or_default().contains("explode"),
        "the borrowed id's action is not blamed"
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_and_a_start_of_nothing_are_dead_lettered_with_their_reason() {
    let stack = Stack::start().await;
    let first = Uuid::new_v4();
    let second = Uuid::new_v4();
    for action_id in [first, second] {
        let message = json!({
            "schema_version": 1,
            "action_id": action_id,
            "kind": "deployment.deploy",
            "project_id": PROJECT,
            "resource_id": format!("{}-p-{PROJECT}--j-once", stack.namespace()),
            "payload": {"deployment_type": "job", "input": job("once", "echo once")},
            "idempotency_key": "export-2026-12-03",
        });
        let body = serde_json::to_vec(&message).expect("json");
        stack
            .broker
            .publish_action("deployment.deploy", &body)
            .await;
    }
    let start = Uuid::new_v4();
    let message = json!({
        "schema_version": 1,
        "action_id": start,
        "kind": "deployment.start",
        "project_id": PROJECT,
        "resource_id": format!("{}-p-{PROJECT}--s-nothing", stack.namespace()),
    });
    stack
        .broker
        .publish_action(
            "deployment.start",
            &serde_json::to_vec(&message).expect("json"),
        )
        .await;

    stack.wait_action(&first.to_string(), "succeeded").await;
    let dead = dead_letters(&stack, 2).await;
    assert_eq!(dead.len(), 2, "the duplicate and the start");
    let reason_of = |id: Uuid| {
        let message = dead
            .iter()
            .find(|m| action_id_of(m) == id.to_string())
            .unwrap_or_else(|| panic!("{id} is dead-lettered"));
        header(message, "x-contaxy-reason").unwrap_or_default()
    };
    assert_eq!(
        reason_of(second),
        format!("a duplicate: action {first} was accepted with the same idempotency key")
    );
    assert!(
        stack.try_action(&second.to_string()).await.is_none(),
        "the duplicate has no row of its own"
    );
    let reason = reason_of(start);
    assert!(
        reason.starts_with("project alpha has no deployment "),
        "{reason}"
    );
    let refused = stack.wait_action(&start.to_string(), "failed").await;
    assert_eq!(refused["last_error"], reason.as_str(), "{refused}");
}

#[tokio::test]
async fn the_rabbitmq_user_that_published_an_action_is_recorded_beside_its_claim() {
    let stack = Stack::start().await;
    let uri: lapin::uri::AMQPUri = contaxy_tests::broker::amqp_url()
        .parse()
        .expect("the test broker's URL");
    let user = uri.authority.userinfo.username;
    let body = deploy_body(&stack, "signed", "users/admin", "signed");
    let action_id = action_id_of_body(&body);
    stack
        .broker
        .publish_action_as("deployment.deploy", &body, Some(&user))
        .await;
    let unsigned = deploy_body(&stack, "unsigned", "users/admin", "unsigned");
    let unsigned_id = action_id_of_body(&unsigned);
    stack
        .broker
        .publish_action("deployment.deploy", &unsigned)
        .await;

    let action = stack.wait_action(&action_id, "succeeded").await;
    assert_eq!(action["broker_user"], user.as_str(), "{action}");
    assert_eq!(
        action["requested_by"], "users/admin",
        "what the producer claims"
    );
    let action = stack.wait_action(&unsigned_id, "succeeded").await;
    assert_eq!(action["broker_user"], Value::Null, "{action}");
}

fn action_id_of_body(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).expect("json");
    str_of(&value, "action_id").to_owned()
}
