//! The contaxy worker: consumes actions from RabbitMQ and executes them
//! against a container runtime (Docker now; Kubernetes later) and S3.
//! Stateless; run as many as you like.
//!
//! - [`config`]: `WorkerConfig`, the settings of this binary.
//! - [`consumer`]: deliveries in, claimed in PostgreSQL, executed, settled.
//! - [`executor`]: one attempt of one action, dispatched by kind to
//!   [`actions`] (one module per action family).
//! - [`retry`]: the retry decision (a pure function) and in-process backoff.
//! - [`cleanup`]: the sweep that removes orphaned project networks and
//!   keeps the record of attached deployments true.
//! - [`status`]: deployment status from the runtime's own events, plus a
//!   periodic reconcile.
//! - [`logs`]: answers the API's logs requests.
//! - [`runtime`]: the container runtime the worker drives: the `Runtime`
//!   trait, the backend chosen by configuration (`runtime::RuntimeConfig`,
//!   `runtime::build`) and the Docker backend (design notes in
//!   `src/runtime/README.md`).
//! - [`startup`]: [`Application::build`] and
//!   [`Application::run_until_stopped`], used by `main` and the tests alike;
//!   it builds the runtime through `runtime::build` and names no backend.

pub mod actions;
pub mod cleanup;
pub mod config;
pub mod consumer;
pub mod executor;
pub mod logs;
pub mod retry;
pub mod runtime;
pub mod startup;
pub mod status;

pub use config::{WorkerConfig, WorkerSettings};
pub use startup::Application;
