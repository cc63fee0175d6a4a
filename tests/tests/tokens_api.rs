//! Tokens and members through the REST API, against a real PostgreSQL: what
//! is stored, who may do what, and how refusals look.

use contaxy_api::ApiSettings;
use contaxy_tests::api::{TestApi, assert_problem, random_secret, test_api_settings};
use contaxy_tests::{TestDb, common_config, spawn_api, str_of};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;

#[tokio::test]
async fn only_token_hashes_are_stored() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let (user_token, user_id) = api
        .create_token("users/alice", &["projects/alpha#read"], None)
        .await;
    let project_token = api.project_token("alpha", "write").await;

    let mut conn = api.db.connect().await;
    let rows = sqlx::query(
        "SELECT id::text, token_hash, to_jsonb(t)::text AS everything FROM api_tokens t",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the tokens table");
    assert_eq!(rows.len(), 2, "one user token, one project token");
    let hashes: Vec<Vec<u8>> = rows.iter().map(|r| r.get("token_hash")).collect();
    for token in [&user_token, &project_token] {
        let hash = Sha256::digest(token.as_bytes()).to_vec();
        assert!(
            hashes.contains(&hash),
            "the SHA-256 of each token is stored"
        );
        for row in &rows {
            let everything: String = row.get("everything");
            assert!(
                !everything.contains(token.as_str()),
                "a token's text is stored: {everything}"
            );
        }
    }
    assert!(rows.iter().any(|r| r.get::<String, _>("id") == user_id));
    // The configured admin token is not stored at all.
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(to_jsonb(t)::text, ' ') FROM api_tokens t")
            .fetch_one(&mut conn)
            .await
            .expect("dump");
    assert!(!dump.contains(&api.admin));
    // Tokens carry 256 bits: 43 base64 characters after the prefix.
    assert!(
        user_token.starts_with("ctxy_") && user_token.len() == 48,
        "{user_token}"
    );
}

#[tokio::test]
async fn a_project_token_is_the_same_until_it_is_revoked() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let first = api.project_token("alpha", "write").await;
    assert_eq!(
        api.project_token("alpha", "write").await,
        first,
        "the same token again"
    );
    let read = api.project_token("alpha", "read").await;
    assert_ne!(read, first, "each level has its own token");
    assert_eq!(api.get("/projects/alpha", &first).await.status, 200);

    let listed = api
        .get("/auth/tokens?subject=projects/alpha", &api.admin)
        .await;
    let id = listed
        .body
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["scopes"] == json!(["projects/alpha#write"]))
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .expect("the write token is listed");
    assert_eq!(listed.body[0]["token_type"], "project-token");
    // contaxy's ApiToken needs a `token`: a placeholder that reveals nothing.
    let placeholder = format!("redacted:{}", str_of(&listed.body[0], "id"));
    assert_eq!(
        listed.body[0]["token"], placeholder,
        "a listing never shows a token"
    );
    let revoked = api
        .call(
            Method::DELETE,
            &format!("/auth/tokens/{id}"),
            Some(&first),
            None,
        )
        .await;
    assert_eq!(
        revoked.status, 403,
        "a write token may not revoke project tokens"
    );
    let revoked = api
        .call(
            Method::DELETE,
            &format!("/auth/tokens/{id}"),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204);
    let after = api.get("/projects/alpha", &first).await;
    assert_problem(&after, 401);
    assert!(
        after.body["message"]
            .as_str()
            .expect("message")
            .contains("revoked")
    );

    let second = api.project_token("alpha", "write").await;
    assert_ne!(second, first, "a revoked token is replaced by a new one");
    assert_eq!(api.project_token("alpha", "write").await, second);
    assert_eq!(api.get("/projects/alpha", &second).await.status, 200);
    // Revoking again is not an error.
    let again = api
        .call(
            Method::DELETE,
            &format!("/auth/tokens/{id}"),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(again.status, 204);
}

#[tokio::test]
async fn a_user_token_acts_only_within_the_users_membership() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    api.create_project("beta").await;
    let (alice, _) = api
        .create_token("users/alice", &["projects#admin"], None)
        .await;

    assert_problem(&api.get("/projects/alpha", &alice).await, 404);
    api.add_member("alpha", "alice", "read").await;
    assert_eq!(api.get("/projects/alpha", &alice).await.status, 200);
    let patch = json!({"description": "by alice"});
    let refused = api
        .call(Method::PATCH, "/projects/alpha", Some(&alice), Some(&patch))
        .await;
    assert_problem(&refused, 403);
    assert_eq!(
        refused.body["details"]["required_permission"],
        "projects/alpha#write"
    );

    api.add_member("alpha", "alice", "write").await;
    let changed = api
        .call(Method::PATCH, "/projects/alpha", Some(&alice), Some(&patch))
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["updated_by"], "users/alice");

    let listed = api.get("/projects", &alice).await;
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["alpha"], "only projects alice may read");
    let members = api.get("/projects/alpha/users", &alice).await;
    assert!(
        members
            .body
            .as_array()
            .expect("list")
            .iter()
            .any(|m| m["id"] == "alice" && m["access_level"] == "write"),
        "{:?}",
        members.body
    );

    let removed = api
        .call(
            Method::DELETE,
            "/projects/alpha/users/alice",
            Some(&api.admin),
            None,
        )
        .await;
    // contaxy's answer: the members left.
    assert_eq!(removed.status, 200);
    let left = removed.body.as_array().expect("the members left");
    assert!(left.iter().all(|m| m["id"] != "alice"), "{left:?}");
    assert_problem(&api.get("/projects/alpha", &alice).await, 404);
    let listed = api.get("/projects", &alice).await;
    assert_eq!(listed.body, json!([]));

    // A narrower scope narrows a wider membership.
    api.add_member("alpha", "alice", "admin").await;
    let (narrow, _) = api
        .create_token("users/alice", &["projects/alpha#read"], None)
        .await;
    assert_eq!(api.get("/projects/alpha", &narrow).await.status, 200);
    let refused = api
        .call(
            Method::PATCH,
            "/projects/alpha",
            Some(&narrow),
            Some(&patch),
        )
        .await;
    assert_problem(&refused, 403);
}

#[tokio::test]
async fn a_token_never_carries_more_than_its_maker_holds() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    api.add_member("alpha", "alice", "write").await;
    let (alice, _) = api
        .create_token("users/alice", &["projects/alpha#write"], None)
        .await;

    let mint = |scopes: Value, extra: Value| {
        let mut body = json!({ "scopes": scopes });
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    let too_much = mint_by_body(
        &api,
        &alice,
        &mint(json!(["projects/alpha#admin"]), json!({})),
    )
    .await;
    assert_problem(&too_much, 403);
    let elsewhere = mint_by_body(&api, &alice, &mint(json!(["*#read"]), json!({}))).await;
    assert_problem(&elsewhere, 403);
    let for_bob = mint_by_body(
        &api,
        &alice,
        &mint(
            json!(["projects/alpha#read"]),
            json!({"subject": "users/bob"}),
        ),
    )
    .await;
    assert_problem(&for_bob, 403);
    let in_the_past = mint_by_body(
        &api,
        &alice,
        &mint(
            json!(["projects/alpha#read"]),
            json!({"expires_at": "2001-01-01T00:00:00Z"}),
        ),
    )
    .await;
    assert_problem(&in_the_past, 400);
    let malformed = mint_by_body(&api, &alice, &mint(json!(["projects/alpha"]), json!({}))).await;
    assert_problem(&malformed, 400);

    let ok = mint_by_body(
        &api,
        &alice,
        &mint(
            json!(["projects/alpha#read"]),
            json!({"description": "ci", "expires_at": "2999-01-01T00:00:00Z"}),
        ),
    )
    .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert_eq!(ok.body["subject"], "users/alice");
    assert_eq!(ok.body["created_by"], "users/alice");
    let child = ok.body["token"].as_str().expect("token");
    assert_eq!(api.get("/projects/alpha", child).await.status, 200);
    let own = api.get("/auth/tokens", &alice).await;
    assert_eq!(
        own.body.as_array().expect("list").len(),
        2,
        "{:?}",
        own.body
    );

    // A project token mints nothing.
    let project = api.project_token("alpha", "admin").await;
    let refused = mint_by_body(
        &api,
        &project,
        &mint(json!(["projects/alpha#read"]), json!({})),
    )
    .await;
    assert_problem(&refused, 403);
}

#[tokio::test]
async fn contaxy_token_forms_are_accepted() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let token = api.project_token("alpha", "read").await;
    let header = api
        .send(
            |c, url| c.get(url).header("ct_token", &token),
            "/projects/alpha",
        )
        .await;
    assert_eq!(header.status, 200, "{:?}", header.body);
    let query = api
        .send(
            |c, url| c.get(format!("{url}?ct_token={token}")),
            "/projects/alpha",
        )
        .await;
    assert_eq!(query.status, 200, "{:?}", query.body);
    let cookie = api
        .send(
            |c, url| {
                c.get(url)
                    .header("cookie", format!("theme=dark; ct_token={token}"))
            },
            "/projects/alpha",
        )
        .await;
    assert_eq!(cookie.status, 200, "{:?}", cookie.body);
    let wrong = api
        .send(
            |c, url| c.get(url).header("cookie", "ct_token=ctxy_nope"),
            "/projects/alpha",
        )
        .await;
    assert_problem(&wrong, 401);
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let api = TestApi::start_with(|s: &mut ApiSettings| {
        s.api_rate_limit_per_second = 1;
        s.api_rate_limit_burst = 3;
    })
    .await;
    let (token, _) = api.create_token("users/admin", &["*#read"], None).await;
    for _ in 0..3 {
        assert_eq!(api.get("/projects", &token).await.status, 200);
    }
    let limited = api.get("/projects", &token).await;
    assert_problem(&limited, 429);
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Another token is not held back by this one.
    let (other, _) = api.create_token("users/admin", &["*#read"], None).await;
    assert_eq!(api.get("/projects", &other).await.status, 200);
}

#[tokio::test]
async fn verify_reports_the_subject_and_checks_the_permission() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let token = api.project_token("alpha", "write").await;
    let plain = api
        .call(Method::POST, "/auth/tokens/verify", Some(&token), None)
        .await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body["authorized_subject"], "projects/alpha");
    let granted = api
        .call(
            Method::POST,
            "/auth/tokens/verify?permission=projects/alpha/services/web%23write",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        granted.status, 200,
        "a grant covers what is below it: {:?}",
        granted.body
    );
    assert_eq!(granted.body["access_level"], "write");
    let denied = api
        .call(
            Method::POST,
            "/auth/tokens/verify?permission=projects/alpha%23admin",
            Some(&token),
            None,
        )
        .await;
    assert_problem(&denied, 403);
    let malformed = api
        .call(
            Method::POST,
            "/auth/tokens/verify?permission=nonsense",
            Some(&token),
            None,
        )
        .await;
    assert_problem(&malformed, 400);
}

#[tokio::test]
async fn verify_checks_the_token_given_in_the_body_not_the_callers() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let read = api.project_token("alpha", "read").await;
    // As contaxy's AuthClient.verify_access sends it: a JSON string, no
    // content type, the admin's own token in the header.
    let api = &api;
    let verify = |query: &'static str, body: String| async move {
        let admin = api.admin.clone();
        api.send(
            move |c, url| c.post(url).bearer_auth(&admin).body(body),
            &format!("/auth/tokens/verify{query}"),
        )
        .await
    };
    let given = verify("?permission=projects/alpha%23read", format!("\"{read}\"")).await;
    assert_eq!(given.status, 200, "{:?}", given.body);
    assert_eq!(given.body["authorized_subject"], "projects/alpha");
    let above = verify("?permission=projects/alpha%23write", format!("\"{read}\"")).await;
    assert_problem(&above, 403);
    let unknown = verify("", format!("\"ctxy_{}\"", "A".repeat(43))).await;
    assert_problem(&unknown, 401);
    let own = verify("?permission=projects/alpha%23admin", String::new()).await;
    assert_eq!(
        own.status, 200,
        "without a body, the caller's own: {:?}",
        own.body
    );
    assert_eq!(own.body["authorized_subject"], "users/admin");
}

#[tokio::test]
async fn a_short_admin_token_stops_the_api_at_start_and_none_means_no_admin() {
    let db = TestDb::new().await;
    let short = spawn_api(common_config(db.url()), test_api_settings("too-short")).await;
    let error = short.expect_err("a short admin token is refused");
    assert!(error.to_string().contains("CONTAXY_ADMIN_TOKEN"), "{error}");

    let api = TestApi::start_with(|s: &mut ApiSettings| s.admin_token = None).await;
    assert_problem(&api.get("/projects", &random_secret()).await, 401);
    assert_problem(&api.get("/projects", &api.admin).await, 401);
}

/// `POST /auth/tokens` with a JSON body, with `token`.
async fn mint_by_body(api: &TestApi, token: &str, body: &Value) -> contaxy_tests::api::Answer {
    api.call(Method::POST, "/auth/tokens", Some(token), Some(body))
        .await
}

/// `POST /auth/tokens` in contaxy's query form (no body), with `token`.
async fn mint_by_query(api: &TestApi, token: &str, query: &str) -> contaxy_tests::api::Answer {
    api.call(
        Method::POST,
        &format!("/auth/tokens?{query}"),
        Some(token),
        None,
    )
    .await
}

/// The field named by a 400's `details.fields`, with its message.
fn refused_field(answer: &contaxy_tests::api::Answer) -> (String, String) {
    assert_problem(answer, 400);
    let field = &answer.body["details"]["fields"][0];
    (
        field["field"].as_str().unwrap_or_default().to_owned(),
        field["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn contaxys_query_form_mints_a_token_with_exactly_its_scopes() {
    let api = TestApi::start().await;
    for project in ["alpha", "beta", "gamma"] {
        api.create_project(project).await;
        api.add_member(project, "alice", "write").await;
    }
    let (alice, _) = api
        .create_token("users/alice", &["projects#write"], None)
        .await;

    let minted = mint_by_query(
        &api,
        &alice,
        "scope=projects/alpha%23write&scope=projects%2Fbeta%23read&token_type=api-token&description=contaxy+client",
    )
    .await;
    // contaxy's answer: 200 with the bare token.
    assert_eq!(minted.status, 200, "{:?}", minted.body);
    let child = minted.body.as_str().expect("the token as a JSON string");
    let listed = api.get("/auth/tokens", &alice).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let record = listed
        .body
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["description"] == "contaxy client")
        .unwrap_or_else(|| panic!("the minted token is not listed: {:?}", listed.body))
        .clone();
    assert_eq!(
        record["scopes"],
        json!(["projects/alpha#write", "projects/beta#read"])
    );
    assert_eq!(record["subject"], "users/alice");
    assert_eq!(record["token_type"], "api-token");
    assert_eq!(record["expires_at"], Value::Null);

    // Each scope grants what it says and no more.
    let patch = json!({"description": "by the child"});
    let alpha = api
        .call(Method::PATCH, "/projects/alpha", Some(child), Some(&patch))
        .await;
    assert_eq!(alpha.status, 200, "write on alpha: {:?}", alpha.body);
    assert_eq!(api.get("/projects/beta", child).await.status, 200);
    let beta = api
        .call(Method::PATCH, "/projects/beta", Some(child), Some(&patch))
        .await;
    assert_problem(&beta, 403);
    assert_eq!(
        beta.body["details"]["required_permission"],
        "projects/beta#write"
    );
    assert_problem(&api.get("/projects/gamma", child).await, 404);

    // One `scope` is a list of one; the caller's token may come as
    // `?ct_token=`, as contaxy clients send it.
    let single = api
        .send(
            |c, url| {
                c.post(format!(
                    "{url}?ct_token={alice}&scope=projects/gamma%23read"
                ))
            },
            "/auth/tokens",
        )
        .await;
    assert_eq!(single.status, 200, "{:?}", single.body);
    let single = single.body.as_str().expect("the token");
    assert_eq!(api.get("/projects/gamma", single).await.status, 200);
    assert_problem(&api.get("/projects/alpha", single).await, 404);

    // The same checks as the JSON form: never more than the maker holds.
    assert_problem(&mint_by_query(&api, &alice, "scope=*%23read").await, 403);
    assert_problem(
        &mint_by_query(&api, &alice, "scope=projects/alpha%23admin").await,
        403,
    );
    assert_problem(
        &mint_by_query(&api, &alice, "scope=projects/alpha").await,
        400,
    );
    let listed = api.get("/auth/tokens", &alice).await;
    assert_eq!(
        listed.body.as_array().expect("list").len(),
        3,
        "alice's own and the two minted: {:?}",
        listed.body
    );
}

#[tokio::test]
async fn the_query_form_refuses_other_token_types_naming_the_field() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let (admin_user, _) = api.create_token("users/admin", &["*#admin"], None).await;

    let session = mint_by_query(
        &api,
        &admin_user,
        "scope=projects/alpha%23read&token_type=session-token",
    )
    .await;
    let (field, message) = refused_field(&session);
    assert_eq!(field, "token_type");
    assert!(message.contains("only API tokens"), "{message}");

    let unknown = mint_by_query(
        &api,
        &admin_user,
        "scope=projects/alpha%23read&token_type=refresh-token",
    )
    .await;
    let (field, message) = refused_field(&unknown);
    assert_eq!(field, "token_type");
    assert!(message.contains("api-token"), "{message}");

    let misspelt = mint_by_query(&api, &admin_user, "scopes=projects/alpha%23read").await;
    assert_eq!(refused_field(&misspelt).0, "scopes");

    let listed = api.get("/auth/tokens", &admin_user).await;
    assert_eq!(
        listed.body.as_array().expect("list").len(),
        1,
        "nothing was minted: {:?}",
        listed.body
    );
}

#[tokio::test]
async fn both_forms_at_once_or_no_scopes_at_all_are_refused() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    let (admin_user, _) = api.create_token("users/admin", &["*#admin"], None).await;

    let both = api
        .call(
            Method::POST,
            "/auth/tokens?scope=projects/alpha%23read",
            Some(&admin_user),
            Some(&json!({"scopes": ["projects/alpha#write"]})),
        )
        .await;
    assert_problem(&both, 400);
    let message = both.body["message"].as_str().expect("message");
    assert!(
        message.contains("query parameters") && message.contains("JSON body"),
        "{message}"
    );

    for no_scopes in ["", "?token_type=api-token&description=nothing"] {
        let answer = api
            .call(
                Method::POST,
                &format!("/auth/tokens{no_scopes}"),
                Some(&admin_user),
                None,
            )
            .await;
        assert_problem(&answer, 400);
        let message = answer.body["message"].as_str().expect("message");
        assert!(message.contains("1 to 64 scopes"), "{no_scopes}: {message}");
    }
    let empty_list = mint_by_body(&api, &admin_user, &json!({"scopes": []})).await;
    assert_problem(&empty_list, 400);

    let listed = api.get("/auth/tokens", &admin_user).await;
    assert_eq!(
        listed.body.as_array().expect("list").len(),
        1,
        "nothing was minted: {:?}",
        listed.body
    );
}

/// Random tokens each pass the per-token limit; the client's address is
/// limited for unknown tokens instead, and refused before any lookup once
/// over it. The admin token still works from there.
#[tokio::test]
async fn an_address_presenting_unknown_tokens_is_limited() {
    let api = TestApi::start_with(|settings| {
        settings.api_unknown_tokens_per_minute = 1;
        settings.api_unknown_tokens_burst = 3;
    })
    .await;
    for _ in 0..3 {
        let guess = random_secret();
        assert_problem(&api.get("/projects", &guess).await, 401);
    }
    let refused = api.get("/projects", &random_secret()).await;
    assert_problem(&refused, 429);
    assert!(
        refused.body["details"]["retry_after_seconds"].as_u64() >= Some(1),
        "{:?}",
        refused.body
    );
    assert_eq!(api.get("/projects", &api.admin).await.status, 200);
}

#[tokio::test]
async fn a_project_token_a_member_fetched_stops_working_when_they_leave_or_are_lowered() {
    let api = TestApi::start().await;
    api.create_project("alpha").await;
    api.add_member("alpha", "alice", "write").await;
    let (alice, _) = api
        .create_token("users/alice", &["projects/alpha#write"], None)
        .await;
    let fetch = |level: &'static str| {
        let alice = alice.clone();
        let api = &api;
        async move {
            let answer = api
                .get(
                    &format!("/projects/alpha/token?access_level={level}"),
                    &alice,
                )
                .await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            answer.body.as_str().expect("a token").to_owned()
        }
    };
    let write = fetch("write").await;
    let read = fetch("read").await;
    assert_eq!(api.get("/projects/alpha", &write).await.status, 200);

    // Lowered to read: the write token she kept stops working, read stays.
    api.add_member("alpha", "alice", "read").await;
    assert_problem(&api.get("/projects/alpha", &write).await, 401);
    assert_eq!(api.get("/projects/alpha", &read).await.status, 200);
    let fresh_write = api.project_token("alpha", "write").await;
    assert_ne!(fresh_write, write, "the others get a new one");
    assert_eq!(api.get("/projects/alpha", &fresh_write).await.status, 200);

    // Removed: nothing she fetched works.
    let removed = api
        .call(
            Method::DELETE,
            "/projects/alpha/users/alice",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_problem(&api.get("/projects/alpha", &read).await, 401);
    // Tokens of levels above hers stay: she never could fetch them.
    assert_eq!(api.get("/projects/alpha", &fresh_write).await.status, 200);
}
