//! A routine RabbitMQ restart (the broker away, then back) is not an
//! operator's emergency: the API, the worker and the scheduler each log the
//! lost connection and the reconnect at WARN, and nothing at ERROR (lapin
//! logs a lost connection at ERROR itself; the default filter keeps it out).
//!
//! One test in this binary: it installs the process's global subscriber, as
//! `main` does, writing to a buffer it reads.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use contaxy_api::ApiSettings;
use contaxy_common::config::LogFormat;
use contaxy_common::telemetry;
use contaxy_scheduler::SchedulerSettings;
use contaxy_tests::tcp_proxy::TcpProxy;
use contaxy_tests::{
    DEADLINE, TestDb, broker, common_config, eventually, get_json, spawn_api, spawn_scheduler,
    spawn_worker,
};
use contaxy_worker::WorkerSettings;

/// Where the subscriber writes: one shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The JSON lines written so far.
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().expect("not poisoned").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

#[tokio::test]
async fn a_broker_restart_is_logged_at_warn_by_every_binary_and_never_at_error() {
    let captured = Captured::default();
    let writer = captured.clone();
    telemetry::init_with_writer(LogFormat::Json, move || writer.clone());

    // The test broker, reached through a proxy the test can cut.
    let url = broker::amqp_url();
    let (head, rest) = url.split_once('@').expect("a URL with credentials");
    let (host, vhost) = rest.split_once('/').expect("a URL with a vhost");
    let target: SocketAddr = host.parse().expect("an IP address and port");
    let proxy = TcpProxy::start(target).await;
    let db = TestDb::new().await;
    let mut common = common_config(db.url());
    common.amqp_url = format!("{head}@{}/{vhost}", proxy.addr()).into();

    let api = spawn_api(common.clone(), ApiSettings::default())
        .await
        .expect("the API starts");
    let worker = spawn_worker(common.clone(), WorkerSettings::default())
        .await
        .expect("the worker starts");
    let scheduler = spawn_scheduler(common.clone(), SchedulerSettings::default())
        .await
        .expect("the scheduler starts");
    let binaries = [
        (&api, "the API"),
        (&worker, "the worker"),
        (&scheduler, "the scheduler"),
    ];
    for (binary, name) in binaries {
        binary.wait_ready(name).await;
    }

    proxy.switch_off().await;
    for (binary, name) in binaries {
        let readyz = binary.url("/readyz");
        eventually(DEADLINE, &format!("{name} to notice"), || async {
            matches!(get_json(&readyz).await, Some((503, _))).then_some(())
        })
        .await;
    }
    proxy.switch_on().await;
    for (binary, name) in binaries {
        binary.wait_ready(name).await;
    }

    let reconnected = |lines: &[serde_json::Value]| {
        lines
            .iter()
            .filter(|line| line["message"] == "Reconnected to RabbitMQ.")
            .map(|line| line["level"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    eventually(DEADLINE, "each binary to log its reconnect", || async {
        (reconnected(&captured.lines()).len() >= 3).then_some(())
    })
    .await;
    let lines = captured.lines();
    assert!(
        reconnected(&lines).iter().all(|level| level == "WARN"),
        "{:?}",
        reconnected(&lines)
    );
    let lost = lines
        .iter()
        .filter(|line| line["message"] == "Lost the RabbitMQ connection; reconnecting.")
        .count();
    assert!(lost >= 3, "each binary logs the loss: {lost}");
    let errors: Vec<_> = lines
        .iter()
        .filter(|line| line["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "logged at ERROR: {errors:#?}");
}
