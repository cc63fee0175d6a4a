//! The contaxy REST API (axum).
//!
//! It authenticates, authorizes and validates a request, records an action in
//! PostgreSQL, publishes it to RabbitMQ and answers at once. It never talks to
//! Docker or Kubernetes itself.
//!
//! - [`config`]: `ApiConfig`, the settings of this binary.
//! - [`startup`]: [`Application::build`] and
//!   [`Application::run_until_stopped`], used by `main` and the tests alike.
//! - [`auth`]: tokens, the authentication layer, and the extractors every
//!   handler uses to get its caller and project (`ProjectAccess<Write>`).
//! - [`error`]: `ApiError`, the one place errors become responses.
//! - [`json`]: `JsonBody`, the body extractor that names the field of a
//!   body of the wrong shape.
//! - [`routes`]: the HTTP routes and the OpenAPI document.
//! - [`state`]: what handlers share.
//! - [`submit`]: publishing recorded actions (the relay covers failures).

pub mod auth;
pub mod config;
pub mod error;
pub mod json;
pub mod routes;
pub mod startup;
pub mod state;
pub mod submit;

pub use config::{ApiConfig, ApiSettings};
pub use startup::Application;
