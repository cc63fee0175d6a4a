//! The Kubernetes backend against a real cluster: networks, a job to its
//! end with its logs, a service stopped and started, idempotent
//! redelivery, delete. No cluster can be reached where this repository is
//! developed, so the test is ignored by default (nextest lists it as
//! skipped, never as passed); run it with a kubeconfig:
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo nextest run -p contaxy-worker \
//!     --test kubernetes_conformance --run-ignored all
//! ```
//!
//! Run without `KUBECONFIG` it fails saying so, rather than passing.

use std::time::Duration;

use contaxy_worker::runtime::kubernetes::{KubeRuntime, KubeRuntimeConfig};
use contaxy_worker::runtime::{
    DeleteOptions, DeploymentSpec, DeploymentStatus, DeploymentType, Endpoint, LogOptions, Runtime,
};
use futures::StreamExt;

/// An image any cluster with registry access can pull.
const IMAGE: &str = "busybox:1.36";

async fn wait_for_status(
    runtime: &KubeRuntime,
    spec: &DeploymentSpec,
    wanted: DeploymentStatus,
) -> contaxy_worker::runtime::DeploymentState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let state = runtime.status(&spec.target()).await.expect("status");
        if let Some(state) = state.filter(|s| s.status == wanted) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never became {wanted}",
            spec.deployment_id
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: set KUBECONFIG and pass --run-ignored all"]
async fn the_kubernetes_backend_runs_jobs_and_services_on_a_real_cluster() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: the Kubernetes conformance run was skipped, not passed"
    );
    let namespace = format!("ct{}", std::process::id() % 100_000);
    let runtime = KubeRuntime::connect(KubeRuntimeConfig::with_namespace(&namespace))
        .await
        .expect("connected to the cluster");
    assert!(runtime.capacity().cpus > 0.0);
    let project = "conformance";
    let network = runtime
        .ensure_network(project, None)
        .await
        .expect("network");
    assert_eq!(
        runtime
            .ensure_network(project, None)
            .await
            .expect("again")
            .name,
        network.name
    );

    let mut job = DeploymentSpec::new(
        project,
        format!("{namespace}-j-hello"),
        DeploymentType::Job,
        IMAGE,
    );
    job.command = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "echo hello; exit 3".to_owned(),
    ];
    let deployed = runtime.deploy(&job).await.expect("job deployed");
    assert!(!deployed.adopted);
    let failed = wait_for_status(&runtime, &job, DeploymentStatus::Failed).await;
    assert_eq!(failed.exit_code, Some(3));
    let redelivered = runtime.deploy(&job).await.expect("redelivered");
    assert!(
        redelivered.adopted,
        "a job that ran is adopted, not run again"
    );
    let logs: Vec<String> = runtime
        .logs(&job.target(), LogOptions::default())
        .await
        .expect("logs")
        .map(|chunk| chunk.expect("chunk").text().into_owned())
        .collect()
        .await;
    assert_eq!(logs.concat(), "hello\n");

    let mut service = DeploymentSpec::new(
        project,
        format!("{namespace}-s-web"),
        DeploymentType::Service,
        IMAGE,
    );
    service.command = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "httpd -f -p 8080".to_owned(),
    ];
    service.endpoints = vec![Endpoint::parse("8080").expect("endpoint")];
    service.env.insert(
        "CONTAXY_API_TOKEN".to_owned(),
        "conformance-token".to_owned(),
    );
    runtime.deploy(&service).await.expect("service deployed");
    wait_for_status(&runtime, &service, DeploymentStatus::Running).await;
    assert!(runtime.deploy(&service).await.expect("redelivered").adopted);
    runtime.stop(&service.target()).await.expect("stopped");
    wait_for_status(&runtime, &service, DeploymentStatus::Stopped).await;
    runtime.start(&service.target()).await.expect("started");
    wait_for_status(&runtime, &service, DeploymentStatus::Running).await;
    let listed = runtime.list(Some(project)).await.expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");

    for spec in [&job, &service] {
        runtime
            .delete(
                &spec.target(),
                DeleteOptions {
                    delete_volumes: true,
                },
            )
            .await
            .expect("deleted");
        runtime
            .delete(&spec.target(), DeleteOptions::default())
            .await
            .expect("gone is success");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while runtime.delete_network(project).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the namespace stayed in use"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    runtime
        .delete_network(project)
        .await
        .expect("gone is success");
}
