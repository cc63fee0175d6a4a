//! Dead-letter replay against the real stack: an action that failed for
//! good (its image was missing) is listed from the dead queue without
//! being taken from it, and once the cause is mended an administrator
//! replays it: it runs again under the same id with a fresh attempt
//! budget, its row counts the replay, and its letter leaves the queue.

use contaxy_tests::api::assert_problem;
use contaxy_tests::stack::{PROJECT, Stack, job};
use contaxy_tests::{IMAGE, str_of};
use reqwest::Method;
use serde_json::Value;

async fn letters(stack: &Stack) -> Vec<Value> {
    let listed = stack.call(Method::GET, "/admin/dead-letters", None).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    listed.body.as_array().cloned().unwrap_or_default()
}

fn letter_of<'a>(letters: &'a [Value], action_id: &str) -> Option<&'a Value> {
    letters.iter().find(|l| l["action_id"] == action_id)
}

/// Removes the image tag the test made, also after a failed assertion.
struct TagGuard(String);

impl Drop for TagGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", &self.0])
            .output();
    }
}

#[tokio::test]
async fn a_failed_action_is_listed_then_replayed_once_its_cause_is_mended() {
    let stack = Stack::start().await;
    let image = format!("contaxy/replayed-{}:1", uuid::Uuid::new_v4().simple());
    let mut body = job("replayed job", "echo ran");
    body["container_image"] = image.clone().into();
    let accepted = stack.submit("jobs", &body).await;
    let action_id = str_of(&accepted, "action_id").to_owned();
    let job_id = str_of(&accepted, "id").to_owned();
    let failed = stack.wait_action(&action_id, "failed").await;
    assert_eq!(failed["replays"], 0, "{failed}");

    // Listed, with its reason, and still there when listed again.
    let first = letters(&stack).await;
    let letter = letter_of(&first, &action_id).expect("its letter is listed");
    assert_eq!(letter["kind"], "deployment.deploy", "{letter}");
    assert_eq!(letter["project_id"], PROJECT, "{letter}");
    assert_eq!(letter["class"], "permanent", "{letter}");
    assert!(
        letter["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&image)),
        "{letter}"
    );
    assert!(letter["dead_at"].is_string(), "{letter}");
    assert_eq!(
        letters(&stack).await.len(),
        first.len(),
        "listing took nothing"
    );

    // Only a failed action, and only by a system administrator.
    let project_admin = stack.api.project_token(PROJECT, "admin").await;
    let refused = stack
        .api
        .call(
            Method::POST,
            &format!("/admin/dead-letters/{action_id}:replay"),
            Some(&project_admin),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let other = stack.submit("jobs", &job("fine job", "true")).await;
    let other_action = str_of(&other, "action_id").to_owned();
    stack.wait_action(&other_action, "succeeded").await;
    let not_failed = stack
        .call(
            Method::POST,
            &format!("/admin/dead-letters/{other_action}:replay"),
            None,
        )
        .await;
    assert_eq!(not_failed.status, 409, "{:?}", not_failed.body);
    assert_problem(&not_failed, 409);

    // The cause mended (the image now exists), the replay runs it.
    let tagged = std::process::Command::new("docker")
        .args(["tag", IMAGE, &image])
        .output()
        .expect("docker tag");
    assert!(tagged.status.success(), "{tagged:?}");
    let _tag = TagGuard(image.clone());
    let replayed = stack
        .call(
            Method::POST,
            &format!("/admin/dead-letters/{action_id}:replay"),
            None,
        )
        .await;
    assert_eq!(replayed.status, 202, "{:?}", replayed.body);
    assert_eq!(replayed.body["action_id"], action_id.as_str());
    assert_eq!(replayed.body["removed_from_dead_queue"], true);
    let succeeded = stack.wait_action(&action_id, "succeeded").await;
    assert_eq!(succeeded["attempts"], 1, "a fresh budget: {succeeded}");
    assert_eq!(succeeded["replays"], 1, "{succeeded}");
    assert_eq!(succeeded["replayed_by"], "users/admin", "{succeeded}");
    assert!(succeeded["last_error"].is_null(), "{succeeded}");
    let ended = stack.wait_status("jobs", &job_id, "succeeded").await;
    assert_eq!(ended["exit_code"], 0, "{ended}");
    assert!(
        letter_of(&letters(&stack).await, &action_id).is_none(),
        "its letter left the dead queue"
    );
}
