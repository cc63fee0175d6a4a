use serde_json::json;

use super::*;

fn meta(kind: &str) -> serde_json::Value {
    json!({
        "name": "dep", "namespace": "ns-p-proj", "uid": "u-1",
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj",
                   "ctxy.deploymentId": "dep", "ctxy.deploymentType": kind},
        "annotations": {"ctxy.deploymentId": "Dep_Full", "ctxy.displayName": "Dep"}
    })
}

fn deployment(spec: serde_json::Value, status: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({"metadata": meta("service"), "spec": spec, "status": status}))
        .unwrap()
}

fn job(spec: serde_json::Value, status: serde_json::Value) -> Job {
    serde_json::from_value(json!({"metadata": meta("job"), "spec": spec, "status": status}))
        .unwrap()
}

const TEMPLATE: &str = r#"{"spec": {"containers": [{"name": "main"}]}}"#;

fn template() -> serde_json::Value {
    serde_json::from_str(TEMPLATE).unwrap()
}

#[test]
fn services_are_running_once_a_replica_is_ready_and_stopped_at_zero() {
    let selector = json!({"matchLabels": {"a": "b"}});
    let running = deployment(
        json!({"replicas": 1, "selector": selector, "template": template()}),
        json!({"readyReplicas": 1}),
    );
    let state = deployment_state(&running).unwrap();
    assert_eq!(state.status, DeploymentStatus::Running);
    assert_eq!(state.deployment_id, "Dep_Full");
    assert_eq!(state.project_id, "proj");
    assert_eq!(state.display_name, "Dep");
    assert_eq!(state.internal_id, "u-1");
    assert!(state.created_at.is_some());
    let pending = deployment(
        json!({"replicas": 1, "selector": selector, "template": template()}),
        json!({}),
    );
    assert_eq!(
        deployment_state(&pending).unwrap().status,
        DeploymentStatus::Pending
    );
    let stopped = deployment(
        json!({"replicas": 0, "selector": selector, "template": template()}),
        json!({}),
    );
    assert_eq!(
        deployment_state(&stopped).unwrap().status,
        DeploymentStatus::Stopped
    );
}

#[test]
fn jobs_end_succeeded_or_failed_with_the_exit_code() {
    let done = job(
        json!({"template": template()}),
        json!({"conditions": [{"type": "Complete", "status": "True"}],
               "completionTime": "2026-01-02T03:05:00Z"}),
    );
    let state = job_state(&done, None).unwrap();
    assert_eq!(
        (state.status, state.exit_code),
        (DeploymentStatus::Succeeded, Some(0))
    );
    assert!(state.finished_at.is_some());
    let failed = job(
        json!({"template": template()}),
        json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}),
    );
    let state = job_state(&failed, Some(3)).unwrap();
    assert_eq!(
        (state.status, state.exit_code),
        (DeploymentStatus::Failed, Some(3))
    );
    assert_eq!(state.reason.as_deref(), Some("BackoffLimitExceeded"));
    let suspended = job(json!({"template": template(), "suspend": true}), json!({}));
    assert_eq!(
        job_state(&suspended, None).unwrap().status,
        DeploymentStatus::Stopped
    );
    let running = job(
        json!({"template": template()}),
        json!({"active": 1, "ready": 1}),
    );
    assert_eq!(
        job_state(&running, None).unwrap().status,
        DeploymentStatus::Running
    );
}

#[test]
fn pods_become_status_changes_and_others_are_ignored() {
    let pod = |phase: &str, exit: Option<i32>| -> Pod {
        let statuses = exit.map(|code| {
            json!([{"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": code}}}])
        });
        serde_json::from_value(json!({
            "metadata": meta("job"),
            "status": {"phase": phase, "containerStatuses": statuses}
        }))
        .unwrap()
    };
    let at = Utc::now();
    let change = pod_change(&pod("Failed", Some(2)), false, at).unwrap();
    assert_eq!(
        (change.status, change.exit_code),
        (DeploymentStatus::Failed, Some(2))
    );
    assert_eq!(change.kind, DeploymentType::Job);
    assert_eq!(change.deployment_id, "Dep_Full");
    let change = pod_change(&pod("Succeeded", Some(0)), false, at).unwrap();
    assert_eq!(
        (change.status, change.exit_code),
        (DeploymentStatus::Succeeded, Some(0))
    );
    assert_eq!(
        pod_change(&pod("Running", None), false, at).unwrap().status,
        DeploymentStatus::Running
    );
    assert_eq!(
        pod_change(&pod("Running", None), true, at).unwrap().status,
        DeploymentStatus::Stopped
    );
    let foreign: Pod = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert!(pod_change(&foreign, false, at).is_none());
}
