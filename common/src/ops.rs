//! Operational routes every binary serves: `/healthz`, `/readyz`, `/metrics`.
//!
//! `/healthz` answers 200 while the process runs. `/readyz` runs every
//! [`Probe`] at once, each bounded by a timeout, and answers 200 when all pass
//! or 503 naming each failing dependency and why:
//!
//! ```json
//! {"status":"unavailable","checks":{"postgres":{"ok":true},
//!  "rabbitmq":{"ok":false,"error":"not connected: Connection refused"}}}
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

use crate::telemetry::metrics_handle;

type CheckFn = dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync;

/// One dependency check behind `/readyz`.
#[derive(Clone)]
pub struct Probe {
    name: &'static str,
    check: Arc<CheckFn>,
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe").field("name", &self.name).finish()
    }
}

impl Probe {
    /// A probe called `name` that passes when `check` returns `Ok`.
    pub fn new<F, Fut>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            check: Arc::new(move || Box::pin(check())),
        }
    }
}

/// The probes of one binary and the time each may take.
#[derive(Debug, Clone)]
pub struct Readiness {
    probes: Vec<Probe>,
    timeout: Duration,
}

impl Readiness {
    /// Readiness over `probes`, each bounded by `timeout`.
    pub fn new(probes: Vec<Probe>, timeout: Duration) -> Self {
        Self { probes, timeout }
    }

    /// Runs every probe concurrently and reports each result.
    pub async fn check(&self) -> ReadinessReport {
        let results = join_all(self.probes.iter().map(|probe| async move {
            let outcome = match tokio::time::timeout(self.timeout, (probe.check)()).await {
                Ok(Ok(())) => CheckResult {
                    ok: true,
                    error: None,
                },
                Ok(Err(error)) => CheckResult {
                    ok: false,
                    error: Some(error),
                },
                Err(_) => CheckResult {
                    ok: false,
                    error: Some(format!("no answer within {} ms", self.timeout.as_millis())),
                },
            };
            (probe.name, outcome)
        }))
        .await;
        let ready = results.iter().all(|(_, r)| r.ok);
        ReadinessReport {
            status: if ready { "ready" } else { "unavailable" },
            checks: results.into_iter().collect(),
        }
    }
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each probe by name.
    pub checks: BTreeMap<&'static str, CheckResult>,
}

impl ReadinessReport {
    /// Whether every probe passed.
    pub fn is_ready(&self) -> bool {
        self.checks.values().all(|c| c.ok)
    }
}

/// One probe's outcome.
#[derive(Debug, Serialize)]
pub struct CheckResult {
    /// Whether it passed.
    pub ok: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `/healthz`, `/readyz` and `/metrics` routes. Building them installs
/// the metrics recorder, so that what a binary counts before its first scrape
/// is not lost.
pub fn router(readiness: Readiness) -> Router {
    metrics_handle();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(Arc::new(readiness))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "alive" }))
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> Response {
    let report = readiness.check().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

async fn render_metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_handle().render(),
    )
}

pub use crate::http_server::HttpServer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_counted_before_the_first_scrape_is_kept() {
        let _router = router(Readiness::new(vec![], Duration::from_secs(1)));
        metrics::counter!("contaxy_test_counted_early_total").increment(3);
        let text = metrics_handle().render();
        assert!(
            text.contains("contaxy_test_counted_early_total 3"),
            "{text}"
        );
    }
}
