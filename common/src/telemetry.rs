//! Logs and metrics, set up in one place.
//!
//! [`init`] installs the tracing subscriber (human lines by default, JSON with
//! `CONTAXY_LOG_FORMAT=json`, filtered by `RUST_LOG`). [`metrics_handle`]
//! installs the Prometheus recorder on first use (when a binary builds its
//! ops routes), with buckets for every histogram and a help text for every
//! metric ([`crate::metric_catalog`]); `/metrics` renders it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;
use crate::metric_catalog::{LATENCY_BUCKETS, describe_all};

/// The filter used when `RUST_LOG` is not set: our crates at `info`, the
/// chattier libraries at `warn`. lapin is off: it logs a lost connection
/// (a routine RabbitMQ restart) at ERROR from its I/O loop, and every one of
/// its failures also comes back as an error from the call that hit it, which
/// our code logs at the level it deserves (the broker supervisor: WARN for a
/// lost connection and for the reconnect). `RUST_LOG=lapin=debug` brings its
/// own lines back.
const DEFAULT_FILTER: &str = "info,sqlx=warn,lapin=off,amq_protocol=warn,tower_http=info";

/// Installs the global tracing subscriber, writing to standard output.
/// Calling it again (tests start several binaries in one process) keeps the
/// first one.
pub fn init(format: LogFormat) {
    init_with_writer(format, std::io::stdout);
}

/// [`init`], writing to `writer` (a test reads what would be logged).
pub fn init_with_writer<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(writer),
            )
            .try_init(),
    };
    // An error here only means a subscriber is already installed.
    drop(result);
}

/// The process-wide Prometheus recorder, installed on first use; every
/// binary uses it when it builds its ops routes (`ops::router`), before it
/// counts anything.
///
/// One process may run several binaries (the end-to-end tests do); they share
/// this recorder and so one `/metrics` output.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Buckets rather than summaries: a histogram's buckets add up
        // across replicas, a summary's quantiles do not.
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(LATENCY_BUCKETS) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::warn!(%error, "The histogram buckets were refused; histograms render as summaries.");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("A metrics recorder was already installed; /metrics will be empty.");
        }
        describe_all();
        handle
    })
}

/// Sets `contaxy_build_info{binary, version} 1` for `binary`.
pub fn record_build_info(binary: &'static str) {
    metrics_handle();
    metrics::gauge!("contaxy_build_info", "binary" => binary, "version" => env!("CARGO_PKG_VERSION"))
        .set(1.0);
}
