//! The end-to-end test harness: real PostgreSQL, RabbitMQ and Docker on
//! loopback (started by `scripts/provision.sh`), one fresh database and one
//! broker prefix per test, so tests run in parallel without seeing each other.
//!
//! - [`TestDb`]: a fresh database, dropped when the test ends.
//! - [`spawn_api`], [`spawn_worker`], [`spawn_scheduler`]: start exactly what
//!   `main` starts, in process, on a free port; stopped on drop.
//! - [`eventually`]: waits on a condition with a deadline (never a bare sleep).
//! - [`binary`]: the path of a built binary, for tests of the real process.
//! - [`api::TestApi`]: an API with an admin token on a fresh database, and a
//!   client for its REST routes.
//! - [`stack::Stack`]: the whole pipeline (API, workers, scheduler) on one
//!   database, topology prefix and runtime namespace, cleaned up on drop.
//! - [`cleanup::remove_docker_namespace`]: removes what a namespace made in Docker.
//! - [`broker::TestBroker`]: queue lengths, dead letters and raw publishes.
//! - [`docker_proxy::DockerProxy`]: a Docker Engine a test can switch off.
//! - [`pipeline::Pipeline`]: workers on a broker prefix and Docker namespace
//!   of their own, actions published to them and awaited.

pub mod api;
pub mod broker;
pub mod cleanup;
pub mod docker_proxy;
pub mod pipeline;
pub mod stack;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use contaxy_common::config::{CommonConfig, Config};
use sqlx::{Connection, Executor, PgConnection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where the tests reach PostgreSQL as a role allowed to create databases.
pub fn admin_database_url() -> String {
    std::env::var("CONTAXY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://contaxy:contaxy@127.0.0.1:5432/postgres".to_owned())
}

/// An address on which nothing listens, for "dependency down" tests.
pub fn closed_port_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
    // The listener is dropped here, so the port is closed again.
}

/// A fresh, empty database for one test; dropped (with force) on drop.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Creates `contaxy_test_<random>`.
    pub async fn new() -> Self {
        let admin = admin_database_url();
        let name = format!("contaxy_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL at {admin} ({e}); run scripts/provision.sh")
        });
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create the test database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("CONTAXY_TEST_DATABASE_URL must end in /<database>"),
        };
        Self { name, url }
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A plain connection to it, for assertions.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; use a small one of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_database_url()).await?;
                conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// Shared settings for a test: the given database, a unique broker prefix,
/// loopback defaults for the rest.
pub fn common_config(database_url: &str) -> CommonConfig {
    CommonConfig {
        database_url: database_url.to_owned().into(),
        database_max_connections: 5,
        topology_prefix: format!("test-{}.", uuid::Uuid::new_v4().simple()),
        amqp_url: broker::amqp_url().into(),
        ..CommonConfig::default()
    }
}

/// A binary started in this process; stopped when dropped.
#[derive(Debug)]
pub struct Spawned {
    /// Where its HTTP server listens.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Spawned {
    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Cancels its shutdown token and waits for it to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .map_err(|_| anyhow::anyhow!("did not stop within 15 s"))??
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

macro_rules! spawner {
    ($name:ident, $krate:ident, $settings:ident, $addr_field:ident) => {
        /// Builds and runs this binary in process, exactly as its `main`
        /// does, on a free port.
        pub async fn $name(
            common: CommonConfig,
            mut settings: $krate::$settings,
        ) -> anyhow::Result<Spawned> {
            settings.$addr_field = SocketAddr::from(([127, 0, 0, 1], 0));
            let shutdown = CancellationToken::new();
            let app =
                $krate::Application::build(Config { common, settings }, shutdown.clone()).await?;
            let addr = app.local_addr();
            let task = tokio::spawn(app.run_until_stopped());
            Ok(Spawned {
                addr,
                shutdown,
                task: Some(task),
            })
        }
    };
}

spawner!(spawn_api, contaxy_api, ApiSettings, api_listen_addr);
spawner!(
    spawn_worker,
    contaxy_worker,
    WorkerSettings,
    worker_listen_addr
);
spawner!(
    spawn_scheduler,
    contaxy_scheduler,
    SchedulerSettings,
    scheduler_listen_addr
);

/// Polls `check` until it returns `Some`, or panics with `what` after
/// `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GETs `url` and returns the status and the JSON body (or `Null`).
pub async fn get_json(url: &str) -> Option<(u16, serde_json::Value)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Some((status, body))
}

/// The path of a workspace binary built next to this test executable
/// (`cargo nextest run --workspace` builds them all).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run the suite with `cargo nextest run --workspace`",
        path.display()
    );
    path
}
