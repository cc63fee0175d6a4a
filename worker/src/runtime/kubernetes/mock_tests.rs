//! The request layer: [`KubeRuntime`] driven through kube's client over an
//! in-process service (`tower-test`, as kube's own tests do) that answers
//! like an API server. Each test asserts the requests (method, path, query,
//! body) in order and answers realistic responses, errors included.

use futures::StreamExt;
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;
use crate::runtime::DeploymentType;
use crate::runtime::kubernetes::objects::tests::{job_spec, service_spec};
use crate::runtime::state::DeploymentStatus;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request as the mock API server saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

/// Answers the next request with `status` and the JSON `reply`.
async fn answer(handle: &mut Handle, status: u16, reply: Value) -> Seen {
    let (request, send) = handle.next_request().await.expect("a request");
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.expect("the request body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    send.send_response(
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&reply).expect("json")))
            .expect("a response"),
    );
    Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        content_type: parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body,
    }
}

/// The API server's error body.
fn failure(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("{reason} ({code})"), "reason": reason, "code": code})
}

fn nodes() -> Value {
    json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
           "items": [{"metadata": {"name": "n1"},
                      "status": {"allocatable": {"cpu": "8", "memory": "32Gi"}}}]})
}

fn our_namespace() -> Value {
    json!({"kind": "Namespace", "apiVersion": "v1",
           "metadata": {"name": "ns-p-proj", "uid": "ns-uid",
                        "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj"}}})
}

/// What the server answers to an apply: the object as sent, with a uid.
fn applied(seen: &Seen) -> Value {
    let mut object = seen.body.clone();
    object["metadata"]["uid"] = json!("uid-1");
    object
}

async fn runtime() -> (KubeRuntime, Handle) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let config = KubeRuntimeConfig::with_namespace("ns");
    let (runtime, seen) = tokio::join!(
        KubeRuntime::with_client(client, config),
        answer(&mut handle, 200, nodes())
    );
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/api/v1/nodes")
    );
    let runtime = runtime.expect("connected");
    assert_eq!(runtime.capacity().cpus, 8.0);
    assert_eq!(runtime.capacity().memory_bytes, 32 << 30);
    (runtime, handle)
}

#[tokio::test]
async fn a_new_service_is_applied_server_side_with_one_field_manager() {
    let (runtime, mut handle) = runtime().await;
    let spec = service_spec();
    let server = async {
        let mut seen = vec![answer(&mut handle, 200, our_namespace()).await];
        seen.push(answer(&mut handle, 404, failure(404, "NotFound")).await);
        for _ in 0..4 {
            let (request, send) = handle.next_request().await.expect("an apply");
            // Answer with the body itself (as the server would, plus a uid).
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("body");
            let body: Value = serde_json::from_slice(&bytes).expect("json");
            let request_seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                content_type: parts.headers["content-type"]
                    .to_str()
                    .expect("ascii")
                    .to_owned(),
                body,
            };
            send.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(
                        serde_json::to_vec(&applied(&request_seen)).expect("json"),
                    ))
                    .expect("response"),
            );
            seen.push(request_seen);
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
    for apply in &seen[2..] {
        assert_eq!(apply.content_type, "application/apply-patch+yaml");
        assert!(
            apply.query.contains("fieldManager=contaxy-worker"),
            "{}",
            apply.query
        );
        assert!(apply.query.contains("force=true"), "{}", apply.query);
    }
    assert_eq!(seen[2].body["kind"], "Secret");
    assert_eq!(seen[4].body["kind"], "Deployment");
    assert!(!seen[4].body.to_string().contains("secret-token"));
    assert_eq!(seen[5].body["spec"]["type"], "ClusterIP");
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
async fn logs_come_from_the_newest_pod_with_tail_and_follow() {
    let (runtime, mut handle) = runtime().await;
    let target = DeploymentRef::new("proj", "ns-p-proj-j-run");
    let pod = |name: &str, created: &str| {
        json!({"metadata": {"name": name, "creationTimestamp": created,
        "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj", "ctxy.deploymentId": "ns-p-proj-j-run"},
        "annotations": {"ctxy.deploymentId": "ns-p-proj-j-run"}}})
    };
    let pods = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {},
        "items": [pod("old", "2026-01-01T00:00:00Z"), pod("new", "2026-01-02T00:00:00Z")]});
    let options = LogOptions {
        lines: Some(10),
        follow: true,
        ..LogOptions::default()
    };
    let server = async {
        let list = answer(&mut handle, 200, pods).await;
        let (request, send) = handle.next_request().await.expect("the log request");
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from("one\ntwo\n".as_bytes().to_vec()))
                .expect("response"),
        );
        (list, request.uri().to_string())
    };
    let (stream, (list, uri)) = tokio::join!(runtime.logs(&target, options), server);
    assert!(
        list.query
            .contains("labelSelector=ctxy.deploymentId%3Dns-p-proj-j-run"),
        "{}",
        list.query
    );
    assert!(
        uri.starts_with("/api/v1/namespaces/ns-p-proj/pods/new/log?"),
        "{uri}"
    );
    assert!(
        uri.contains("follow=true")
            && uri.contains("tailLines=10")
            && uri.contains("container=main"),
        "{uri}"
    );
    let chunks: Vec<String> = stream
        .expect("a stream")
        .map(|chunk| chunk.expect("a chunk").text().into_owned())
        .collect()
        .await;
    assert_eq!(chunks, ["one\n", "two\n"]);
}

#[tokio::test]
async fn the_pod_watch_resumes_after_410_gone() {
    let (runtime, mut handle) = runtime().await;
    let pod = |phase: &str| {
        json!({"metadata": {"name": "p", "namespace": "ns-p-proj", "resourceVersion": "5",
        "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj", "ctxy.deploymentId": "d", "ctxy.deploymentType": "job"},
        "annotations": {"ctxy.deploymentId": "d"}}, "status": {"phase": phase}})
    };
    let list = |phase: &str, version: &str| {
        json!({"kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": version}, "items": [pod(phase)]})
    };
    let mut changes = runtime.status_changes(None);
    let server = async {
        let first = answer(&mut handle, 200, list("Running", "10")).await;
        // The watch: the server has compacted past version 10.
        let (request, send) = handle.next_request().await.expect("the watch");
        let watch_query = request.uri().query().unwrap_or_default().to_owned();
        let gone = json!({"type": "ERROR", "object": failure(410, "Expired")});
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(format!("{gone}\n").into_bytes()))
                .expect("response"),
        );
        let relist = answer(&mut handle, 200, list("Succeeded", "20")).await;
        (first, watch_query, relist)
    };
    let client = async {
        let running = changes.next().await.expect("a change").expect("ok");
        let succeeded = changes.next().await.expect("a change").expect("ok");
        (running, succeeded)
    };
    let ((first, watch_query, relist), (running, succeeded)) = tokio::join!(server, client);
    assert_eq!(first.path, "/api/v1/pods");
    assert!(
        first.query.contains("labelSelector=ctxy.namespace%3Dns"),
        "{}",
        first.query
    );
    assert!(
        watch_query.contains("watch=true") && watch_query.contains("resourceVersion=10"),
        "{watch_query}"
    );
    assert_eq!(relist.path, "/api/v1/pods");
    assert!(
        !relist.query.contains("watch=true"),
        "a fresh list after 410: {}",
        relist.query
    );
    assert_eq!(
        (running.status, running.deployment_id.as_str()),
        (DeploymentStatus::Running, "d")
    );
    assert_eq!(succeeded.status, DeploymentStatus::Succeeded);
    assert_eq!(succeeded.exit_code, Some(0));
}
