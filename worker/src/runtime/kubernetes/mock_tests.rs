//! The request layer: [`KubeRuntime`] driven through kube's client over a
//! mock API server (`mock_server`). Each test asserts the requests (method,
//! path, query, body) in order and answers realistic responses, errors
//! included.

use serde_json::{Value, json};

use super::mock_server::{answer, applied, failure, our_namespace, respond, runtime};
use super::*;
use crate::runtime::DeploymentType;
use crate::runtime::kubernetes::objects::tests::{job_spec, service_spec};
use crate::runtime::state::DeploymentStatus;

#[tokio::test]
async fn a_new_service_is_applied_server_side_with_one_field_manager() {
    let (runtime, mut handle) = runtime().await;
    let spec = service_spec();
    let server = async {
        let mut seen = vec![answer(&mut handle, 200, our_namespace()).await];
        seen.push(answer(&mut handle, 404, failure(404, "NotFound")).await);
        seen.push(answer(&mut handle, 404, failure(404, "NotFound")).await);
        for _ in 0..4 {
            // The server answers an apply with the object, plus a uid.
            seen.push(respond(&mut handle, 200, applied).await);
        }
        seen
    };
    let (deployed, seen) = tokio::join!(runtime.deploy(&spec), server);
    let deployed = deployed.expect("deployed");
    assert!(!deployed.adopted);
    assert_eq!(deployed.state.deployment_id, spec.deployment_id);
    assert_eq!(deployed.state.kind, DeploymentType::Service);
    assert_eq!(deployed.state.status, DeploymentStatus::Pending);
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/api/v1/namespaces/ns-p-proj"),
            (
                "GET",
                "/apis/apps/v1/namespaces/ns-p-proj/deployments/ns-p-proj-s-web"
            ),
            (
                "GET",
                "/api/v1/namespaces/ns-p-proj/persistentvolumeclaims/ns-p-proj-s-web-vol"
            ),
            (
                "PATCH",
                "/api/v1/namespaces/ns-p-proj/secrets/ns-p-proj-s-web-token"
            ),
            (
                "PATCH",
                "/api/v1/namespaces/ns-p-proj/persistentvolumeclaims/ns-p-proj-s-web-vol"
            ),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/ns-p-proj/deployments/ns-p-proj-s-web"
            ),
            (
                "PATCH",
                "/api/v1/namespaces/ns-p-proj/services/ns-p-proj-s-web"
            ),
        ]
    );
    for apply in &seen[3..] {
        assert_eq!(apply.content_type, "application/apply-patch+yaml");
        assert!(
            apply.query.contains("fieldManager=contaxy-worker"),
            "{}",
            apply.query
        );
        assert!(apply.query.contains("force=true"), "{}", apply.query);
    }
    assert_eq!(seen[3].body["kind"], "Secret");
    assert_eq!(seen[5].body["kind"], "Deployment");
    assert!(!seen[5].body.to_string().contains("secret-token"));
    assert_eq!(seen[6].body["spec"]["type"], "ClusterIP");
}

#[tokio::test]
async fn a_deploy_without_the_project_namespace_is_network_missing_and_makes_nothing() {
    let (runtime, mut handle) = runtime().await;
    let spec = job_spec();
    let (result, seen) = tokio::join!(
        runtime.deploy(&spec),
        answer(&mut handle, 404, failure(404, "NotFound"))
    );
    assert_eq!(seen.path, "/api/v1/namespaces/ns-p-proj");
    let error = result.expect_err("no namespace");
    assert!(
        matches!(error, RuntimeError::NetworkMissing { ref network } if network == "ns-p-proj"),
        "{error:?}"
    );
    drop(runtime);
    assert!(
        handle.next_request().await.is_none(),
        "nothing else was asked"
    );
}

#[tokio::test]
async fn a_redelivered_job_is_adopted_as_it_is() {
    let (runtime, mut handle) = runtime().await;
    let spec = job_spec();
    let job = json!({"kind": "Job", "apiVersion": "batch/v1",
        "metadata": {"name": "ns-p-proj-j-run", "namespace": "ns-p-proj", "uid": "j-1",
            "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj",
                       "ctxy.deploymentId": "ns-p-proj-j-run", "ctxy.deploymentType": "job"},
            "annotations": {"ctxy.deploymentId": "ns-p-proj-j-run"}},
        "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
    let server = async {
        answer(&mut handle, 200, our_namespace()).await;
        answer(&mut handle, 200, job).await
    };
    let (deployed, seen) = tokio::join!(runtime.deploy(&spec), server);
    assert_eq!(
        seen.path,
        "/apis/batch/v1/namespaces/ns-p-proj/jobs/ns-p-proj-j-run"
    );
    let deployed = deployed.expect("adopted");
    assert!(deployed.adopted);
    assert_eq!(deployed.state.status, DeploymentStatus::Succeeded);
    assert_eq!(deployed.state.exit_code, Some(0));
    drop(runtime);
    assert!(
        handle.next_request().await.is_none(),
        "a job that ran is not applied again"
    );
}

#[tokio::test]
async fn a_permanently_refused_deploy_removes_its_volume_claim() {
    let (runtime, mut handle) = runtime().await;
    let mut spec = job_spec();
    spec.volume_path = Some("/data".to_owned());
    let server = async {
        answer(&mut handle, 200, our_namespace()).await;
        answer(&mut handle, 404, failure(404, "NotFound")).await;
        let claim_lookup = answer(&mut handle, 404, failure(404, "NotFound")).await;
        assert_eq!(claim_lookup.method, "GET");
        let claim = answer(&mut handle, 201, json!({})).await;
        let job = answer(&mut handle, 422, failure(422, "Invalid")).await;
        let mut deletes = Vec::new();
        for _ in 0..4 {
            deletes.push(answer(&mut handle, 404, failure(404, "NotFound")).await);
        }
        (claim, job, deletes)
    };
    let (result, (claim, job, deletes)) = tokio::join!(runtime.deploy(&spec), server);
    assert!(
        claim
            .path
            .ends_with("/persistentvolumeclaims/ns-p-proj-j-run-vol")
    );
    assert!(job.path.ends_with("/jobs/ns-p-proj-j-run"));
    let error = result.expect_err("refused");
    assert!(
        matches!(error, RuntimeError::Rejected { status: 422, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let deleted: Vec<&str> = deletes
        .iter()
        .map(|s| {
            s.path
                .rsplit_once("/namespaces/ns-p-proj/")
                .expect("path")
                .1
        })
        .collect();
    assert_eq!(
        deleted,
        [
            "jobs/ns-p-proj-j-run",
            "services/ns-p-proj-j-run",
            "secrets/ns-p-proj-j-run-token",
            "persistentvolumeclaims/ns-p-proj-j-run-vol"
        ]
    );
    for delete in &deletes {
        assert_eq!(delete.method, "DELETE");
        assert_eq!(delete.body["propagationPolicy"], "Background", "{delete:?}");
    }
}

#[tokio::test]
async fn deleting_what_is_gone_succeeds() {
    let (runtime, mut handle) = runtime().await;
    let target = DeploymentRef::new("proj", "ns-p-proj-s-web");
    let server = async {
        let a = answer(&mut handle, 404, failure(404, "NotFound")).await;
        let b = answer(&mut handle, 404, failure(404, "NotFound")).await;
        (a, b)
    };
    let (result, (a, b)) = tokio::join!(runtime.delete(&target, DeleteOptions::default()), server);
    result.expect("gone is success");
    assert!(a.path.starts_with("/apis/apps/v1/"));
    assert!(b.path.starts_with("/apis/batch/v1/"));
}

#[tokio::test]
async fn answers_are_classified_conflicts_and_server_failures_retryable() {
    let (runtime, mut handle) = runtime().await;
    let target = DeploymentRef::new("proj", "ns-p-proj-s-web");
    for (code, reason, kind, retryable) in [
        (409, "Conflict", "conflict", true),
        (429, "TooManyRequests", "engine_failure", true),
        (500, "InternalError", "engine_failure", true),
        (503, "ServiceUnavailable", "engine_failure", true),
        (403, "Forbidden", "rejected", false),
    ] {
        let (result, _) = tokio::join!(
            runtime.status(&target),
            answer(&mut handle, code, failure(code, reason))
        );
        let error = result.expect_err("an error");
        assert_eq!(
            (error.kind(), error.is_retryable()),
            (kind, retryable),
            "{code}: {error}"
        );
    }
}

#[tokio::test]
async fn stopping_a_service_scales_it_to_zero() {
    let (runtime, mut handle) = runtime().await;
    let target = DeploymentRef::new("proj", "ns-p-proj-s-web");
    let deployment = json!({"kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "ns-p-proj-s-web", "namespace": "ns-p-proj",
            "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj",
                       "ctxy.deploymentId": "ns-p-proj-s-web", "ctxy.deploymentType": "service"},
            "annotations": {"ctxy.deploymentId": "ns-p-proj-s-web"}},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "main"}]}}}});
    let server = async {
        answer(&mut handle, 200, deployment.clone()).await;
        answer(&mut handle, 200, deployment.clone()).await
    };
    let (result, patch) = tokio::join!(runtime.stop(&target), server);
    result.expect("stopped");
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.content_type, "application/merge-patch+json");
    assert_eq!(patch.body, json!({"spec": {"replicas": 0}}));
}

#[tokio::test]
async fn a_project_network_is_its_namespace_and_policy_applied_server_side() {
    let (runtime, mut handle) = runtime().await;
    let server = async {
        let lookup = answer(&mut handle, 404, failure(404, "NotFound")).await;
        let namespace = respond(&mut handle, 201, applied).await;
        let policy = respond(&mut handle, 201, applied).await;
        let isolation = respond(&mut handle, 201, applied).await;
        (lookup, namespace, policy, isolation)
    };
    let (network, (lookup, namespace, policy, isolation)) =
        tokio::join!(runtime.ensure_network("proj", None), server);
    let network = network.expect("ensured");
    assert_eq!(
        (network.name.as_str(), network.id.as_str()),
        ("ns-p-proj", "uid-1")
    );
    assert_eq!(lookup.path, "/api/v1/namespaces/ns-p-proj");
    assert_eq!(
        (namespace.method.as_str(), namespace.path.as_str()),
        ("PATCH", "/api/v1/namespaces/ns-p-proj")
    );
    assert_eq!(
        namespace.body["metadata"]["labels"]["ctxy.projectName"],
        "proj"
    );
    assert_eq!(
        policy.path,
        "/apis/networking.k8s.io/v1/namespaces/ns-p-proj/networkpolicies/ctxy-project-ingress"
    );
    assert_eq!(policy.body["spec"]["policyTypes"], json!(["Ingress"]));
    assert!(policy.query.contains("fieldManager=contaxy-worker"));
    assert_eq!(
        (isolation.method.as_str(), isolation.path.as_str()),
        (
            "PATCH",
            "/apis/networking.k8s.io/v1/namespaces/ns-p-proj/networkpolicies/ctxy-disconnected"
        )
    );
    assert_eq!(isolation.content_type, "application/apply-patch+yaml");
    assert_eq!(
        isolation.body["spec"]["policyTypes"],
        json!(["Ingress", "Egress"])
    );
}

#[tokio::test]
async fn a_namespace_that_is_not_ours_is_never_adopted() {
    let (runtime, mut handle) = runtime().await;
    let foreign =
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "ns-p-proj"}});
    let (result, _) = tokio::join!(
        runtime.ensure_network("proj", None),
        answer(&mut handle, 200, foreign)
    );
    let error = result.expect_err("not ours");
    assert!(
        matches!(error, RuntimeError::NotManaged { .. }),
        "{error:?}"
    );
    drop(runtime);
    assert!(handle.next_request().await.is_none(), "nothing was applied");
}

#[tokio::test]
async fn a_network_with_deployments_is_in_use() {
    let (runtime, mut handle) = runtime().await;
    let deployment = json!({"metadata": {"name": "web", "namespace": "ns-p-proj",
        "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj", "ctxy.deploymentId": "web"},
        "annotations": {"ctxy.deploymentId": "web"}},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "main"}]}}}});
    let list = |kind: &str, items: Value| json!({"kind": kind, "apiVersion": "v1", "metadata": {}, "items": items});
    let server = async {
        answer(&mut handle, 200, our_namespace()).await;
        let deployments = answer(
            &mut handle,
            200,
            list("DeploymentList", json!([deployment])),
        )
        .await;
        let jobs = answer(&mut handle, 200, list("JobList", json!([]))).await;
        (deployments, jobs)
    };
    let (result, (deployments, jobs)) = tokio::join!(runtime.delete_network("proj"), server);
    assert_eq!(deployments.path, "/apis/apps/v1/deployments");
    assert!(
        deployments
            .query
            .contains("labelSelector=ctxy.namespace%3Dns%2Cctxy.projectName%3Dproj"),
        "{}",
        deployments.query
    );
    assert_eq!(jobs.path, "/apis/batch/v1/jobs");
    let error = result.expect_err("in use");
    assert!(
        matches!(error, RuntimeError::NetworkInUse { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_refused_deploy_keeps_a_claim_that_was_there_before() {
    let (runtime, mut handle) = runtime().await;
    let mut spec = job_spec();
    spec.volume_path = Some("/data".to_owned());
    let server = async {
        answer(&mut handle, 200, our_namespace()).await;
        answer(&mut handle, 404, failure(404, "NotFound")).await;
        answer(
            &mut handle,
            200,
            json!({"metadata": {"name": "ns-p-proj-j-run-vol"}}),
        )
        .await;
        answer(&mut handle, 200, json!({})).await;
        answer(&mut handle, 422, failure(422, "Invalid")).await;
        let mut deletes = Vec::new();
        for _ in 0..3 {
            deletes.push(
                answer(&mut handle, 404, failure(404, "NotFound"))
                    .await
                    .path,
            );
        }
        deletes
    };
    let (result, deletes) = tokio::join!(runtime.deploy(&spec), server);
    assert!(matches!(
        result,
        Err(RuntimeError::Rejected { status: 422, .. })
    ));
    assert!(
        deletes
            .iter()
            .all(|path| !path.contains("persistentvolumeclaims")),
        "{deletes:?}"
    );
    drop(runtime);
    assert!(
        handle.next_request().await.is_none(),
        "the earlier claim is kept"
    );
}
