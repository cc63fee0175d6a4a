//! The contaxy worker: consumes actions from RabbitMQ and executes them
//! against a container runtime (Docker now; Kubernetes later) and S3.
//! Stateless; run as many as you like.
//!
//! - [`config`]: `WorkerConfig`, the settings of this binary.
//! - [`runtime`]: the container runtime the worker drives: the `Runtime`
//!   trait and its Docker backend (design notes in `src/runtime/README.md`).
//! - [`startup`]: [`Application::build`] and
//!   [`Application::run_until_stopped`], used by `main` and the tests alike.

pub mod config;
pub mod runtime;
pub mod startup;

pub use config::{WorkerConfig, WorkerSettings};
pub use startup::Application;
