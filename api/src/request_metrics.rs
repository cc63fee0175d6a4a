//! The API's own request metrics: a count by method, route template and
//! status, and the time to the response head, by method and route
//! (`contaxy_api_requests_total`, `contaxy_api_request_duration_seconds`).
//! Labelled by the matched route's template (`/projects/{project_id}/jobs`),
//! never the path, so the series stay bounded; a path no route matches is
//! not counted (its 404 is the fallback's).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Metric: requests answered.
const REQUESTS: &str = "contaxy_api_requests_total";
/// Metric: time to the response head.
const DURATION: &str = "contaxy_api_request_duration_seconds";

/// Records one request (a `route_layer`, so the route is known).
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(DURATION, "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}
