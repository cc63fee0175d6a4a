//! Every metric the binaries export, with its help text: the recorder
//! describes each (so `/metrics` carries a `# HELP` line for it) and
//! docs/metrics.md lists the same set, which a test keeps true
//! (`tests/tests/metrics_catalog.rs` scrapes every binary and fails on a
//! metric missing here; the unit test below compares this list with the
//! page). The names themselves are defined where each metric is recorded.

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution, with buckets ([`LATENCY_BUCKETS`]).
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDoc {
    /// Its name.
    pub name: &'static str,
    /// Its kind.
    pub kind: MetricKind,
    /// Which binary exports it.
    pub binary: &'static str,
    /// Its labels.
    pub labels: &'static [&'static str],
    /// What it counts or measures (the `# HELP` text).
    pub help: &'static str,
}

/// The bucket bounds of every histogram, in seconds: from a fast API
/// answer (a millisecond) to a long action attempt (five minutes).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

const fn metric(
    name: &'static str,
    kind: MetricKind,
    binary: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDoc {
    MetricDoc {
        name,
        kind,
        binary,
        labels,
        help,
    }
}

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric, by binary.
pub const METRICS: &[MetricDoc] = &[
    metric(
        "contaxy_build_info",
        Gauge,
        "all",
        &["binary", "version"],
        "Always 1; its labels name the binary and its version.",
    ),
    metric(
        "contaxy_dead_letters_total",
        Counter,
        "all",
        &["class"],
        "Messages sent to the dead queue, by error class (transient, permanent, malformed).",
    ),
    metric(
        "contaxy_unroutable_publishes_total",
        Counter,
        "all",
        &[],
        "Mandatory publishes the broker returned because no queue was bound for them.",
    ),
    metric(
        "contaxy_api_requests_total",
        Counter,
        "api",
        &["method", "route", "status"],
        "Requests answered, by method, route template and status code (unmatched paths are not counted).",
    ),
    metric(
        "contaxy_api_request_duration_seconds",
        Histogram,
        "api",
        &["method", "route"],
        "Time from a request's arrival to its response head, by method and route template.",
    ),
    metric(
        "contaxy_api_dependency_unavailable_total",
        Counter,
        "api",
        &["dependency"],
        "Requests answered 503 because PostgreSQL or the object storage could not be reached.",
    ),
    metric(
        "contaxy_api_event_streams",
        Gauge,
        "api",
        &[],
        "Event streams (GET /projects/{id}/events) this API process is serving now.",
    ),
    metric(
        "contaxy_worker_actions_total",
        Counter,
        "worker",
        &["kind", "outcome"],
        "Action deliveries handled, by kind and outcome (succeeded, retrying, failed, waiting, duplicate, refused, ...).",
    ),
    metric(
        "contaxy_worker_attempt_seconds",
        Histogram,
        "worker",
        &["kind"],
        "How long one attempt of an action ran, by kind.",
    ),
    metric(
        "contaxy_worker_status_changes_total",
        Counter,
        "worker",
        &["status"],
        "Deployment status changes written and published, by new status.",
    ),
    metric(
        "contaxy_worker_log_streams",
        Gauge,
        "worker",
        &[],
        "Log streams (follow) this worker is serving now.",
    ),
    metric(
        "contaxy_worker_log_streams_ended_total",
        Counter,
        "worker",
        &["why"],
        "Log streams ended, by why (done, client gone, too long, ...).",
    ),
    metric(
        "contaxy_worker_subnets_blocked_total",
        Counter,
        "worker",
        &[],
        "Subnets the runtime refused (taken outside contaxy), blocked for an hour.",
    ),
    metric(
        "contaxy_worker_file_versions_deleted_total",
        Counter,
        "worker",
        &[],
        "Object versions deleted by file actions.",
    ),
    metric(
        "contaxy_worker_orphan_deployments_removed_total",
        Counter,
        "worker",
        &[],
        "Containers without a deployment row removed by the sweep.",
    ),
    metric(
        "contaxy_worker_orphan_volumes_removed_total",
        Counter,
        "worker",
        &[],
        "Volumes of deleted (or re-created) projects removed by the sweep.",
    ),
    metric(
        "contaxy_worker_orphan_networks_removed_total",
        Counter,
        "worker",
        &[],
        "Project networks with nothing attached removed by the sweep.",
    ),
    metric(
        "contaxy_worker_sweep_subnets_freed_total",
        Counter,
        "worker",
        &[],
        "Subnet allocations freed by the network sweep.",
    ),
    metric(
        "contaxy_scheduler_leader",
        Gauge,
        "scheduler",
        &[],
        "1 while this scheduler holds the leader lease, else 0.",
    ),
    metric(
        "contaxy_scheduler_schedule_slots_total",
        Counter,
        "scheduler",
        &["outcome"],
        "Schedule slots handled, by outcome (fired, skipped, missed, ...).",
    ),
    metric(
        "contaxy_scheduler_fire_lateness_seconds",
        Histogram,
        "scheduler",
        &[],
        "Time from a schedule's slot to its action being recorded.",
    ),
    metric(
        "contaxy_scheduler_relayed_actions_total",
        Counter,
        "scheduler",
        &[],
        "Actions the outbox relay published (never confirmed, or lost and brought back).",
    ),
    metric(
        "contaxy_scheduler_outbox_backlog",
        Gauge,
        "scheduler",
        &[],
        "Actions recorded and not yet confirmed by the broker, as of the relay's last pass.",
    ),
    metric(
        "contaxy_scheduler_dead_queue_messages",
        Gauge,
        "scheduler",
        &[],
        "Messages in the dead queue, as of the relay's last pass.",
    ),
    metric(
        "contaxy_scheduler_cleanup_passes_total",
        Counter,
        "scheduler",
        &["pass", "outcome"],
        "Cleanup passes run, by pass and outcome (ok, error).",
    ),
    metric(
        "contaxy_scheduler_cleanup_items_total",
        Counter,
        "scheduler",
        &["pass", "outcome"],
        "Things the cleanup passes acted on, by pass and outcome.",
    ),
];

/// Describes every metric to the installed recorder.
pub fn describe_all() {
    for metric in METRICS {
        match metric.kind {
            MetricKind::Counter => metrics::describe_counter!(metric.name, metric.help),
            MetricKind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            MetricKind::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

/// Looks a metric up by name.
pub fn find(name: &str) -> Option<&'static MetricDoc> {
    METRICS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/metrics.md has one table row per metric, naming it, its kind
    /// and its labels as here.
    #[test]
    fn the_docs_list_every_metric_and_nothing_else() {
        let page = include_str!("../../docs/metrics.md");
        let rows: Vec<(String, String, String)> = page
            .lines()
            .filter(|l| l.starts_with("| `contaxy_"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].to_owned(),
                    cells[3].to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = METRICS
            .iter()
            .map(|m| {
                let labels = m
                    .labels
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (m.name.to_owned(), m.kind.as_str().to_owned(), labels)
            })
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn names_are_unique_and_counters_end_in_total() {
        for (index, metric) in METRICS.iter().enumerate() {
            assert!(
                METRICS[index + 1..].iter().all(|m| m.name != metric.name),
                "{} twice",
                metric.name
            );
            assert_eq!(
                metric.kind == MetricKind::Counter,
                metric.name.ends_with("_total"),
                "{}",
                metric.name
            );
        }
    }
}
