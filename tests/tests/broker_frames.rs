//! The supervised broker connection asks RabbitMQ for 16 KiB frames
//! (`DEFAULT_FRAME_MAX`: lapin keeps 32 frames in each of its two buffers,
//! 8 MiB a process at RabbitMQ's 128 KiB) unless its URL names a size, and
//! a message larger than a frame still goes through whole.

use contaxy_common::broker::{Broker, DEFAULT_FRAME_MAX, amqp_uri};
use contaxy_common::topology::Topology;
use contaxy_tests::DEADLINE;
use contaxy_tests::broker::{amqp_url, delete_topology_blocking};
use lapin::BasicProperties;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[test]
fn a_url_without_a_frame_size_gets_the_default_and_one_with_keeps_its_own() {
    let plain = amqp_uri("amqp://guest:guest@127.0.0.1:5672/%2f").expect("an AMQP URL");
    assert_eq!(plain.query.frame_max, Some(DEFAULT_FRAME_MAX));
    let named = amqp_uri("amqp://guest:guest@127.0.0.1:5672/%2f?frame_max=65536&heartbeat=10")
        .expect("an AMQP URL");
    assert_eq!(named.query.frame_max, Some(65_536));
    assert_eq!(named.query.heartbeat, Some(10));
    assert!(amqp_uri("http://127.0.0.1/").is_err());
}

/// Connects through the supervisor to `url`; what RabbitMQ agreed to, and
/// whether a 200 KiB message came back whole.
async fn frame_max_and_round_trip(url: String) -> (u32, bool) {
    let topology = Topology::new(&format!("test-{}.", Uuid::new_v4().simple()));
    let shutdown = CancellationToken::new();
    let broker = Broker::start(
        &url.into(),
        "frames-test",
        topology.clone(),
        shutdown.clone(),
    );
    let conn = tokio::time::timeout(DEADLINE, broker.connected())
        .await
        .expect("connected");
    let frame_max = conn.configuration().frame_max();

    let channel = conn.create_channel().await.expect("a channel");
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("a queue");
    let body: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    channel
        .basic_publish(
            "".into(),
            queue.name().as_str().into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        )
        .await
        .expect("published");
    let mut got = None;
    for _ in 0..100 {
        if let Some(message) = channel
            .basic_get(
                queue.name().as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic.get")
        {
            got = Some(message.delivery.data);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    delete_topology_blocking(topology);
    (frame_max, got.as_deref() == Some(body.as_slice()))
}

#[tokio::test]
async fn the_connection_uses_small_frames_unless_its_url_names_a_size() {
    let base = amqp_url();
    let (frame_max, whole) = frame_max_and_round_trip(base.clone()).await;
    assert_eq!(frame_max, DEFAULT_FRAME_MAX);
    assert!(
        whole,
        "a message of 200 KiB in 16 KiB frames came back whole"
    );

    let sep = if base.contains('?') { '&' } else { '?' };
    let (frame_max, whole) = frame_max_and_round_trip(format!("{base}{sep}frame_max=65536")).await;
    assert_eq!(frame_max, 65_536);
    assert!(whole);
}
