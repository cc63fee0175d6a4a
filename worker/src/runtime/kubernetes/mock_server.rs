//! A mock Kubernetes API server for the request-layer tests: kube's client
//! over `tower-test`'s in-process service (as kube's own tests do), with
//! helpers that take the next request and answer it.

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request as the mock API server saw it.
#[derive(Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

/// Answers the next request with `status` and the JSON `reply`.
pub async fn answer(handle: &mut Handle, status: u16, reply: Value) -> Seen {
    respond(handle, status, |_| reply).await
}

/// Answers the next request with `status` and what `reply` makes of it.
pub async fn respond(handle: &mut Handle, status: u16, reply: impl FnOnce(&Seen) -> Value) -> Seen {
    let (request, send) = handle.next_request().await.expect("a request");
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.expect("the request body");
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        content_type: parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON body")
        },
    };
    send.send_response(
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&reply(&seen)).expect("json")))
            .expect("a response"),
    );
    seen
}

/// The API server's error body.
pub fn failure(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("{reason} ({code})"), "reason": reason, "code": code})
}

pub fn nodes() -> Value {
    json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
           "items": [{"metadata": {"name": "n1"},
                      "status": {"allocatable": {"cpu": "8", "memory": "32Gi"}}}]})
}

pub fn our_namespace() -> Value {
    json!({"kind": "Namespace", "apiVersion": "v1",
           "metadata": {"name": "ns-p-proj", "uid": "ns-uid",
                        "labels": {"ctxy.namespace": "ns", "ctxy.projectName": "proj"}}})
}

/// What the server answers to an apply: the object as sent, with a uid.
pub fn applied(seen: &Seen) -> Value {
    let mut object = seen.body.clone();
    object["metadata"]["uid"] = json!("uid-1");
    object
}

pub async fn runtime() -> (KubeRuntime, Handle) {
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
