//! A worker stopped (SIGTERM: its shutdown token) while an attempt runs
//! drains before it lets go of RabbitMQ: an attempt that ends within the
//! drain deadline is settled and acknowledged as usual; one that does not is
//! handed back (claim released, delivery requeued, the attempt not counted)
//! and the next worker runs it at once, not after the lease runs out.

use std::time::{Duration, Instant};

use contaxy_tests::docker_proxy::DockerProxy;
use contaxy_tests::stack::{Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, Spawned, eventually, get_json, str_of};
use contaxy_worker::WorkerSettings;

/// A stack with no worker but one whose engine requests go through `proxy`.
async fn stack_with_proxied_worker(proxy: &DockerProxy, drain_secs: u64) -> Stack {
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    stack
        .add_worker(WorkerSettings {
            docker_host: proxy.docker_host(),
            worker_drain_timeout_secs: drain_secs,
            // Long, so that only a released claim explains a quick takeover.
            worker_lease_secs: 60,
            ..WorkerSettings::default()
        })
        .await;
    stack
}

/// Starts stopping `worker` (cancels its token) and returns the stop's
/// task, once its ops server has gone (the shutdown has begun).
async fn begin_stop(worker: Spawned) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let healthz = worker.url("/healthz");
    let stopping = tokio::spawn(worker.stop());
    eventually(DEADLINE, "the worker's ops server to stop", || async {
        get_json(&healthz).await.is_none().then_some(())
    })
    .await;
    stopping
}

#[tokio::test]
async fn an_attempt_that_ends_during_the_drain_is_settled_and_acknowledged() {
    let proxy = DockerProxy::start().await;
    let mut stack = stack_with_proxied_worker(&proxy, 30).await;
    let (reached, mut reached_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    proxy.before_next("POST /containers/create", move || async move {
        let _ = reached.send(()).await;
        let _ = released.await;
    });
    let accepted = stack
        .submit("jobs", &job("finishes while draining", "echo drained"))
        .await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    tokio::time::timeout(DEADLINE, reached_rx.recv())
        .await
        .expect("the attempt to reach the container create");

    let worker = stack.workers.pop().expect("one worker");
    let stopping = begin_stop(worker).await;
    release.send(()).expect("the held request waits");
    tokio::time::timeout(Duration::from_secs(20), stopping)
        .await
        .expect("the worker stops once its attempt ended")
        .expect("the stop task")
        .expect("the worker stops cleanly");

    let action = stack.action(&action_id).await;
    assert_eq!(action["status"], "succeeded", "{action}");
    assert_eq!(action["attempts"], 1, "{action}");
    // Acknowledged over the connection that was kept open: nothing went
    // back to the queue for a second run.
    assert_eq!(stack.work_queue_len().await, 0);
    assert!(stack.broker.drain_dead().await.is_empty());
}

#[tokio::test]
async fn an_attempt_that_outlasts_the_drain_is_handed_back_and_taken_over_at_once() {
    let proxy = DockerProxy::start().await;
    let mut stack = stack_with_proxied_worker(&proxy, 2).await;
    let (reached, mut reached_rx) = tokio::sync::mpsc::channel::<()>(1);
    proxy.before_next("POST /containers/create", move || async move {
        let _ = reached.send(()).await;
        std::future::pending::<()>().await;
    });
    let accepted = stack
        .submit("jobs", &job("outlasts the drain", "echo handed back"))
        .await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    let id = str_of(&accepted, "id").to_owned();
    tokio::time::timeout(DEADLINE, reached_rx.recv())
        .await
        .expect("the attempt to reach the container create");

    let worker = stack.workers.pop().expect("one worker");
    let stopping = begin_stop(worker).await;
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("the worker stops at its drain deadline, not at the attempt's timeout")
        .expect("the stop task")
        .expect("the worker stops cleanly");
    let handed_back = stack.action(&action_id).await;
    assert_eq!(handed_back["status"], "retrying", "{handed_back}");
    assert_eq!(handed_back["attempts"], 0, "{handed_back}");
    assert_eq!(stack.work_queue_len().await, 1, "the delivery is back");

    let restarted = Instant::now();
    stack.add_worker(WorkerSettings::default()).await;
    let action = stack.wait_action(&action_id, "succeeded").await;
    assert!(
        restarted.elapsed() < Duration::from_secs(30),
        "taken over in {:?}, not after the 60 s lease",
        restarted.elapsed()
    );
    assert_eq!(action["attempts"], 1, "{action}");
    stack.wait_status("jobs", &id, "succeeded").await;
    assert_eq!(stack.containers(Some(&id)).await.len(), 1, "one container");
    assert!(stack.broker.drain_dead().await.is_empty());
}
