//! The contaxy REST API (axum).
//!
//! It authenticates, authorizes and validates a request, records an action in
//! PostgreSQL, publishes it to RabbitMQ and answers at once. It never talks to
//! Docker or Kubernetes itself.
//!
//! - [`config`]: `ApiConfig`, the settings of this binary.
//! - [`startup`]: [`Application::build`] and
//!   [`Application::run_until_stopped`], used by `main` and the tests alike.
//! - `routes`: the HTTP routes.

pub mod config;
mod routes;
pub mod startup;

pub use config::{ApiConfig, ApiSettings};
pub use startup::Application;
