//! Every route of the API, enumerated from its OpenAPI document, against
//! every kind of token: none, a malformed one, an expired one, a revoked one,
//! one of another project, a read token where more is needed, and the right
//! one. Each refusal must leave the database exactly as it was.
//!
//! A route added to the API without a case here fails this test, and so does
//! a case for a route that no longer exists.

use std::collections::{BTreeMap, BTreeSet};

use contaxy_tests::IMAGE;
use contaxy_tests::api::{TestApi, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

/// One route and what each kind of token must get from it.
struct Case {
    method: Method,
    /// The path template as in the OpenAPI document.
    template: &'static str,
    /// The concrete path (and query) sent.
    path: String,
    body: Option<Value>,
    /// The name of the token that is allowed, and its status.
    right: &'static str,
    right_status: u16,
    /// The status for a token of another project (`beta`).
    other_project: u16,
    /// The status for a read-only token of `alpha`.
    read_token: u16,
}

/// The tokens of the scenario, by name.
struct Tokens(BTreeMap<&'static str, String>);

impl Tokens {
    fn get(&self, name: &str) -> &str {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no token {name}"))
    }
}

/// Every table's rows as JSON, to prove a refused request changed nothing.
async fn snapshot(api: &TestApi) -> BTreeMap<String, Value> {
    let mut conn = api.db.connect().await;
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list tables")
    .iter()
    .map(|row| row.get(0))
    .collect();
    let mut all = BTreeMap::new();
    for table in tables {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]'::jsonb) FROM {table} t"
        ))
        .fetch_one(&mut conn)
        .await
        .expect("dump a table");
        all.insert(table, rows);
    }
    all
}

/// The key of the file that exists before the cases run.
const FILE: &str = "data/report.csv";

/// What exists before the cases run: a service, a job, an action, a
/// schedule (and the file [`FILE`]).
struct Existing {
    service: String,
    job: String,
    action: String,
    schedule: String,
}

async fn deploy(api: &TestApi, kind: &str, name: &str) -> Value {
    let answer = api
        .call(
            Method::POST,
            &format!("/projects/alpha/{kind}"),
            Some(&api.admin),
            Some(&json!({"container_image": IMAGE, "display_name": name})),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    answer.body
}

async fn setup(api: &TestApi) -> (Tokens, String, Existing) {
    api.create_project("alpha").await;
    api.create_project("beta").await;
    api.add_member("alpha", "alice", "admin").await;

    let mut tokens = BTreeMap::new();
    tokens.insert("admin", api.admin.clone());
    tokens.insert("alpha_admin", api.project_token("alpha", "admin").await);
    tokens.insert("alpha_write", api.project_token("alpha", "write").await);
    tokens.insert("alpha_read", api.project_token("alpha", "read").await);
    tokens.insert("beta_admin", api.project_token("beta", "admin").await);
    let (alice, _) = api
        .create_token(
            "users/alice",
            &["projects#write", "users/alice#admin"],
            None,
        )
        .await;
    tokens.insert("alice", alice);
    // Tokens that would be allowed everywhere, were they still valid.
    let (expired, expired_id) = api.create_token("users/admin", &["*#admin"], None).await;
    let mut conn = api.db.connect().await;
    sqlx::query(
        "UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
    )
    .bind(&expired_id)
    .execute(&mut conn)
    .await
    .expect("expire the token");
    tokens.insert("expired", expired);
    let (revoked, revoked_id) = api.create_token("users/admin", &["*#admin"], None).await;
    let answer = api
        .call(
            Method::DELETE,
            &format!("/auth/tokens/{revoked_id}"),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    tokens.insert("revoked", revoked);
    tokens.insert(
        "bad",
        "ctxy_thisIsNotATokenThatWasEverIssuedByTheServer0".to_owned(),
    );

    // The write token of alpha is the one the revoke route's case revokes.
    let listed = api
        .call(
            Method::GET,
            "/auth/tokens?subject=projects/alpha",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let victim = listed
        .body
        .as_array()
        .expect("a list")
        .iter()
        .find(|t| t["scopes"] == json!(["projects/alpha#write"]))
        .and_then(|t| t["id"].as_str())
        .expect("alpha's write token is listed")
        .to_owned();
    let service = deploy(api, "services", "Web App").await;
    let job = deploy(api, "jobs", "Nightly Batch").await;
    let file = api
        .upload("alpha", FILE, &api.admin, b"a,b\n".to_vec(), None, &[])
        .await;
    assert_eq!(file.status, 200, "{:?}", file.body);
    let schedule = api
        .call(
            Method::POST,
            "/projects/alpha/schedules",
            Some(&api.admin),
            Some(&json!({"cron": "0 3 * * *", "job_template": {"container_image": IMAGE, "display_name": "Nightly"}})),
        )
        .await;
    assert_eq!(schedule.status, 201, "{:?}", schedule.body);
    let existing = Existing {
        schedule: schedule.body["id"].as_str().expect("an id").to_owned(),
        service: service["id"].as_str().expect("an id").to_owned(),
        job: job["id"].as_str().expect("an id").to_owned(),
        action: service["action_id"]
            .as_str()
            .expect("an action id")
            .to_owned(),
    };
    (Tokens(tokens), victim, existing)
}

/// The cases, in the order their allowed requests run: the revoke case after
/// every case that uses alpha's write token, the project deletion last.
fn cases(victim: &str, existing: &Existing) -> Vec<Case> {
    let service = format!("/projects/alpha/services/{}", existing.service);
    let job = format!("/projects/alpha/jobs/{}", existing.job);
    let schedule = format!("/projects/alpha/schedules/{}", existing.schedule);
    let new_deployment = || Some(json!({"container_image": IMAGE, "display_name": "Second One"}));
    let case =
        |method, template, path: &str, body, right, right_status, other_project, read_token| Case {
            method,
            template,
            path: path.to_owned(),
            body,
            right,
            right_status,
            other_project,
            read_token,
        };
    vec![
        case(
            Method::POST,
            "/projects",
            "/projects",
            Some(json!({"id": "gamma", "display_name": "Gamma"})),
            "alice",
            201,
            403,
            403,
        ),
        case(
            Method::GET,
            "/projects",
            "/projects",
            None,
            "alpha_read",
            200,
            200,
            200,
        ),
        case(
            Method::GET,
            "/system/health",
            "/system/health",
            None,
            "alpha_read",
            204,
            204,
            204,
        ),
        case(
            Method::GET,
            "/system/info",
            "/system/info",
            None,
            "alpha_read",
            200,
            200,
            200,
        ),
        case(
            Method::GET,
            "/admin/dead-letters",
            "/admin/dead-letters",
            None,
            "admin",
            200,
            403,
            403,
        ),
        case(
            Method::GET,
            "/system/statistics",
            "/system/statistics",
            None,
            "admin",
            200,
            403,
            403,
        ),
        case(
            Method::POST,
            "/admin/dead-letters/{action_id}",
            &format!("/admin/dead-letters/{}:replay", existing.action),
            None,
            "admin",
            409,
            403,
            403,
        ),
        case(
            Method::GET,
            "/system/allowed-images",
            "/system/allowed-images",
            None,
            "alpha_read",
            200,
            200,
            200,
        ),
        // Added and removed again at once: the deploys below need an empty
        // list.
        case(
            Method::POST,
            "/system/allowed-images",
            "/system/allowed-images",
            Some(json!({"image_name": "registry.example/app", "image_tags": ["*"]})),
            "admin",
            200,
            403,
            403,
        ),
        case(
            Method::DELETE,
            "/system/allowed-images",
            "/system/allowed-images?image_name=registry.example/app",
            None,
            "admin",
            204,
            403,
            403,
        ),
        case(
            Method::GET,
            "/projects:suggest-id",
            "/projects:suggest-id?display_name=Alpha",
            None,
            "alpha_read",
            200,
            200,
            200,
        ),
        case(
            Method::GET,
            "/projects/{project_id}",
            "/projects/alpha",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::PATCH,
            "/projects/{project_id}",
            "/projects/alpha",
            Some(json!({"description": "changed"})),
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/users",
            "/projects/alpha/users",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::PUT,
            "/projects/{project_id}/users/{user_id}",
            "/projects/alpha/users/bob?access_level=read",
            None,
            "alpha_admin",
            200,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/users/{user_id}",
            // Not a member (removing one revokes the project tokens of their
            // levels, which later cases use; tokens_api tests that).
            "/projects/alpha/users/dave",
            None,
            "alpha_admin",
            200,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/events",
            "/projects/alpha/events",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/networks",
            "/projects/alpha/networks",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        // Files: the upload's right token gets past every check and is then
        // refused for its JSON body (400); the file exists from the setup.
        case(
            Method::GET,
            "/projects/{project_id}/files",
            "/projects/alpha/files",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/files/{file_key}",
            &format!("/projects/alpha/files/{FILE}"),
            Some(json!({})),
            "alpha_write",
            400,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/files/{file_key}:metadata",
            &format!("/projects/alpha/files/{FILE}:metadata"),
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/files/{file_key}:download",
            &format!("/projects/alpha/files/{FILE}:download"),
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/files/{file_key}:download-url",
            &format!("/projects/alpha/files/{FILE}:download-url"),
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/files/{file_key}:upload-url",
            &format!("/projects/alpha/files/{FILE}:upload-url"),
            None,
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::PATCH,
            "/projects/{project_id}/files/{file_key}",
            &format!("/projects/alpha/files/{FILE}"),
            Some(json!({"description": "changed"})),
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/files/{file_key}",
            &format!("/projects/alpha/files/{FILE}"),
            None,
            "alpha_write",
            204,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/token",
            "/projects/alpha/token?access_level=write",
            None,
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::POST,
            "/auth/tokens",
            "/auth/tokens",
            Some(json!({"scopes": ["projects/alpha#read"]})),
            "alice",
            201,
            403,
            403,
        ),
        case(
            Method::GET,
            "/auth/tokens",
            "/auth/tokens",
            None,
            "alice",
            200,
            200,
            403,
        ),
        case(
            Method::POST,
            "/auth/tokens/verify",
            "/auth/tokens/verify?permission=projects/alpha%23read",
            None,
            "alpha_read",
            200,
            403,
            200,
        ),
        // Deployments: alpha's write token is still valid here.
        case(
            Method::GET,
            "/projects/{project_id}/services",
            "/projects/alpha/services",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/services",
            "/projects/alpha/services",
            new_deployment(),
            "alpha_write",
            202,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/services/{service_id}",
            &service,
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/services/{service_id}:update-service-access",
            &format!("{service}:update-service-access"),
            None,
            "alpha_write",
            204,
            404,
            403,
        ),
        case(
            Method::PATCH,
            "/projects/{project_id}/services/{service_id}",
            &service,
            Some(json!({"description": "changed"})),
            "alpha_write",
            202,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/services:suggest-config",
            &format!("/projects/alpha/services:suggest-config?container_image={IMAGE}"),
            None,
            "alpha_write",
            503,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/jobs:suggest-config",
            &format!("/projects/alpha/jobs:suggest-config?container_image={IMAGE}"),
            None,
            "alpha_write",
            503,
            404,
            403,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/services:deploy-actions",
            "/projects/alpha/services:deploy-actions",
            new_deployment(),
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/jobs:deploy-actions",
            "/projects/alpha/jobs:deploy-actions",
            new_deployment(),
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/jobs/{job_id}/actions",
            &format!("{job}/actions"),
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/services/{service_id}/actions",
            &format!("{service}/actions"),
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/services/{service_id}/actions/{action_id}",
            &format!("{service}/actions/restart"),
            None,
            "alpha_write",
            202,
            404,
            403,
        ),
        // No worker runs in this test: the logs routes get past every check
        // and then find no worker to answer.
        case(
            Method::GET,
            "/projects/{project_id}/services/{service_id}/logs",
            &format!("{service}/logs"),
            None,
            "alpha_write",
            503,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/services/{service_id}",
            &service,
            None,
            "alpha_write",
            202,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/services",
            "/projects/alpha/services",
            None,
            "alpha_admin",
            202,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/jobs",
            "/projects/alpha/jobs",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/jobs",
            "/projects/alpha/jobs",
            new_deployment(),
            "alpha_write",
            202,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/jobs/{job_id}",
            &job,
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/jobs/{job_id}/logs",
            &format!("{job}/logs"),
            None,
            "alpha_write",
            503,
            404,
            403,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/jobs/{job_id}/actions/{action_id}",
            &format!("{job}/actions/cancel"),
            None,
            "alpha_write",
            202,
            404,
            403,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/jobs/{job_id}:cancel",
            &format!("{job}:cancel"),
            None,
            "alpha_write",
            202,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/jobs/{job_id}",
            &job,
            None,
            "alpha_write",
            202,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/jobs",
            "/projects/alpha/jobs",
            None,
            "alpha_admin",
            202,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/files",
            "/projects/alpha/files?date_to=2020-01-01T00:00:00Z",
            None,
            "alpha_admin",
            202,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/schedules",
            "/projects/alpha/schedules",
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/schedules",
            "/projects/alpha/schedules",
            Some(
                json!({"cron": "0 4 * * *", "job_template": {"container_image": IMAGE, "display_name": "Nightly Two"}}),
            ),
            "alpha_write",
            201,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/schedules/{schedule_id}",
            &schedule,
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::PATCH,
            "/projects/{project_id}/schedules/{schedule_id}",
            &schedule,
            Some(json!({"display_name": "Renamed"})),
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::POST,
            "/projects/{project_id}/schedules/{schedule_id}",
            &format!("{schedule}:suspend"),
            None,
            "alpha_write",
            200,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/schedules/{schedule_id}/runs",
            &format!("{schedule}/runs"),
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}/schedules/{schedule_id}",
            &schedule,
            None,
            "alpha_write",
            204,
            404,
            403,
        ),
        case(
            Method::GET,
            "/projects/{project_id}/actions/{action_id}",
            &format!("/projects/alpha/actions/{}", existing.action),
            None,
            "alpha_read",
            200,
            404,
            200,
        ),
        case(
            Method::DELETE,
            "/auth/tokens/{token_id}",
            &format!("/auth/tokens/{victim}"),
            None,
            "alpha_admin",
            204,
            404,
            403,
        ),
        case(
            Method::DELETE,
            "/projects/{project_id}",
            "/projects/alpha",
            None,
            "alpha_admin",
            202,
            404,
            403,
        ),
    ]
}

/// The (method, path) pairs the OpenAPI document lists.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths in the document");
    paths
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .expect("operations")
                .keys()
                .filter(|method| {
                    [
                        "get", "post", "put", "patch", "delete", "head", "options", "trace",
                    ]
                    .contains(&method.as_str())
                })
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

#[tokio::test]
async fn every_route_refuses_what_it_must_and_allows_the_right_token() {
    // Every route is asked with bad tokens from one address: the limit on
    // an address's unknown tokens (tested in tokens_api) would answer 429.
    // No worker runs: the suggestions answer 503 after the (short) wait.
    let api = TestApi::start_with(|s| {
        s.api_unknown_tokens_per_minute = 0;
        s.api_wait_timeout_secs = 1;
    })
    .await;
    let (tokens, victim, existing) = setup(&api).await;
    let cases = cases(&victim, &existing);

    // The table covers exactly the documented routes.
    let doc = api.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    let documented = documented_routes(&doc.body);
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.method.to_string(), c.template.to_owned()))
        .collect();
    assert_eq!(covered.len(), cases.len(), "one case per route");
    let missing: Vec<_> = documented.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(missing.is_empty(), "routes without a case: {missing:?}");
    assert!(
        stale.is_empty(),
        "cases for routes that do not exist: {stale:?}"
    );

    // Refusals first: none of them may change anything.
    let before = snapshot(&api).await;
    for case in &cases {
        let what = format!("{} {}", case.method, case.path);
        let attempts = [
            (None, 401, "no token"),
            (Some("bad"), 401, "a bad token"),
            (Some("expired"), 401, "an expired token"),
            (Some("revoked"), 401, "a revoked token"),
            (
                Some("beta_admin"),
                case.other_project,
                "a token of another project",
            ),
            (Some("alpha_read"), case.read_token, "a read token"),
        ];
        for (token, want, kind) in attempts {
            let answer = api
                .call(
                    case.method.clone(),
                    &case.path,
                    token.map(|t| tokens.get(t)),
                    case.body.as_ref(),
                )
                .await;
            assert_eq!(answer.status, want, "{what} with {kind}: {:?}", answer.body);
            if want >= 400 {
                assert_problem(&answer, want);
                assert_eq!(
                    snapshot(&api).await,
                    before,
                    "{what} with {kind} changed the database"
                );
            }
            if want == 401 {
                assert_eq!(
                    answer
                        .headers
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok()),
                    Some("Bearer"),
                    "{what} with {kind}"
                );
            }
        }
    }

    // Then the right token, in the table's order.
    for case in &cases {
        let what = format!("{} {} with {}", case.method, case.path, case.right);
        let answer = api
            .call(
                case.method.clone(),
                &case.path,
                Some(tokens.get(case.right)),
                case.body.as_ref(),
            )
            .await;
        assert_eq!(
            answer.status, case.right_status,
            "{what}: {:?}",
            answer.body
        );
    }
    let store = contaxy_common::storage::ObjectStore::new(&api.common);
    contaxy_tests::storage::remove_buckets(&store, &api.common.s3_bucket_prefix).await;
}

#[tokio::test]
async fn public_routes_need_no_token_and_no_route_has_an_undocumented_method() {
    // Many requests with one token: rate limiting is not under test here.
    let api = TestApi::start_with(|s| s.api_rate_limit_per_second = 0).await;
    api.create_project("alpha").await;
    for path in contaxy_api::routes::PUBLIC_PATHS {
        let answer = api.call(Method::GET, path, None, None).await;
        assert_eq!(answer.status, 200, "{path} answers without a token");
    }
    let doc = api.call(Method::GET, "/openapi.json", None, None).await;
    let documented = documented_routes(&doc.body);
    let templates: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    for template in templates {
        let path = template
            .replace("{project_id}", "alpha")
            .replace("{user_id}", "bob")
            .replace("{token_id}", &uuid::Uuid::new_v4().to_string());
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if documented.contains(&(method.to_string(), template.clone())) {
                continue;
            }
            let answer = api
                .call(method.clone(), &path, Some(&api.admin), None)
                .await;
            assert_eq!(
                answer.status, 405,
                "{method} {path} must not be routed: {:?}",
                answer.body
            );
            assert_problem(&answer, 405);
        }
    }
}
