//! The one test support library of the workspace (`contaxy-tests`): the
//! end-to-end tests in `tests/tests` use it, and so do the runtime tests in
//! `worker/tests`, the store tests in `common/tests` (as a dev-dependency)
//! and the bench. Real PostgreSQL, RabbitMQ and Docker on loopback (started
//! by `scripts/provision.sh`), one fresh database, broker prefix and runtime
//! namespace per test, so tests run in parallel without seeing each other.
//!
//! - [`IMAGE`], [`IDLE`], [`DEADLINE`]: the test image, a service body that
//!   idles until stopped, and how long anything is waited for.
//! - [`eventually`], [`within`]: waiting on a condition with a deadline
//!   (never a bare sleep).
//! - [`TestDb`]: a fresh database, dropped when the test ends;
//!   [`db::insert_project`] and [`db::insert_deployment`] record rows as the
//!   API would have.
//! - [`spawn_api`], [`spawn_worker`], [`spawn_scheduler`]: start exactly what
//!   `main` starts, in process, on a free port; stopped on drop.
//! - [`binary`]: the path of a built binary, for tests of the real process.
//! - [`str_of`], [`get_json`]: reading JSON in assertions.
//! - [`docker`]: the engine's address and client, fresh namespaces, and the
//!   one cleanup that removes what a namespace made in Docker.
//! - [`runtime::TestRuntime`]: the worker's Docker runtime in a namespace of
//!   its own, for `worker/tests`.
//! - [`subnets`]: subnet ranges for tests that make Docker networks.
//! - [`api::TestApi`]: an API with an admin token on a fresh database, and a
//!   client for its REST routes.
//! - [`stack::Stack`]: the whole pipeline (API, workers, scheduler) on one
//!   database, topology prefix and runtime namespace, cleaned up on drop.
//! - [`storage`]: the S3 server's address, a bucket prefix per test, and
//!   the cleanup that removes a prefix's buckets with every version.
//! - [`cleanup`]: the scheduler's cleanup passes on a stack, with a chosen
//!   clock.
//! - [`broker::TestBroker`]: queue lengths, dead letters and raw publishes.
//! - [`docker_proxy::DockerProxy`]: a Docker Engine a test can switch off.
//! - [`tcp_proxy::TcpProxy`]: any TCP service (the S3 server) a test can
//!   switch off.
//! - [`pipeline::Pipeline`]: workers on a broker prefix and Docker namespace
//!   of their own, actions published to them and awaited.

pub mod api;
pub mod broker;
pub mod cleanup;
pub mod db;
pub mod docker;
pub mod docker_proxy;
pub mod json;
pub mod pipeline;
pub mod runtime;
pub mod spawn;
pub mod stack;
pub mod storage;
pub mod subnets;
pub mod tcp_proxy;
pub mod wait;

pub use db::{TestDb, admin_database_url};
pub use json::{get_json, str_of};
pub use spawn::{
    Spawned, binary, closed_port_addr, common_config, spawn_api, spawn_scheduler, spawn_worker,
};
pub use wait::{DEADLINE, eventually, within};

/// The local busybox image `scripts/provision.sh images` builds.
pub const IMAGE: &str = "contaxy/busybox:test";

/// A service body that idles until stopped and exits 0 on SIGTERM (a shell
/// as PID 1 ignores SIGTERM unless it traps it, which would make every stop
/// wait for the kill timeout).
pub const IDLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";
