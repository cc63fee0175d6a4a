//! A worker killed mid-attempt (SIGKILL, no goodbye): its claim, no longer
//! renewed, runs out within one lease, and the delivery the broker gives
//! back is run by another worker within seconds, once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use contaxy_tests::docker_proxy::DockerProxy;
use contaxy_tests::stack::{Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, binary, closed_port_addr, eventually, get_json, str_of};
use contaxy_worker::WorkerSettings;
use secrecy::ExposeSecret;

/// A worker process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_action_whose_worker_is_killed_is_taken_over_within_seconds() {
    let proxy = DockerProxy::start().await;
    let mut stack = Stack::start_with(StackOptions {
        workers: 0,
        ..StackOptions::default()
    })
    .await;
    let port = closed_port_addr().port();
    let child = Command::new(binary("contaxy-worker"))
        .env("CONTAXY_WORKER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "CONTAXY_DATABASE_URL",
            stack.common.database_url.expose_secret(),
        )
        .env("CONTAXY_AMQP_URL", stack.common.amqp_url.expose_secret())
        .env("CONTAXY_TOPOLOGY_PREFIX", &stack.common.topology_prefix)
        .env("CONTAXY_NAMESPACE", stack.namespace())
        .env("CONTAXY_DOCKER_HOST", proxy.docker_host())
        .env("CONTAXY_WORKER_LEASE_SECS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker starts");
    let mut doomed = Process(child);
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    eventually(DEADLINE, "the doomed worker to be ready", || async {
        matches!(get_json(&readyz).await, Some((200, _))).then_some(())
    })
    .await;

    // Its attempt stops at creating the container, which never reaches the
    // engine: the worker is killed there.
    let (reached, mut reached_rx) = tokio::sync::mpsc::channel::<()>(1);
    proxy.before_next("POST /containers/create", move || async move {
        let _ = reached.send(()).await;
        std::future::pending::<()>().await;
    });
    let accepted = stack
        .submit("jobs", &job("outlives its worker", "echo survived"))
        .await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    let id = str_of(&accepted, "id").to_owned();
    tokio::time::timeout(DEADLINE, reached_rx.recv())
        .await
        .expect("the attempt to reach the container create");
    let running = stack.action(&action_id).await;
    assert_eq!(running["status"], "running", "{running}");
    doomed.0.kill().expect("SIGKILL");
    let _ = doomed.0.wait();
    let killed_at = Instant::now();

    stack
        .add_worker(WorkerSettings {
            worker_lease_secs: 3,
            ..WorkerSettings::default()
        })
        .await;
    let action = stack.wait_action(&action_id, "succeeded").await;
    let took = killed_at.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "taken over in {took:?}, not after the attempt timeout"
    );
    assert_eq!(action["attempts"], 2, "{action}");
    stack.wait_status("jobs", &id, "succeeded").await;
    assert_eq!(stack.containers(Some(&id)).await.len(), 1, "one container");
    assert_eq!(stack.work_queue_len().await, 0);
    assert!(stack.broker.drain_dead().await.is_empty());
}
