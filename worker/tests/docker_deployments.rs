//! Deployments on the real Docker Engine: jobs, services, adoption,
//! deletion, permanent errors and tenancy. Each test has its own namespace.

#![allow(clippy::unwrap_used)]

use bollard::query_parameters::CreateContainerOptions;
use contaxy_tests::runtime::TestRuntime;
use contaxy_tests::{IDLE, IMAGE};
use contaxy_worker::runtime::{
    DeleteOptions, DeploymentRef, DeploymentStatus, DeploymentType, LogOptions, LogSource, Runtime,
    RuntimeError,
};
use futures::StreamExt;

#[tokio::test]
async fn a_job_runs_to_succeeded_and_its_logs_hold_what_it_printed() {
    let test = TestRuntime::new().await;
    let runtime = test.dyn_runtime();
    let spec = test.job("alpha", "hello", "echo hello-out; echo hello-err >&2");

    let deployed = test.deploy(&spec).await.unwrap();
    assert!(!deployed.adopted);
    assert_eq!(deployed.state.deployment_id, spec.deployment_id);

    let state = test.wait_until_ended(&spec.target()).await;
    assert_eq!(state.status, DeploymentStatus::Succeeded);
    assert_eq!(state.exit_code, Some(0));
    assert_eq!(state.display_name, "hello");
    assert!(state.started_at.is_some() && state.finished_at.is_some());

    let mut stream = runtime
        .logs(&spec.target(), LogOptions::default())
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        chunks.push((chunk.source, chunk.text().into_owned()));
    }
    assert!(
        chunks.contains(&(LogSource::Stdout, "hello-out\n".to_owned())),
        "{chunks:?}"
    );
    assert!(
        chunks.contains(&(LogSource::Stderr, "hello-err\n".to_owned())),
        "{chunks:?}"
    );
}

#[tokio::test]
async fn a_failing_job_is_failed_with_its_exit_code() {
    let test = TestRuntime::new().await;
    let spec = test.job("alpha", "fails", "echo about-to-fail; exit 3");
    test.deploy(&spec).await.unwrap();

    let state = test.wait_until_ended(&spec.target()).await;
    assert_eq!(state.status, DeploymentStatus::Failed);
    assert_eq!(state.exit_code, Some(3));
    let listed = test.runtime.list(Some("alpha")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].status, listed[0].exit_code),
        (DeploymentStatus::Failed, Some(3))
    );
}

#[tokio::test]
async fn a_service_runs_and_can_be_stopped_started_and_restarted() {
    let test = TestRuntime::new().await;
    let runtime = test.dyn_runtime();
    let spec = test.service("alpha", "web", &format!("echo up; {IDLE}"));
    let target = spec.target();
    test.deploy(&spec).await.unwrap();
    let first = test
        .wait_for(&target, "running", |s| {
            s.status == DeploymentStatus::Running
        })
        .await;

    runtime.stop(&target).await.unwrap();
    let stopped = runtime.status(&target).await.unwrap().unwrap();
    assert_ne!(stopped.status, DeploymentStatus::Running, "{stopped:?}");
    assert!(stopped.exit_code.is_some());
    runtime.stop(&target).await.unwrap(); // stopping a stopped one is a no-op

    runtime.start(&target).await.unwrap();
    let started = test
        .wait_for(&target, "running again", |s| {
            s.status == DeploymentStatus::Running
        })
        .await;
    assert!(started.started_at > first.started_at);
    runtime.start(&target).await.unwrap(); // starting a running one is a no-op

    runtime.restart(&target).await.unwrap();
    let restarted = test
        .wait_for(&target, "running after restart", |s| {
            s.status == DeploymentStatus::Running && s.started_at > started.started_at
        })
        .await;
    assert_eq!(
        restarted.internal_id, first.internal_id,
        "the same container"
    );
}

#[tokio::test]
async fn delete_removes_the_container_and_on_request_its_volume() {
    let test = TestRuntime::new().await;
    let runtime = test.dyn_runtime();
    let mut spec = test.service("alpha", "store", &format!("echo kept > /data/file; {IDLE}"));
    spec.volume_path = Some("/data".to_owned());
    spec.max_volume_size_mb = Some(16);
    let target = spec.target();
    test.deploy(&spec).await.unwrap();
    test.wait_for(&target, "running", |s| {
        s.status == DeploymentStatus::Running
    })
    .await;
    let volume = format!("{}-vol", spec.deployment_id);
    let inspected = test.docker().inspect_volume(&volume).await.unwrap();
    assert_eq!(inspected.labels["ctxy.namespace"], test.namespace);
    assert_eq!(inspected.labels["ctxy.maxVolumeSizeMb"], "16");

    runtime
        .delete(&target, DeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(runtime.status(&target).await.unwrap(), None);
    assert!(
        test.docker()
            .inspect_container(&spec.deployment_id, None)
            .await
            .is_err()
    );
    assert!(
        test.docker().inspect_volume(&volume).await.is_ok(),
        "the volume outlives the container unless asked"
    );

    // The container is gone already; the delete still removes the volume.
    let options = DeleteOptions {
        delete_volumes: true,
    };
    runtime.delete(&target, options).await.unwrap();
    let error = test.docker().inspect_volume(&volume).await.unwrap_err();
    assert!(error.to_string().contains("404"), "{error}");
}

#[tokio::test]
async fn deploying_the_same_spec_twice_adopts_the_first_container() {
    let test = TestRuntime::new().await;
    let runtime = test.dyn_runtime();
    let spec = test.service("alpha", "twice", IDLE);
    let first = test.deploy(&spec).await.unwrap();
    let second = test.deploy(&spec).await.unwrap();
    assert!(!first.adopted);
    assert!(second.adopted);
    assert_eq!(second.state.internal_id, first.state.internal_id);

    // Two deliveries at the same moment, as two workers would run them.
    let racing = test.service("alpha", "racing", IDLE);
    let other = test.sibling().await;
    let (a, b) = tokio::join!(runtime.deploy(&racing), other.deploy(&racing));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.state.internal_id, b.state.internal_id);
    assert!(a.adopted != b.adopted, "exactly one created it");

    let ids: Vec<_> = runtime
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.deployment_id)
        .collect();
    assert_eq!(
        ids,
        [racing.deployment_id.clone(), spec.deployment_id.clone()]
    );
}

#[tokio::test]
async fn an_adopted_job_that_finished_is_not_run_again() {
    let test = TestRuntime::new().await;
    let spec = test.job("alpha", "once", "echo ran");
    test.deploy(&spec).await.unwrap();
    let ended = test.wait_until_ended(&spec.target()).await;
    let again = test.deploy(&spec).await.unwrap();
    assert!(again.adopted);
    assert_eq!(again.state.started_at, ended.started_at);
    let logs = test.logs(&spec.target(), LogOptions::default()).await;
    assert_eq!(logs, "ran\n");
}

#[tokio::test]
async fn deleting_a_missing_deployment_succeeds() {
    let test = TestRuntime::new().await;
    let target = DeploymentRef::new("alpha", test.id("alpha", DeploymentType::Job, "never"));
    let options = DeleteOptions {
        delete_volumes: true,
    };
    test.runtime.delete(&target, options).await.unwrap();
    assert_eq!(test.runtime.status(&target).await.unwrap(), None);
}

#[tokio::test]
async fn a_missing_image_is_a_permanent_error_and_leaves_nothing_behind() {
    let test = TestRuntime::new().await;
    let mut spec = test.job("alpha", "noimage", "true");
    spec.image = "contaxy/does-not-exist:never".to_owned();
    let error = test.deploy(&spec).await.unwrap_err();
    assert!(
        matches!(error, RuntimeError::ImageUnavailable { .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(
        error.to_string().starts_with(
            "image contaxy/does-not-exist:never is not available locally and could not be pulled: "
        ),
        "{error}"
    );
    assert_eq!(test.runtime.status(&spec.target()).await.unwrap(), None);
}

/// Under Docker's init the container starts and the init cannot run the
/// command: the job fails with 127 (as a shell says "not found") and its
/// logs say why.
#[tokio::test]
async fn a_command_that_cannot_start_fails_the_job_with_127_and_its_logs_say_why() {
    let test = TestRuntime::new().await;
    let mut spec = test.job("alpha", "nocmd", "");
    spec.command = vec!["/no/such/binary".to_owned()];
    spec.args.clear();
    test.deploy(&spec).await.unwrap();
    let ended = test.wait_until_ended(&spec.target()).await;
    assert_eq!(ended.status, DeploymentStatus::Failed, "{ended:?}");
    assert_eq!(ended.exit_code, Some(127), "{ended:?}");
    let logs = test
        .wait_for_output(&spec.target(), "/no/such/binary")
        .await;
    assert!(logs.contains("exec /no/such/binary failed"), "{logs}");
}

#[tokio::test]
async fn gpus_on_a_host_without_a_gpu_driver_are_a_permanent_error() {
    let test = TestRuntime::new().await;
    let mut spec = test.job("alpha", "gpu", "true");
    spec.compute.gpus = Some(1);
    let error = test.deploy(&spec).await.unwrap_err();
    assert!(
        matches!(error, RuntimeError::GpuUnavailable { .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(test.runtime.status(&spec.target()).await.unwrap(), None);
}

#[tokio::test]
async fn asking_for_more_than_the_host_has_is_insufficient_capacity() {
    let test = TestRuntime::new().await;
    let capacity = test.runtime.engine().capacity;
    assert!(
        capacity.cpus >= 1.0 && capacity.memory_bytes > 0,
        "{capacity:?}"
    );
    let mut spec = test.job("alpha", "huge", "true");
    spec.compute.min_cpus = Some(capacity.cpus + 1.0);
    let error = test.deploy(&spec).await.unwrap_err();
    assert!(
        matches!(
            error,
            RuntimeError::InsufficientCapacity {
                field: "min_cpus",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(test.runtime.list(None).await.unwrap(), []);
}

#[tokio::test]
async fn another_projects_deployment_cannot_be_seen_or_touched() {
    let test = TestRuntime::new().await;
    let spec = test.service("alpha", "private", IDLE);
    test.deploy(&spec).await.unwrap();
    let elsewhere = DeploymentRef::new("beta", &spec.deployment_id);

    assert_eq!(test.runtime.status(&elsewhere).await.unwrap(), None);
    let error = test.runtime.stop(&elsewhere).await.unwrap_err();
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");
    assert!(
        test.runtime
            .logs(&elsewhere, LogOptions::default())
            .await
            .is_err()
    );
    test.runtime
        .delete(&elsewhere, DeleteOptions::default())
        .await
        .unwrap();
    assert!(
        test.runtime.status(&spec.target()).await.unwrap().is_some(),
        "still there"
    );
    assert_eq!(test.runtime.list(Some("beta")).await.unwrap(), []);
    assert_eq!(test.runtime.list(Some("alpha")).await.unwrap().len(), 1);

    let mut clash = test.service("beta", "private", IDLE);
    clash.deployment_id = spec.deployment_id.clone();
    let error = test.deploy(&clash).await.unwrap_err();
    assert!(
        matches!(error, RuntimeError::NotManaged { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_name_held_by_an_unmanaged_container_is_never_adopted() {
    let test = TestRuntime::new().await;
    let spec = test.job("alpha", "squatted", "true");
    // Labelled with the namespace only, so the guard still cleans it up.
    let body = bollard::models::ContainerCreateBody {
        image: Some(IMAGE.to_owned()),
        cmd: Some(vec!["true".to_owned()]),
        labels: Some([("ctxy.namespace".to_owned(), test.namespace.clone())].into()),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(spec.deployment_id.clone()),
        platform: String::new(),
    };
    test.docker()
        .create_container(Some(options), body)
        .await
        .unwrap();

    let error = test.deploy(&spec).await.unwrap_err();
    assert!(
        matches!(error, RuntimeError::NotManaged { .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    test.runtime
        .delete(&spec.target(), DeleteOptions::default())
        .await
        .unwrap();
    assert!(
        test.docker()
            .inspect_container(&spec.deployment_id, None)
            .await
            .is_ok(),
        "a container we do not manage is never removed"
    );
}
