//! The image allow-list (`/system/allowed-images`) against the real API and
//! worker: empty, every image is allowed; with entries, a deploy of another
//! image or tag is refused naming the rule, from the API (400) and from
//! another system over the broker (the action fails when accepted, with the
//! reason, and nothing is recorded).

use contaxy_tests::IMAGE;
use contaxy_tests::api::assert_problem;
use contaxy_tests::stack::{PROJECT, Stack, job};
use reqwest::Method;
use serde_json::{Value, json};

async fn deploy(stack: &Stack, image: &str, name: &str) -> contaxy_tests::api::Answer {
    let mut body = job(name, "true");
    body["container_image"] = image.into();
    stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/jobs"),
            Some(&body),
        )
        .await
}

#[track_caller]
fn assert_refused(answer: &contaxy_tests::api::Answer, rule: &str) {
    assert_eq!(answer.status, 400, "{:?}", answer.body);
    assert_problem(answer, 400);
    let fields = &answer.body["details"]["fields"];
    assert_eq!(fields[0]["field"], "container_image", "{:?}", answer.body);
    let message = fields[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(rule), "{message}");
}

#[tokio::test]
async fn deploys_are_held_to_the_allow_list_from_the_api_and_the_broker() {
    let stack = Stack::start().await;
    let (name, tag) = IMAGE.rsplit_once(':').expect("a tagged test image");
    let list = || stack.call(Method::GET, "/system/allowed-images", None);
    assert_eq!(list().await.body, json!([]));
    assert_eq!(deploy(&stack, "nginx:1.27", "any image").await.status, 202);

    // Changing the list is the administrator's.
    let entry = json!({"image_name": name.to_uppercase(), "image_tags": [tag]});
    let reader = stack.api.project_token(PROJECT, "admin").await;
    let denied = stack
        .api
        .call(
            Method::POST,
            "/system/allowed-images",
            Some(&reader),
            Some(&entry),
        )
        .await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    let tagged = stack
        .call(
            Method::POST,
            "/system/allowed-images",
            Some(&json!({"image_name": IMAGE, "image_tags": ["*"]})),
        )
        .await;
    assert_eq!(tagged.status, 400, "a name with its tag: {:?}", tagged.body);
    let added = stack
        .call(Method::POST, "/system/allowed-images", Some(&entry))
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    assert_eq!(added.body["image_name"], name, "stored lowercase");
    assert_eq!(list().await.body.as_array().map(Vec::len), Some(1));

    // The image, however it is spelled, with its tag: allowed.
    assert_eq!(deploy(&stack, IMAGE, "listed").await.status, 202);
    let spelled = format!("docker.io/{IMAGE}");
    assert_eq!(deploy(&stack, &spelled, "spelled out").await.status, 202);
    // Another tag, another image: refused, naming the rule.
    assert_refused(
        &deploy(&stack, &format!("{name}:other"), "other tag").await,
        "not its tag other",
    );
    assert_refused(
        &deploy(&stack, "nginx:1.27", "other image").await,
        "docker.io/library/nginx is not on the list of allowed images",
    );
    // A change of a service's image is held to it too.
    let mut web = job("allowed web", "sleep 3600");
    web["container_image"] = IMAGE.into();
    let service = stack.submit("services", &web).await;
    let path = format!(
        "/projects/{PROJECT}/services/{}",
        service["id"].as_str().expect("an id")
    );
    let patched = stack
        .call(
            Method::PATCH,
            &path,
            Some(&json!({"container_image": "nginx:1.27"})),
        )
        .await;
    assert_refused(&patched, "not on the list");

    // From another system, over the broker: failed when accepted.
    let action_id = uuid::Uuid::new_v4();
    let deployment_id = format!("{}-p-{PROJECT}--j-elsewhere", stack.namespace());
    let mut input = job("from elsewhere", "true");
    input["container_image"] = "nginx:1.27".into();
    let message = json!({
        "schema_version": 1,
        "action_id": action_id,
        "kind": "deployment.deploy",
        "project_id": PROJECT,
        "resource_id": deployment_id,
        "payload": {"deployment_type": "job", "input": input},
        "requested_by": "other-system",
    });
    stack
        .broker
        .publish_action(
            "deployment.deploy",
            &serde_json::to_vec(&message).expect("json"),
        )
        .await;
    let failed: Value = stack.wait_action(&action_id.to_string(), "failed").await;
    assert_eq!(failed["attempts"], 0, "refused when accepted: {failed}");
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("not on the list of allowed images"),
        "{failed}"
    );
    assert_eq!(stack.deployment("jobs", &deployment_id).await.status, 404);

    // Removed: everything is allowed again.
    let missing = stack
        .call(
            Method::DELETE,
            "/system/allowed-images?image_name=nginx",
            None,
        )
        .await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    let removed = stack
        .call(
            Method::DELETE,
            &format!("/system/allowed-images?image_name={name}"),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    assert_eq!(list().await.body, json!([]));
    assert_eq!(deploy(&stack, "nginx:1.27", "any again").await.status, 202);
}
