//! The request layer of `network.connect`/`network.disconnect`, the
//! networks' listing and the volumes, against the mock API server
//! (`mock_server`): the requests asserted in order, realistic answers.

use serde_json::{Value, json};

use super::mock_server::{Handle, Seen, answer, failure, our_namespace, runtime};
use super::*;

const DISCONNECTED: &str = "ctxy.disconnected";

fn labels(id: &str, disconnected: bool) -> Value {
    let mut labels = json!({"ctxy.namespace": "ns", "ctxy.projectName": "proj",
                            "ctxy.deploymentId": id});
    if disconnected {
        labels[DISCONNECTED] = json!("true");
    }
    labels
}

/// A service's Deployment as the API server returns it.
fn deployment(id: &str, disconnected: bool) -> Value {
    json!({"kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": id, "namespace": "ns-p-proj", "labels": labels(id, disconnected),
                     "annotations": {"ctxy.deploymentId": id}},
        "spec": {"selector": {}, "template": {
            "metadata": {"labels": labels(id, disconnected)},
            "spec": {"containers": [{"name": "main"}]}}}})
}

fn job(id: &str, disconnected: bool) -> Value {
    json!({"kind": "Job", "apiVersion": "batch/v1",
        "metadata": {"name": id, "namespace": "ns-p-proj", "labels": labels(id, disconnected),
                     "annotations": {"ctxy.deploymentId": id}},
        "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}}})
}

fn pod(name: &str, disconnected: bool, claim: Option<&str>, phase: &str) -> Value {
    let volumes = claim.map_or(
        json!([]),
        |claim| json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]),
    );
    json!({"metadata": {"name": name, "namespace": "ns-p-proj",
                        "labels": labels("ns-p-proj-j-run", disconnected)},
           "spec": {"containers": [{"name": "main"}], "volumes": volumes},
           "status": {"phase": phase}})
}

fn list(kind: &str, items: Value) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})
}

fn not_found() -> Value {
    failure(404, "NotFound")
}

fn assert_merge_patch(seen: &Seen, path: &str, body: Value) {
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PATCH", path),
        "{seen:?}"
    );
    assert_eq!(seen.content_type, "application/merge-patch+json");
    assert!(
        seen.query.contains("fieldManager=contaxy-worker"),
        "{}",
        seen.query
    );
    assert_eq!(seen.body, body);
}

async fn nothing_more(runtime: KubeRuntime, mut handle: Handle) {
    drop(runtime);
    assert!(handle.next_request().await.is_none(), "nothing more asked");
}

const SERVICE_PATH: &str = "/apis/apps/v1/namespaces/ns-p-proj/deployments/ns-p-proj-s-web";

#[tokio::test]
async fn disconnecting_a_service_labels_its_pod_template_and_connecting_removes_it() {
    let (runtime, mut handle) = runtime().await;
    let id = "ns-p-proj-s-web";
    let target = DeploymentRef::new("proj", id);
    let server = async {
        let lookup = answer(&mut handle, 200, deployment(id, false)).await;
        let patch = answer(&mut handle, 200, deployment(id, true)).await;
        (lookup, patch)
    };
    let (result, (lookup, patch)) = tokio::join!(runtime.disconnect_network(&target), server);
    result.expect("disconnected");
    assert_eq!(
        (lookup.method.as_str(), lookup.path.as_str()),
        ("GET", SERVICE_PATH)
    );
    let set = json!({"metadata": {"labels": {DISCONNECTED: "true"}},
                     "spec": {"template": {"metadata": {"labels": {DISCONNECTED: "true"}}}}});
    assert_merge_patch(&patch, SERVICE_PATH, set);

    // Again: the labels are there, nothing is patched (the pods are not
    // rolled a second time).
    let (result, lookup) = tokio::join!(
        runtime.disconnect_network(&target),
        answer(&mut handle, 200, deployment(id, true))
    );
    result.expect("disconnected again");
    assert_eq!(lookup.method, "GET");

    let server = async {
        let namespace = answer(&mut handle, 200, our_namespace()).await;
        let lookup = answer(&mut handle, 200, deployment(id, true)).await;
        let patch = answer(&mut handle, 200, deployment(id, false)).await;
        (namespace, lookup, patch)
    };
    let (result, (namespace, lookup, patch)) =
        tokio::join!(runtime.connect_network(&target), server);
    result.expect("connected");
    assert_eq!(namespace.path, "/api/v1/namespaces/ns-p-proj");
    assert_eq!(lookup.path, SERVICE_PATH);
    let removed = json!({"metadata": {"labels": {DISCONNECTED: null}},
                         "spec": {"template": {"metadata": {"labels": {DISCONNECTED: null}}}}});
    assert_merge_patch(&patch, SERVICE_PATH, removed);
    nothing_more(runtime, handle).await;
}

#[tokio::test]
async fn disconnecting_a_job_labels_the_job_and_its_pods() {
    let (runtime, mut handle) = runtime().await;
    let id = "ns-p-proj-j-run";
    let target = DeploymentRef::new("proj", id);
    let server = async {
        answer(&mut handle, 404, not_found()).await;
        let lookup = answer(&mut handle, 200, job(id, false)).await;
        let patch = answer(&mut handle, 200, job(id, true)).await;
        let pods = answer(
            &mut handle,
            200,
            list(
                "PodList",
                json!([
                    pod("run-a", false, None, "Running"),
                    pod("run-b", true, None, "Running")
                ]),
            ),
        )
        .await;
        let pod_patch = answer(&mut handle, 200, pod("run-a", true, None, "Running")).await;
        (lookup, patch, pods, pod_patch)
    };
    let (result, (lookup, patch, pods, pod_patch)) =
        tokio::join!(runtime.disconnect_network(&target), server);
    result.expect("disconnected");
    assert_eq!(
        lookup.path,
        "/apis/batch/v1/namespaces/ns-p-proj/jobs/ns-p-proj-j-run"
    );
    let set = json!({"metadata": {"labels": {DISCONNECTED: "true"}}});
    assert_merge_patch(
        &patch,
        "/apis/batch/v1/namespaces/ns-p-proj/jobs/ns-p-proj-j-run",
        set.clone(),
    );
    assert_eq!(pods.path, "/api/v1/namespaces/ns-p-proj/pods");
    assert!(
        pods.query.contains("ctxy.deploymentId%3Dns-p-proj-j-run"),
        "{}",
        pods.query
    );
    // Only the pod without the label.
    assert_merge_patch(&pod_patch, "/api/v1/namespaces/ns-p-proj/pods/run-a", set);
    nothing_more(runtime, handle).await;
}

#[tokio::test]
async fn a_missing_deployment_is_detached_already_and_cannot_be_connected() {
    let (runtime, mut handle) = runtime().await;
    let target = DeploymentRef::new("proj", "ns-p-proj-s-gone");
    let server = async {
        answer(&mut handle, 404, not_found()).await;
        answer(&mut handle, 404, not_found()).await;
    };
    let (result, ()) = tokio::join!(runtime.disconnect_network(&target), server);
    result.expect("missing is detached");

    let server = async {
        answer(&mut handle, 200, our_namespace()).await;
        answer(&mut handle, 404, not_found()).await;
        answer(&mut handle, 404, not_found()).await;
    };
    let (result, ()) = tokio::join!(runtime.connect_network(&target), server);
    let error = result.expect_err("missing");
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");

    let (result, _) = tokio::join!(
        runtime.connect_network(&target),
        answer(&mut handle, 404, not_found())
    );
    let error = result.expect_err("no namespace");
    assert!(
        matches!(error, RuntimeError::NetworkMissing { .. }),
        "{error:?}"
    );
    nothing_more(runtime, handle).await;
}

#[tokio::test]
async fn a_disconnected_deployment_is_not_listed_as_attached() {
    let (runtime, mut handle) = runtime().await;
    let terminating = json!({"metadata": {"name": "ns-p-old", "uid": "old",
        "deletionTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "old"}}});
    let server = async {
        let namespaces = answer(
            &mut handle,
            200,
            list("NamespaceList", json!([our_namespace(), terminating])),
        )
        .await;
        answer(
            &mut handle,
            200,
            list(
                "DeploymentList",
                json!([
                    deployment("ns-p-proj-s-web", false),
                    deployment("ns-p-proj-s-cut", true)
                ]),
            ),
        )
        .await;
        answer(
            &mut handle,
            200,
            list("JobList", json!([job("ns-p-proj-j-cut", true)])),
        )
        .await;
        namespaces
    };
    let (networks, namespaces) = tokio::join!(runtime.list_networks(), server);
    assert_eq!(namespaces.path, "/api/v1/namespaces");
    assert!(
        namespaces
            .query
            .contains("labelSelector=ctxy.namespace%3Dns"),
        "{}",
        namespaces.query
    );
    let networks = networks.expect("listed");
    assert_eq!(
        networks.len(),
        1,
        "a namespace being deleted is gone: {networks:?}"
    );
    assert_eq!(networks[0].name, "ns-p-proj");
    assert_eq!(networks[0].containers, ["ns-p-proj-s-web"]);
}

fn claim(name: &str, labels: Value, deleting: bool) -> Value {
    let mut metadata = json!({"name": name, "namespace": "ns-p-proj", "labels": labels,
                              "creationTimestamp": "2026-12-01T10:00:00Z"});
    if deleting {
        metadata["deletionTimestamp"] = json!("2026-12-02T10:00:00Z");
    }
    json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": metadata,
           "spec": {"accessModes": ["ReadWriteOnce"]}})
}

#[tokio::test]
async fn volumes_are_our_claims_named_with_their_namespace() {
    let (runtime, mut handle) = runtime().await;
    let incarnation = uuid::Uuid::new_v4();
    let kept = json!({"ctxy.namespace": "ns", "ctxy.projectName": "proj",
                      "ctxy.projectIncarnation": incarnation.to_string()});
    let reply = list(
        "PersistentVolumeClaimList",
        json!([
            claim("ns-p-proj-s-web-vol", kept.clone(), false),
            claim("ns-p-proj-s-old-vol", kept, true),
        ]),
    );
    let (volumes, seen) = tokio::join!(
        runtime.list_volumes(Some("proj")),
        answer(&mut handle, 200, reply)
    );
    assert_eq!(seen.path, "/api/v1/persistentvolumeclaims");
    assert!(
        seen.query
            .contains("labelSelector=ctxy.namespace%3Dns%2Cctxy.projectName%3Dproj"),
        "{}",
        seen.query
    );
    let volumes = volumes.expect("listed");
    assert_eq!(volumes.len(), 1, "one being deleted is gone: {volumes:?}");
    assert_eq!(volumes[0].name, "ns-p-proj/ns-p-proj-s-web-vol");
    assert_eq!(volumes[0].project_id, "proj");
    assert_eq!(volumes[0].project_incarnation, Some(incarnation));
    assert!(volumes[0].created_at.is_some());
}

#[tokio::test]
async fn a_mounted_claim_stays_and_an_unused_one_is_deleted() {
    let (runtime, mut handle) = runtime().await;
    let name = "ns-p-proj/ns-p-proj-j-run-vol";
    let ours = claim(
        "ns-p-proj-j-run-vol",
        json!({"ctxy.namespace": "ns", "ctxy.projectName": "proj"}),
        false,
    );
    let claim_path = "/api/v1/namespaces/ns-p-proj/persistentvolumeclaims/ns-p-proj-j-run-vol";
    let server = async {
        let lookup = answer(&mut handle, 200, ours.clone()).await;
        let pods = answer(
            &mut handle,
            200,
            list(
                "PodList",
                json!([pod("run-a", false, Some("ns-p-proj-j-run-vol"), "Running")]),
            ),
        )
        .await;
        (lookup, pods)
    };
    let (removed, (lookup, pods)) = tokio::join!(runtime.remove_volume(name), server);
    assert!(!removed.expect("asked"), "mounted by a running pod");
    assert_eq!(
        (lookup.method.as_str(), lookup.path.as_str()),
        ("GET", claim_path)
    );
    assert_eq!(pods.path, "/api/v1/namespaces/ns-p-proj/pods");

    let server = async {
        answer(&mut handle, 200, ours.clone()).await;
        answer(
            &mut handle,
            200,
            list(
                "PodList",
                json!([pod(
                    "run-a",
                    false,
                    Some("ns-p-proj-j-run-vol"),
                    "Succeeded"
                )]),
            ),
        )
        .await;
        answer(&mut handle, 200, ours.clone()).await
    };
    let (removed, delete) = tokio::join!(runtime.remove_volume(name), server);
    assert!(removed.expect("asked"), "an ended pod does not hold it");
    assert_eq!(
        (delete.method.as_str(), delete.path.as_str()),
        ("DELETE", claim_path)
    );
    assert_eq!(delete.body["propagationPolicy"], "Background");

    // Gone, someone else's, or not a claim's name: removed, nothing deleted.
    let (removed, _) = tokio::join!(
        runtime.remove_volume(name),
        answer(&mut handle, 404, not_found())
    );
    assert!(removed.expect("gone"));
    let foreign = claim("ns-p-proj-j-run-vol", json!({"app": "other"}), false);
    let (removed, _) = tokio::join!(
        runtime.remove_volume(name),
        answer(&mut handle, 200, foreign)
    );
    assert!(removed.expect("not ours"));
    assert!(
        runtime
            .remove_volume("no-namespace")
            .await
            .expect("not a claim")
    );
    nothing_more(runtime, handle).await;
}

#[tokio::test]
async fn a_namespace_being_deleted_is_removed_already() {
    let (runtime, mut handle) = runtime().await;
    let mut terminating = our_namespace();
    terminating["metadata"]["deletionTimestamp"] = json!("2026-12-03T10:00:00Z");
    terminating["status"] = json!({"phase": "Terminating"});
    let (result, lookup) = tokio::join!(
        runtime.delete_network("proj"),
        answer(&mut handle, 200, terminating)
    );
    result.expect("removed already");
    assert_eq!(
        (lookup.method.as_str(), lookup.path.as_str()),
        ("GET", "/api/v1/namespaces/ns-p-proj")
    );
    nothing_more(runtime, handle).await;
}
