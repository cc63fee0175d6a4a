//! Tenants stay apart across time, and actions on one resource apply in the
//! order they were accepted: a deploy that arrives after its delete makes
//! nothing, a project's deletion racing deploys from the broker always
//! completes, and a volume kept by a delete goes with its project, so a
//! project that reuses the id starts empty. A delete hides its deployment
//! at once, and a re-deploy of its name runs after it; `wait` answers once
//! a change is done.

use contaxy_common::store::actions;
use contaxy_tests::spawn::closed_port_addr;
use contaxy_tests::stack::{PROJECT, Stack, StackOptions, job};
use contaxy_tests::{DEADLINE, IDLE, eventually, str_of};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// kind, status, attempts, last_error, published_at.
type ActionRow = (String, String, i32, Option<String>, Option<String>);

/// Publishes a recorded action as the relay would.
async fn publish_recorded(stack: &Stack, pool: &PgPool, action_id: &str) {
    let id: Uuid = action_id.parse().expect("a uuid");
    let record = actions::by_id(pool, id)
        .await
        .expect("a query")
        .expect("the action is recorded");
    let message = record.message().expect("a message");
    stack
        .broker
        .publish_action(message.kind().as_str(), &message.to_body())
        .await;
}

/// Waits until the action (of any project) has `status`, read from the
/// database; panics if it ends otherwise.
async fn wait_ended(pool: &PgPool, action_id: &str, status: &str) {
    let id: Uuid = action_id.parse().expect("a uuid");
    eventually(
        DEADLINE,
        &format!("action {action_id} to be {status}"),
        || async {
            let now = status_of(pool, id).await?;
            let final_other =
                ["succeeded", "failed", "cancelled"].contains(&now.as_str()) && now != status;
            assert!(!final_other, "action {action_id} ended {now}");
            (now == status).then_some(())
        },
    )
    .await;
}

/// An action's status, read from the database (its project may be gone).
async fn status_of(pool: &PgPool, action_id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT status::text FROM actions WHERE id = $1")
        .bind(action_id)
        .fetch_optional(pool)
        .await
        .expect("a query")
}

#[tokio::test]
async fn a_deploy_that_arrives_after_its_delete_makes_nothing() {
    // The API cannot publish: the test publishes, in the order it chooses.
    let stack = Stack::start_with(StackOptions {
        api_amqp_url: Some(format!("amqp://guest:guest@{}/%2f", closed_port_addr())),
        ..StackOptions::default()
    })
    .await;
    let pool = stack.api.db.migrated_pool(2).await;
    let accepted = stack.submit("services", &job("late web", IDLE)).await;
    let id = str_of(&accepted, "id").to_owned();
    let deploy = str_of(&accepted, "action_id").to_owned();
    let deleted = stack
        .call(
            Method::DELETE,
            &format!("/projects/{PROJECT}/services/{id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    let delete = str_of(&deleted.body, "action_id").to_owned();

    publish_recorded(&stack, &pool, &delete).await;
    stack.wait_action(&delete, "succeeded").await;
    // The deploy, relayed late, finds its deployment deleted.
    publish_recorded(&stack, &pool, &deploy).await;
    let ended = stack.wait_action(&deploy, "cancelled").await;
    assert!(
        ended["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("was deleted after this action was accepted")),
        "{ended}"
    );
    assert_eq!(stack.deployment("services", &id).await.status, 404);
    assert!(stack.containers(Some(&id)).await.is_empty());
}

// Under load the deletion was once seen to stay `queued` for good: a deploy
// it waited for ended between the claim's two statements, and the deletion's
// message was taken for a duplicate (`store_actions::a_blocker_ending_during_
// the_claim_never_drops_the_waiting_action` reproduces that in isolation).
#[tokio::test]
async fn a_project_deletion_racing_deploys_from_the_broker_always_completes() {
    let stack = Stack::start().await;
    let pool = stack.api.db.migrated_pool(2).await;
    for trial in 0..3 {
        let project = format!("racer{trial}");
        stack.api.create_project(&project).await;
        let mut sent = Vec::new();
        for n in 0..4 {
            let action_id = Uuid::new_v4();
            let id = format!("{}-p-{project}--j-racing-{n}", stack.namespace());
            let message = json!({
                "schema_version": 1,
                "action_id": action_id,
                "kind": "deployment.deploy",
                "project_id": project,
                "resource_id": id,
                "payload": {"deployment_type": "job", "input": job(&format!("racing {n}"), IDLE)},
            });
            let body = serde_json::to_vec(&message).expect("json");
            stack
                .broker
                .publish_action("deployment.deploy", &body)
                .await;
            sent.push((action_id, id));
            if n == 1 {
                let answer = stack
                    .call(Method::DELETE, &format!("/projects/{project}"), None)
                    .await;
                assert_eq!(answer.status, 202, "{:?}", answer.body);
            }
        }
        let gone = tokio::time::timeout(DEADLINE, async {
            loop {
                let answer = stack
                    .call(Method::GET, &format!("/projects/{project}"), None)
                    .await;
                if answer.status == 404 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
        .await;
        if gone.is_err() {
            let rows: Vec<ActionRow> = sqlx::query_as(
                "SELECT kind, status::text, attempts, last_error, published_at::text FROM actions
                 WHERE project_id = $1 ORDER BY created_at",
            )
            .bind(&project)
            .fetch_all(&pool)
            .await
            .expect("the actions");
            panic!("project {project} was not deleted in time; its actions: {rows:#?}");
        }
        for (action_id, id) in &sent {
            let status = eventually(DEADLINE, "every deploy to end", || async {
                status_of(&pool, *action_id)
                    .await
                    .filter(|s| ["succeeded", "failed", "cancelled"].contains(&s.as_str()))
            })
            .await;
            assert!(
                stack.containers(Some(id)).await.is_empty(),
                "{id} ({status}) left a container behind"
            );
        }
    }
}

/// A service in `project` that prints what its volume holds, then marks it.
fn marking_service() -> Value {
    let mut body = job(
        "keeper",
        "cat /data/mark 2>/dev/null || echo found-nothing; echo made-earlier > /data/mark; sleep 3600",
    );
    body["compute"]["volume_path"] = "/data".into();
    body
}

async fn deploy_marking(stack: &Stack, pool: &PgPool, project: &str) -> String {
    let path = format!("/projects/{project}/services");
    let answer = stack
        .call(Method::POST, &path, Some(&marking_service()))
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let id = str_of(&answer.body, "id").to_owned();
    wait_ended(pool, str_of(&answer.body, "action_id"), "succeeded").await;
    id
}

/// Waits until the service's logs hold one of the two marks; returns it.
async fn mark_seen(stack: &Stack, project: &str, id: &str) -> &'static str {
    let path = format!("/projects/{project}/services/{id}/logs");
    eventually(
        DEADLINE,
        "the service to print its volume's mark",
        || async {
            let answer = stack.call(Method::GET, &path, None).await;
            let text = answer.body.to_string();
            ["made-earlier", "found-nothing"]
                .into_iter()
                .find(|mark| text.contains(mark))
        },
    )
    .await
}

#[tokio::test]
async fn a_kept_volume_serves_its_namesake_goes_with_its_project_and_never_reaches_a_reused_id() {
    let stack = Stack::start().await;
    let pool = stack.api.db.migrated_pool(2).await;
    let project = "keeper";
    stack.api.create_project(project).await;
    let id = deploy_marking(&stack, &pool, project).await;
    assert_eq!(mark_seen(&stack, project, &id).await, "found-nothing");
    let path = format!("/projects/{project}/services/{id}?delete_volumes=false");
    let answer = stack.call(Method::DELETE, &path, None).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    wait_ended(&pool, str_of(&answer.body, "action_id"), "succeeded").await;
    assert_eq!(stack.volumes(&id).await.len(), 1, "kept");

    // In the same project, the namesake finds what was kept.
    let again = deploy_marking(&stack, &pool, project).await;
    assert_eq!(again, id);
    assert_eq!(mark_seen(&stack, project, &id).await, "made-earlier");
    let path = format!("/projects/{project}/services/{id}?delete_volumes=false");
    let answer = stack.call(Method::DELETE, &path, None).await;
    assert_eq!(answer.status, 202);
    wait_ended(&pool, str_of(&answer.body, "action_id"), "succeeded").await;

    // The project's deletion takes the volume no deployment holds.
    let answer = stack
        .call(Method::DELETE, &format!("/projects/{project}"), None)
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    wait_ended(&pool, str_of(&answer.body, "action_id"), "succeeded").await;
    assert!(
        stack.volumes(&id).await.is_empty(),
        "removed with its project"
    );

    // A new project with the id starts empty.
    stack.api.create_project(project).await;
    let reborn = deploy_marking(&stack, &pool, project).await;
    assert_eq!(reborn, id);
    assert_eq!(mark_seen(&stack, project, &id).await, "found-nothing");
}

#[tokio::test]
async fn a_delete_hides_its_deployment_at_once_and_a_redeploy_of_its_name_runs_after_it() {
    // The API cannot publish: the test publishes the re-deploy before the
    // delete it follows.
    let stack = Stack::start_with(StackOptions {
        api_amqp_url: Some(format!("amqp://guest:guest@{}/%2f", closed_port_addr())),
        ..StackOptions::default()
    })
    .await;
    let pool = stack.api.db.migrated_pool(2).await;
    let first = stack
        .submit("services", &job("again web", "echo first; sleep 3600"))
        .await;
    let id = str_of(&first, "id").to_owned();
    publish_recorded(&stack, &pool, str_of(&first, "action_id")).await;
    stack.wait_status("services", &id, "running").await;
    let old_containers = stack.containers(Some(&id)).await;
    assert_eq!(old_containers.len(), 1);

    let deleted = stack
        .call(
            Method::DELETE,
            &format!("/projects/{PROJECT}/services/{id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    let delete = str_of(&deleted.body, "action_id").to_owned();
    // Nothing has run yet, and the service is gone for clients.
    assert_eq!(stack.deployment("services", &id).await.status, 404);
    let listed = stack
        .call(Method::GET, &format!("/projects/{PROJECT}/services"), None)
        .await;
    assert_eq!(listed.body, json!([]), "{:?}", listed.body);

    // The same name again: the same id, a new deployment.
    let second = stack
        .submit("services", &job("again web", "echo second; sleep 3600"))
        .await;
    assert_eq!(str_of(&second, "id"), id);
    assert_eq!(second["status"], "pending", "{second}");
    let redeploy = str_of(&second, "action_id").to_owned();
    let shown = stack.deployment("services", &id).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["args"][0], "echo second; sleep 3600");

    // Published out of order: the re-deploy waits for the older delete.
    publish_recorded(&stack, &pool, &redeploy).await;
    publish_recorded(&stack, &pool, &delete).await;
    let deleted = stack.wait_action(&delete, "succeeded").await;
    let redeployed = stack.wait_action(&redeploy, "succeeded").await;
    let at = |action: &Value, field: &str| {
        chrono::DateTime::parse_from_rfc3339(str_of(action, field)).expect("a timestamp")
    };
    assert!(
        at(&redeployed, "started_at") >= at(&deleted, "finished_at"),
        "the re-deploy ran after the delete: {redeployed} {deleted}"
    );
    let running = stack.wait_status("services", &id, "running").await;
    assert_eq!(running["args"][0], "echo second; sleep 3600");
    let containers = stack.containers(Some(&id)).await;
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_ne!(containers, old_containers, "the old container was removed");
}

#[tokio::test]
async fn every_change_with_wait_answers_once_it_is_done() {
    let stack = Stack::start().await;
    let answer = stack
        .call(
            Method::POST,
            &format!("/projects/{PROJECT}/services?wait=true"),
            Some(&job("waited web", IDLE)),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["status"], "running", "{:?}", answer.body);
    let id = str_of(&answer.body, "id").to_owned();
    let path = format!("/projects/{PROJECT}/services/{id}");

    for (action, status) in [
        ("stop", "stopped"),
        ("start", "running"),
        ("restart", "running"),
    ] {
        let done = stack
            .call(
                Method::POST,
                &format!("{path}/actions/{action}?wait=True"),
                None,
            )
            .await;
        assert_eq!(done.status, 200, "{action}: {:?}", done.body);
        assert_eq!(
            done.body["status"], "succeeded",
            "{action}: {:?}",
            done.body
        );
        let now = stack.deployment("services", &id).await;
        assert_eq!(now.body["status"], status, "right after {action}");
    }

    let patched = stack
        .call(
            Method::PATCH,
            &format!("{path}?wait=1"),
            Some(&json!({"description": "waited for"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["status"], "running", "{:?}", patched.body);
    assert_eq!(patched.body["description"], "waited for");

    // Without `wait` (the default is off): 202 at once.
    let stopped = stack
        .call(Method::POST, &format!("{path}/actions/stop"), None)
        .await;
    assert_eq!(stopped.status, 202, "{:?}", stopped.body);
    assert!(stopped.body.get("status").is_none(), "{:?}", stopped.body);
    stack
        .wait_action(str_of(&stopped.body, "action_id"), "succeeded")
        .await;

    let deleted = stack
        .call(Method::DELETE, &format!("{path}?wait=true"), None)
        .await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert!(stack.containers(Some(&id)).await.is_empty());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deployments WHERE id = $1")
        .bind(&id)
        .fetch_one(&stack.api.db.migrated_pool(1).await)
        .await
        .expect("a count");
    assert_eq!(rows, 0, "the row is gone once the delete is done");
}
