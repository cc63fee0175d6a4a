use std::collections::HashMap;

use bollard::models::{
    ContainerConfig, ContainerState, ContainerStateStatusEnum, ContainerSummaryStateEnum,
};

use super::*;

#[test]
fn docker_states_map_to_contaxy_statuses() {
    use DeploymentStatus::*;
    let cases = [
        ("created", None, Pending),
        ("restarting", None, Pending),
        ("running", None, Running),
        ("exited", Some(0), Succeeded),
        ("exited", Some(3), Failed),
        ("exited", Some(137), Failed),
        ("exited", None, Failed),
        ("dead", None, Failed),
        ("removing", None, Terminating),
        ("stopping", None, Terminating),
        ("paused", None, Unknown),
        ("", None, Unknown),
        ("something-new", None, Unknown),
    ];
    for (state, exit_code, expected) in cases {
        assert_eq!(
            status_from_docker(state, exit_code),
            expected,
            "{state} {exit_code:?}"
        );
    }
}

#[test]
fn every_engine_state_name_is_mapped_deliberately() {
    // The enums' names are what `status_from_docker` receives.
    for state in [
        ContainerStateStatusEnum::CREATED,
        ContainerStateStatusEnum::RUNNING,
        ContainerStateStatusEnum::RESTARTING,
        ContainerStateStatusEnum::REMOVING,
        ContainerStateStatusEnum::EXITED,
        ContainerStateStatusEnum::DEAD,
        ContainerStateStatusEnum::STOPPING,
    ] {
        assert_ne!(
            status_from_docker(state.as_ref(), Some(1)),
            DeploymentStatus::Unknown,
            "{state}"
        );
    }
    assert_eq!(ContainerSummaryStateEnum::EXITED.to_string(), "exited");
}

#[test]
fn the_exit_code_is_read_from_a_listing_status_text() {
    assert_eq!(
        exit_code_from_status_text("Exited (0) 3 seconds ago"),
        Some(0)
    );
    assert_eq!(
        exit_code_from_status_text("Exited (137) About a minute ago"),
        Some(137)
    );
    assert_eq!(exit_code_from_status_text("Up 5 minutes"), None);
    assert_eq!(exit_code_from_status_text("Created"), None);
    assert_eq!(exit_code_from_status_text("Exited (x) now"), None);
    assert_eq!(exit_code_from_status_text(""), None);
}

#[test]
fn dockers_zero_time_means_never() {
    assert_eq!(parse_time(Some("0001-01-01T00:00:00Z")), None);
    assert_eq!(parse_time(None), None);
    assert_eq!(parse_time(Some("garbage")), None);
    let time = parse_time(Some("2024-05-01T10:00:00.123456789Z")).unwrap();
    assert_eq!(time.timestamp(), 1_714_557_600);
    assert_eq!(time.timestamp_subsec_nanos(), 123_456_789);
}

fn our_labels() -> HashMap<String, String> {
    HashMap::from([
        (labels::PROJECT.to_owned(), "proj".to_owned()),
        (labels::DEPLOYMENT_ID.to_owned(), "dep".to_owned()),
        (labels::DEPLOYMENT_TYPE.to_owned(), "job".to_owned()),
        (labels::DISPLAY_NAME.to_owned(), "My job".to_owned()),
    ])
}

fn inspected(
    status: ContainerStateStatusEnum,
    exit_code: i64,
    oom: bool,
) -> ContainerInspectResponse {
    ContainerInspectResponse {
        id: Some("c1".to_owned()),
        created: Some("2024-05-01T10:00:00Z".to_owned()),
        config: Some(ContainerConfig {
            labels: Some(our_labels()),
            ..ContainerConfig::default()
        }),
        state: Some(ContainerState {
            status: Some(status),
            running: Some(status == ContainerStateStatusEnum::RUNNING),
            exit_code: Some(exit_code),
            oom_killed: Some(oom),
            started_at: Some("2024-05-01T10:00:01Z".to_owned()),
            finished_at: Some("0001-01-01T00:00:00Z".to_owned()),
            ..ContainerState::default()
        }),
        ..ContainerInspectResponse::default()
    }
}

#[test]
fn an_inspected_job_that_failed_reports_its_exit_code() {
    let state = state_from_inspect(&inspected(ContainerStateStatusEnum::EXITED, 3, false)).unwrap();
    assert_eq!(state.status, DeploymentStatus::Failed);
    assert_eq!(state.exit_code, Some(3));
    assert_eq!(state.kind, DeploymentType::Job);
    assert_eq!(
        (state.project_id.as_str(), state.deployment_id.as_str()),
        ("proj", "dep")
    );
    assert_eq!(state.display_name, "My job");
    assert_eq!(state.internal_id, "c1");
    assert!(state.started_at.is_some() && state.created_at.is_some());
    assert_eq!(state.reason, None);
}

#[test]
fn a_running_container_has_no_exit_code_and_an_oom_kill_is_named() {
    let running =
        state_from_inspect(&inspected(ContainerStateStatusEnum::RUNNING, 0, false)).unwrap();
    assert_eq!(
        (running.status, running.exit_code),
        (DeploymentStatus::Running, None)
    );
    assert_eq!(running.finished_at, None);
    let oom = state_from_inspect(&inspected(ContainerStateStatusEnum::EXITED, 137, true)).unwrap();
    assert_eq!(oom.status, DeploymentStatus::Failed);
    assert_eq!(oom.reason.as_deref(), Some("out of memory"));
}

#[test]
fn containers_without_our_labels_have_no_state() {
    let mut container = inspected(ContainerStateStatusEnum::RUNNING, 0, false);
    container.config = None;
    assert!(state_from_inspect(&container).is_none());
    let mut container = inspected(ContainerStateStatusEnum::RUNNING, 0, false);
    container
        .config
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(labels::DEPLOYMENT_TYPE.to_owned(), "cronjob".to_owned());
    assert!(state_from_inspect(&container).is_none());
    assert!(state_from_summary(&ContainerSummary::default()).is_none());
}

#[test]
fn a_listed_container_reports_status_and_exit_code() {
    let summary = ContainerSummary {
        id: Some("c2".to_owned()),
        labels: Some(our_labels()),
        state: Some(ContainerSummaryStateEnum::EXITED),
        status: Some("Exited (0) 2 seconds ago".to_owned()),
        created: Some(1_714_557_600),
        ..ContainerSummary::default()
    };
    let state = state_from_summary(&summary).unwrap();
    assert_eq!(
        (state.status, state.exit_code),
        (DeploymentStatus::Succeeded, Some(0))
    );
    assert_eq!(state.created_at.unwrap().timestamp(), 1_714_557_600);
    assert_eq!(state.internal_id, "c2");
}
