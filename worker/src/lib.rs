//! The contaxy worker: consumes actions from RabbitMQ and executes them
//! against a container runtime (Docker now; Kubernetes later) and S3.
//! Stateless; run as many as you like.
//!
//! - [`config`]: `WorkerConfig`, the settings of this binary.
//! - [`consumer`]: deliveries in, parsed once into a typed action, claimed in
//!   PostgreSQL, executed, settled.
//! - [`drain`]: how a stopping worker gives back what it cannot finish.
//! - [`dispatch`]: one attempt of one action, handed to its family's module
//!   in [`actions`] (one module per action family).
//! - [`context`]: [`context::ActionContext`], what the families work with.
//! - [`error`]: [`error::ActionError`], why an attempt failed, with its cause
//!   and its retry class.
//! - [`settle`]: an attempt's outcome recorded, retried through the delay
//!   queue or dead-lettered.
//! - [`retry`]: the retry decision (a pure function) and in-process backoff.
//! - [`network_sweep`]: the sweep that removes orphaned project networks and
//!   keeps the record of attached deployments true.
//! - [`orphan_sweep`]: the sweep that removes containers (with their
//!   volumes) that have no row.
//! - [`status`]: deployment status from the runtime's own events, plus a
//!   periodic reconcile.
//! - [`logs`]: answers the API's logs requests.
//! - [`image_config`]: answers the API's image configuration requests.
//! - [`runtime`]: the container runtime the worker drives: the `Runtime`
//!   trait, the backend chosen by configuration (`runtime::RuntimeConfig`,
//!   `runtime::build`) and the Docker backend (design notes in
//!   `src/runtime/README.md`).
//! - [`startup`]: [`Application::build`] and
//!   [`Application::run_until_stopped`], used by `main` and the tests alike;
//!   it builds the runtime through `runtime::build` and names no backend.

mod accept;
pub mod actions;
pub mod config;
pub mod consumer;
pub mod context;
pub mod dispatch;
pub mod drain;
pub mod error;
pub mod image_config;
pub mod logs;
pub mod network_sweep;
pub mod orphan_sweep;
mod request_queue;
pub mod retry;
pub mod runtime;
pub mod settle;
pub mod startup;
pub mod status;

pub use config::{WorkerConfig, WorkerSettings};
pub use startup::Application;
