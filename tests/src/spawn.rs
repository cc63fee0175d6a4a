//! The binaries started in process, exactly as their `main` starts them, on
//! a free port; and the path of a built binary, for tests of the real
//! process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use contaxy_common::config::{CommonConfig, Config};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{DEADLINE, broker, eventually, get_json};

/// Shared settings for a test: the given database, a unique broker prefix,
/// loopback defaults for the rest.
pub fn common_config(database_url: &str) -> CommonConfig {
    CommonConfig {
        database_url: database_url.to_owned().into(),
        database_max_connections: 5,
        topology_prefix: format!("test-{}.", uuid::Uuid::new_v4().simple()),
        amqp_url: broker::amqp_url().into(),
        s3_endpoint: crate::storage::s3_endpoint(),
        s3_bucket_prefix: crate::storage::fresh_bucket_prefix(),
        ..CommonConfig::default()
    }
}

/// An address on which nothing listens, for "dependency down" tests.
pub fn closed_port_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
    // The listener is dropped here, so the port is closed again.
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

    /// Waits until its `/readyz` answers 200; `what` names it in the panic
    /// after [`DEADLINE`].
    pub async fn wait_ready(&self, what: &str) {
        let url = self.url("/readyz");
        eventually(DEADLINE, &format!("{what} to be ready"), || async {
            matches!(get_json(&url).await, Some((200, _))).then_some(())
        })
        .await;
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
