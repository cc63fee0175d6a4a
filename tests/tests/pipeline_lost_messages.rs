//! Every action that is not final comes back within a bounded time, even
//! when its message is gone: a publish no queue is bound for comes back
//! (mandatory) and the relay publishes it once the binding is back; a
//! `retrying` action whose delayed copy was lost and a `queued` one whose
//! published message vanished are published again by the relay, and run.

use contaxy_common::domain::action::ActionFamily;
use contaxy_scheduler::SchedulerSettings;
use contaxy_tests::broker::amqp_url;
use contaxy_tests::stack::{Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, eventually, str_of};
use contaxy_worker::WorkerSettings;
use lapin::options::{QueueBindOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

/// A relay that acts within a second on what is lost.
fn quick_relay() -> SchedulerSettings {
    SchedulerSettings {
        relay_interval_ms: 200,
        relay_min_age_ms: 100,
        relay_queued_lost_secs: 1,
        relay_retry_lost_secs: 1,
        ..SchedulerSettings::default()
    }
}

async fn channel() -> (Connection, Channel) {
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ is reachable");
    let channel = conn.create_channel().await.expect("a channel");
    (conn, channel)
}

/// Runs `sql` on the stack's database with the action id as `$1`.
async fn set(stack: &Stack, sql: &str, action_id: &str) {
    let mut conn = stack.api.db.connect().await;
    let done = sqlx::query(sql)
        .bind(action_id)
        .execute(&mut conn)
        .await
        .expect("update the action");
    assert_eq!(done.rows_affected(), 1);
}

async fn published(stack: &Stack, action_id: &str) -> bool {
    let mut conn = stack.api.db.connect().await;
    sqlx::query_scalar("SELECT published_at IS NOT NULL FROM actions WHERE id = $1::uuid")
        .bind(action_id)
        .fetch_one(&mut conn)
        .await
        .expect("the action row")
}

/// Submits a job with no worker running, then empties the work queue: the
/// action is recorded and its message is gone.
async fn job_whose_message_is_lost(stack: &Stack, name: &str) -> (String, String) {
    let accepted = stack.submit("jobs", &job(name, "echo done")).await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    // Confirmed and routed; the API notes the confirm in the background.
    eventually(DEADLINE, "the API to note the publish", || async {
        published(stack, &action_id).await.then_some(())
    })
    .await;
    let (_conn, channel) = channel().await;
    let purged = channel
        .queue_purge(
            stack.topology().work_queue(ActionFamily::Deployment).into(),
            QueuePurgeOptions::default(),
        )
        .await
        .expect("purge the work queue");
    assert_eq!(purged, 1, "the job's message was in the queue");
    (action_id, str_of(&accepted, "id").to_owned())
}

#[tokio::test]
async fn an_unroutable_publish_counts_as_unpublished_and_the_relay_publishes_it() {
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let queue = stack.topology().work_queue(ActionFamily::Deployment);
    let exchange = stack.topology().actions_exchange();
    let (_conn, channel) = channel().await;
    channel
        .queue_unbind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "deployment.#".into(),
            FieldTable::default(),
        )
        .await
        .expect("unbind the work queue");

    let accepted = stack.submit("jobs", &job("unroutable", "echo done")).await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    // The broker confirmed the publish, but returned it: not published.
    assert!(!published(&stack, &action_id).await);
    assert_eq!(stack.work_queue_len().await, 0);
    assert_eq!(stack.action(&action_id).await["status"], "queued");

    // The binding comes back; the relay publishes, a worker runs it.
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "deployment.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind the work queue again");
    stack.add_scheduler(quick_relay()).await;
    stack.add_worker(WorkerSettings::default()).await;
    let action = stack.wait_action(&action_id, "succeeded").await;
    assert_eq!(action["attempts"], 1, "{action}");
    assert!(published(&stack, &action_id).await);
    stack
        .wait_status("jobs", str_of(&accepted, "id"), "succeeded")
        .await;
}

#[tokio::test]
async fn a_retrying_action_whose_delayed_copy_was_lost_is_published_again() {
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (action_id, job_id) = job_whose_message_is_lost(&stack, "lost retry").await;
    // As a worker leaves it after a transient failure (attempt 1, retry due
    // 1 s later), long ago; the delayed copy is gone with the message.
    set(
        &stack,
        "UPDATE actions SET status = 'retrying', attempts = 1, last_error = 'a transient failure',
                error_class = 'transient', updated_at = now() - interval '1 hour'
         WHERE id = $1::uuid",
        &action_id,
    )
    .await;
    stack.add_scheduler(quick_relay()).await;
    stack.add_worker(WorkerSettings::default()).await;
    let action = stack.wait_action(&action_id, "succeeded").await;
    assert_eq!(action["attempts"], 2, "{action}");
    stack.wait_status("jobs", &job_id, "succeeded").await;
}

#[tokio::test]
async fn a_queued_action_whose_message_vanished_is_published_again() {
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let (action_id, job_id) = job_whose_message_is_lost(&stack, "lost queued").await;
    set(
        &stack,
        "UPDATE actions SET published_at = now() - interval '1 hour' WHERE id = $1::uuid",
        &action_id,
    )
    .await;
    stack.add_scheduler(quick_relay()).await;
    stack.add_worker(WorkerSettings::default()).await;
    let action = stack.wait_action(&action_id, "succeeded").await;
    assert_eq!(action["attempts"], 1, "{action}");
    stack.wait_status("jobs", &job_id, "succeeded").await;
}
