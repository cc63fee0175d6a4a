//! The runtime conformance suite (`conformance/cases.rs`), every case run
//! on each backend: `docker::<case>` against the Docker Engine here, and
//! `kubernetes::<case>` against the cluster `KUBECONFIG` names. Without
//! `KUBECONFIG` a Kubernetes case prints `SKIPPED: …` on stderr and returns
//! at once: it verified nothing, whatever the runner's summary says. To run
//! them against a cluster (docs/kubernetes.md):
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo nextest run -p contaxy-worker \
//!     --test runtime_conformance -E 'test(/^kubernetes::/)' --no-capture
//! ```

mod conformance;

use conformance::{cases, subjects};

/// One test per case and backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod docker {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let subject = subjects::docker().await;
                    cases::$case(&subject).await;
                }
            )*
        }

        mod kubernetes {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(subject) = subjects::kubernetes(stringify!($case)).await else {
                        return;
                    };
                    cases::$case(&subject).await;
                }
            )*
        }
    };
}

conformance!(
    the_runtime_reports_its_backend_and_capacity,
    a_job_ends_with_its_exit_code_and_its_logs_can_be_cut,
    a_followed_log_yields_new_output_and_ends_when_stopped,
    a_service_is_adopted_on_redelivery_and_stopped_and_started,
    deleting_is_idempotent,
    a_deploy_without_its_network_is_network_missing,
    networks_are_ensured_connected_disconnected_and_removed,
    isolation_follows_the_project_and_disconnection,
    volumes_are_listed_and_removed_once_unused,
);
