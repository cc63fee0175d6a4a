//! The dead-letter queue is bounded (`x-max-length` from
//! `CONTAXY_DEAD_QUEUE_MAX_LENGTH`): past the bound the oldest dead letter
//! goes; a dead queue declared before without the bound is used as it is;
//! and the worker counts what it dead-letters.

use contaxy_common::broker::Broker;
use contaxy_common::domain::action::ErrorClass;
use contaxy_common::publisher::Publisher;
use contaxy_common::topology::Topology;
use contaxy_tests::broker::{TestBroker, amqp_url, delete_topology_blocking};
use contaxy_tests::stack::Stack;
use contaxy_tests::{DEADLINE, eventually};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A broker connection that declared `topology`, and a publisher on it;
/// the topology is deleted when dropped.
struct Declared {
    publisher: Publisher,
    shutdown: CancellationToken,
    topology: Topology,
}

impl Declared {
    async fn start(topology: Topology) -> Self {
        let shutdown = CancellationToken::new();
        let broker = Broker::start(
            &amqp_url().into(),
            "dead-queue-test",
            topology.clone(),
            shutdown.clone(),
        );
        tokio::time::timeout(DEADLINE, broker.connected())
            .await
            .expect("connected, the topology declared");
        Self {
            publisher: Publisher::new(broker, topology.clone()),
            shutdown,
            topology,
        }
    }

    async fn dead_letter(&self, body: &str) {
        self.publisher
            .publish_dead(
                body.as_bytes(),
                "deployment.deploy",
                "a test",
                ErrorClass::Permanent,
                FieldTable::default(),
            )
            .await
            .expect("dead-lettered");
    }
}

impl Drop for Declared {
    fn drop(&mut self) {
        self.shutdown.cancel();
        delete_topology_blocking(self.topology.clone());
    }
}

fn fresh_topology() -> Topology {
    Topology::new(&format!("test-{}.", Uuid::new_v4().simple()))
}

#[tokio::test]
async fn past_its_bound_the_dead_queue_drops_the_oldest_letter() {
    let declared = Declared::start(fresh_topology().with_dead_max_length(2)).await;
    for body in ["first", "second", "third"] {
        declared.dead_letter(body).await;
    }
    let broker = TestBroker::connect(declared.topology.clone()).await;
    assert_eq!(
        broker.queue_len(&declared.topology.dead_queue()).await,
        Some(2)
    );
    let bodies: Vec<Vec<u8>> = broker
        .drain_dead()
        .await
        .into_iter()
        .map(|m| m.delivery.data)
        .collect();
    assert_eq!(bodies, [b"second".to_vec(), b"third".to_vec()]);
}

#[tokio::test]
async fn a_dead_queue_declared_before_without_the_bound_is_used_as_it_is() {
    let topology = fresh_topology();
    // An installation from before the bound: `dead` without arguments.
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ is reachable");
    let channel = conn.create_channel().await.expect("a channel");
    channel
        .queue_declare(
            topology.dead_queue().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare the old dead queue");
    let declared = Declared::start(topology.with_dead_max_length(2)).await;
    for body in ["first", "second", "third"] {
        declared.dead_letter(body).await;
    }
    let broker = TestBroker::connect(declared.topology.clone()).await;
    // Bound to the dead exchange, unbounded as it was.
    assert_eq!(
        broker.queue_len(&declared.topology.dead_queue()).await,
        Some(3)
    );
}

#[tokio::test]
async fn the_worker_counts_what_it_dead_letters() {
    let stack = Stack::start().await;
    stack
        .broker
        .publish_action("deployment.deploy", b"{not json")
        .await;
    let dead = stack.topology().dead_queue();
    eventually(DEADLINE, "the garbage to be dead-lettered", || async {
        (stack.broker.queue_len(&dead).await? == 1).then_some(())
    })
    .await;
    // The message reaches the dead queue before the broker's confirm reaches
    // the worker, and the worker counts after the confirm: wait for it.
    let url = stack.workers[0].url("/metrics");
    eventually(DEADLINE, "the dead letter to be counted", || async {
        let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
        text.lines()
            .any(|l| l == "contaxy_dead_letters_total{class=\"malformed\"} 1")
            .then_some(())
    })
    .await;
}
