//! The request layer of logs and of the status watch (see `mock_server`).

use futures::StreamExt;
use http::Response;
use kube::client::Body;
use serde_json::json;

use super::mock_server::{answer, failure, runtime};
use super::*;
use crate::runtime::state::DeploymentStatus;

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
