//! The contaxy REST API (axum).
//!
//! It authenticates, authorizes and validates a request, records an action in
//! PostgreSQL, publishes it to RabbitMQ and answers at once. It never talks to
//! Docker or Kubernetes itself.
//!
//! A deploy, from the outside in: [`routes::deployments::services`] (the
//! HTTP route: extractors, status codes) calls [`deployments::create`] (the
//! service: validation, id, capacity), which hands the action and the
//! deployment row to [`actions::submit`] (one transaction, then publish);
//! the answer is a [`routes::deployments::wire::Deployment`].
//!
//! - [`actions`]: [`actions::submit`], the one way a route enqueues work:
//!   record the action with its resource row, publish it, optionally wait.
//! - [`config`]: `ApiConfig`, the settings of this binary.
//! - [`startup`]: [`Application::build`] and
//!   [`Application::run_until_stopped`], used by `main` and the tests alike.
//! - [`auth`]: tokens, the authentication layer, and the extractors every
//!   handler uses to get its caller and project (`ProjectAccess<Write>`).
//! - [`error`]: `ApiError`, the one place errors become responses.
//! - [`files`]: the file service: upload streaming and limits, the
//!   metadata S3 keeps, content-type sniffing, download ranges.
//! - [`json`]: `JsonBody`, the body extractor that names the field of a
//!   body of the wrong shape.
//! - [`query`]: booleans in query strings, read as FastAPI reads them.
//! - [`request_metrics`]: the API's request counts and latencies by route.
//! - [`deployments`]: the deployment service: validation, id choice,
//!   capacity check, PATCH merge, the rows written with each action.
//! - [`routes`]: the HTTP routes, their typed bodies and the OpenAPI
//!   document.
//! - [`state`]: what handlers share.

pub mod actions;
pub mod auth;
pub mod config;
pub mod deployments;
pub mod error;
pub mod files;
pub mod json;
pub mod query;
pub mod request_metrics;
pub mod routes;
pub mod startup;
pub mod state;

pub use config::{ApiConfig, ApiSettings};
pub use startup::Application;
