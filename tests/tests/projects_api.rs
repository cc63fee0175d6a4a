//! Projects through the REST API, against a real PostgreSQL: validation,
//! changes, queued deletion, and the error shape of every rejection.

use contaxy_api::ApiSettings;
use contaxy_tests::api::{TestApi, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

#[tokio::test]
async fn projects_are_validated_created_changed_and_listed() {
    let api = TestApi::start().await;
    let admin = api.admin.clone();
    let create = |body: Value| {
        let admin = admin.clone();
        let api = &api;
        async move {
            api.call(Method::POST, "/projects", Some(&admin), Some(&body))
                .await
        }
    };
    let made = create(
        json!({"id": "my-project", "display_name": "My Project", "metadata": {"team": "ml"}}),
    )
    .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["created_by"], "users/admin");
    assert_problem(
        &create(json!({"id": "my-project", "display_name": "Again"})).await,
        409,
    );
    for bad in [
        json!({"id": "system", "display_name": "System"}),
        json!({"id": "ab", "display_name": "Short"}),
        json!({"id": "Upper-Case", "display_name": "Upper"}),
        json!({"id": "okay-id", "display_name": "abc"}),
        json!({"id": "okay-id", "display_name": "Okay", "description": "x".repeat(241)}),
    ] {
        assert_problem(&create(bad).await, 400);
    }
    // Unknown fields and broken JSON are client mistakes in the same shape.
    let unknown = create(json!({"id": "okay-id", "display_name": "Okay", "colour": "red"})).await;
    assert!((400..500).contains(&unknown.status), "{}", unknown.status);
    assert_problem(&unknown, unknown.status);
    assert!(
        unknown.body["message"]
            .as_str()
            .expect("message")
            .contains("colour"),
        "{:?}",
        unknown.body
    );
    let broken = api
        .send(
            |c, url| {
                c.post(url)
                    .bearer_auth(&admin)
                    .header("content-type", "application/json")
                    .body("{\"id\":")
            },
            "/projects",
        )
        .await;
    assert_problem(&broken, 400);

    let suggested = api
        .get("/projects:suggest-id?display_name=My%20Project", &admin)
        .await;
    assert_eq!(suggested.body, json!("my-project-2"));
    let suggested = api
        .get("/projects:suggest-id?display_name=Fresh%20Idea", &admin)
        .await;
    assert_eq!(suggested.body, json!("fresh-idea"));

    let patch = json!({"display_name": "Renamed", "metadata": {"team": null, "stage": "dev"}});
    let changed = api
        .call(
            Method::PATCH,
            "/projects/my-project",
            Some(&admin),
            Some(&patch),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["display_name"], "Renamed");
    assert_eq!(changed.body["metadata"], json!({"stage": "dev"}));
    let read = api.get("/projects/my-project", &admin).await;
    assert_eq!(read.body["metadata"], json!({"stage": "dev"}));
    let listed = api.get("/projects", &admin).await;
    assert_eq!(listed.body.as_array().expect("list").len(), 1);

    let bad_level = api
        .call(
            Method::PUT,
            "/projects/my-project/users/bob?access_level=owner",
            Some(&admin),
            None,
        )
        .await;
    assert_problem(&bad_level, 400);
    let bad_user = api
        .call(
            Method::PUT,
            "/projects/my-project/users/b--ob",
            Some(&admin),
            None,
        )
        .await;
    assert_problem(&bad_user, 400);
    let bad_project = api.get("/projects/NOT_VALID", &admin).await;
    assert_problem(&bad_project, 400);
    assert_problem(&api.get("/projects/nothing-here", &admin).await, 404);
}

#[tokio::test]
async fn deleting_a_project_queues_an_action_and_stops_changes() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let writer = api.project_token("alpha", "write").await;
    let refused = api
        .call(Method::DELETE, "/projects/alpha", Some(&writer), None)
        .await;
    assert_problem(&refused, 403);

    let accepted = api
        .call(Method::DELETE, "/projects/alpha", Some(&api.admin), None)
        .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let action_id = accepted.body["action_id"]
        .as_str()
        .expect("an action id")
        .to_owned();

    let mut conn = api.db.connect().await;
    let row = sqlx::query("SELECT project_id, kind, status, payload, requested_by, resource_id FROM actions WHERE id = $1::uuid")
        .bind(&action_id)
        .fetch_one(&mut conn)
        .await
        .expect("the action row exists");
    assert_eq!(row.get::<String, _>("project_id"), "alpha");
    assert_eq!(row.get::<String, _>("kind"), "project.delete");
    assert_eq!(row.get::<String, _>("status"), "queued");
    assert_eq!(row.get::<Value, _>("payload"), json!({}));
    assert_eq!(
        row.get::<Option<String>, _>("requested_by").as_deref(),
        Some("users/admin")
    );

    let read = api.get("/projects/alpha", &writer).await;
    assert_eq!(read.status, 200, "reads still work");
    assert!(read.body["deleting_since"].is_string(), "{:?}", read.body);
    let patch = json!({"description": "late"});
    assert_problem(
        &api.call(
            Method::PATCH,
            "/projects/alpha",
            Some(&writer),
            Some(&patch),
        )
        .await,
        409,
    );
    assert_problem(
        &api.call(
            Method::PUT,
            "/projects/alpha/users/bob",
            Some(&api.admin),
            None,
        )
        .await,
        409,
    );
    assert_problem(
        &api.call(Method::DELETE, "/projects/alpha", Some(&api.admin), None)
            .await,
        409,
    );
    let actions: i64 = sqlx::query_scalar("SELECT count(*) FROM actions")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(actions, 1, "a repeated delete records nothing");
}

#[tokio::test]
async fn framework_rejections_come_in_the_error_shape() {
    let api = TestApi::start_with(|s: &mut ApiSettings| s.api_max_body_bytes = 1024).await;
    let admin = api.admin.clone();
    let big = json!({"id": "big-one", "display_name": "x".repeat(4096)});
    let too_large = api
        .call(Method::POST, "/projects", Some(&admin), Some(&big))
        .await;
    assert_problem(&too_large, 413);
    assert_problem(&api.get("/no/such/route", &admin).await, 404);
    let no_type = api
        .send(
            |c, url| {
                c.post(url)
                    .bearer_auth(&admin)
                    .header("content-type", "text/plain")
                    .body("{}")
            },
            "/projects",
        )
        .await;
    assert_problem(&no_type, 415);
    let bad_uuid = api
        .call(
            Method::DELETE,
            "/auth/tokens/not-a-uuid",
            Some(&admin),
            None,
        )
        .await;
    assert_problem(&bad_uuid, 400);
}

/// A deleted project's id may be taken again: the new project gets other
/// tokens (its incarnation enters their derivation), the old project's
/// tokens no longer work, and what still waited to run in the old project
/// is cancelled, so a late copy of it does nothing in the new one.
#[tokio::test]
async fn a_project_made_again_with_a_deleted_ones_id_inherits_nothing() {
    use contaxy_common::domain::action::{Action, ActionOrigin, NetworkAction};
    use contaxy_common::store::actions::{self, NewAction};
    use contaxy_common::store::projects;

    let api = TestApi::start().await;
    api.create_project("reborn").await;
    let old_writer = api.project_token("reborn", "write").await;
    let pool = api.db.migrated_pool(2).await;
    // An action of the old project waiting for its next attempt.
    let waiting = NewAction::new(
        "reborn",
        Action::Network(NetworkAction::Ensure),
        ActionOrigin::Api,
    );
    let mut conn = pool.acquire().await.expect("a connection");
    actions::record(&mut conn, &waiting)
        .await
        .expect("recorded");
    drop(conn);

    let accepted = api
        .call(Method::DELETE, "/projects/reborn", Some(&api.admin), None)
        .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    // What the worker's project.delete does last, once everything is gone.
    assert!(projects::remove(&pool, "reborn").await.expect("removed"));
    let status: String = sqlx::query_scalar("SELECT status FROM actions WHERE id = $1")
        .bind(waiting.id)
        .fetch_one(&pool)
        .await
        .expect("the action is kept");
    assert_eq!(status, "cancelled");

    api.create_project("reborn").await;
    let new_writer = api.project_token("reborn", "write").await;
    assert_ne!(
        new_writer, old_writer,
        "the new project has tokens of its own"
    );
    assert_eq!(api.get("/projects/reborn", &new_writer).await.status, 200);
    assert_problem(&api.get("/projects/reborn", &old_writer).await, 401);
}
