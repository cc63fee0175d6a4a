//! The API's routes. Operational routes (`/healthz`, `/readyz`, `/metrics`)
//! come from [`contaxy_common::ops`].

use axum::Router;
use contaxy_common::ops::{self, Readiness};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

/// The full router of the API.
pub(crate) fn router(readiness: Readiness, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(ops::router(readiness))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(
            // A 5xx the API chose to send (a dependency is down) is worth a
            // warning; errors an operator must act on are logged where they
            // happen.
            TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
}
