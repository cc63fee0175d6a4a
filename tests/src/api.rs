//! A running API on a fresh database, with an admin token and a small HTTP
//! client, for tests that go through the REST API.

use contaxy_api::ApiSettings;
use contaxy_common::config::CommonConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{DEADLINE, Spawned, TestDb, common_config, eventually, get_json, spawn_api};

/// An API started in process against its own database.
#[derive(Debug)]
pub struct TestApi {
    /// The running API.
    pub app: Spawned,
    /// Its database (dropped after the API).
    pub db: TestDb,
    /// The bootstrap admin token it was configured with.
    pub admin: String,
    /// The shared settings it runs with (database, broker prefix).
    pub common: contaxy_common::config::CommonConfig,
    client: reqwest::Client,
}

/// A response: status and JSON body (`Null` when there is none).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON, or `Null`.
    pub body: Value,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
}

/// Settings for a test API: a random admin token, loopback everything else.
pub fn test_api_settings(admin_token: &str) -> ApiSettings {
    ApiSettings {
        admin_token: Some(admin_token.to_owned().into()),
        // No test waits 10 s for a worker that is not there.
        api_logs_timeout_ms: 1_000,
        // Event streams end soon, so that a test reading one to its end
        // (and its reconnects) does not wait an hour.
        api_event_stream_max_secs: 2,
        // Waits wake on PostgreSQL's change notifications alone: their
        // timed re-read comes after the wait timeout (60 s), so a lost
        // notification shows as a 202 where a test expects 200.
        api_recheck_interval_ms: 120_000,
        ..ApiSettings::default()
    }
}

/// A random secret long enough for `CONTAXY_ADMIN_TOKEN`.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl TestApi {
    /// Starts the API with an admin token and waits until it is ready (the
    /// migrations are applied).
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestApi::start`], with the settings changed by `adjust` first.
    pub async fn start_with(adjust: impl FnOnce(&mut ApiSettings)) -> Self {
        let db = TestDb::new().await;
        let common = common_config(db.url());
        let api = Self::spawn_on(db, common, adjust).await;
        api.wait_ready().await;
        api
    }

    /// Starts the API on `db` with `common` (its broker and namespace), the
    /// settings changed by `adjust`; does not wait for it to be ready.
    pub async fn spawn_on(
        db: TestDb,
        common: CommonConfig,
        adjust: impl FnOnce(&mut ApiSettings),
    ) -> Self {
        let admin = random_secret();
        let mut settings = test_api_settings(&admin);
        adjust(&mut settings);
        let app = spawn_api(common.clone(), settings)
            .await
            .expect("the API starts");
        Self {
            app,
            db,
            admin,
            common,
            client: reqwest::Client::new(),
        }
    }

    /// Waits until `/readyz` answers 200 (PostgreSQL migrated, RabbitMQ
    /// connected and the topology declared).
    pub async fn wait_ready(&self) {
        self.app.wait_ready("the API").await;
    }

    /// Waits until the API's database is migrated, whatever RabbitMQ does.
    pub async fn wait_database_ready(&self) {
        let url = self.app.url("/readyz");
        eventually(DEADLINE, "the API's database to be ready", || async {
            let (_, body) = get_json(&url).await?;
            (body["checks"]["postgres"]["ok"] == true).then_some(())
        })
        .await;
    }

    /// Sends `method path` with `token` as a bearer token (if any) and
    /// `body` as JSON (if any).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self.client.request(method, self.app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::answer(request).await
    }

    /// Sends a request built by the caller (for other token forms).
    pub async fn send(
        &self,
        build: impl FnOnce(&reqwest::Client, String) -> reqwest::RequestBuilder,
        path: &str,
    ) -> Answer {
        Self::answer(build(&self.client, self.app.url(path))).await
    }

    async fn answer(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }

    /// Uploads `bytes` as multipart field `file` to `key` in `project`
    /// with `token`; the part has `content_type` if one is given, and the
    /// request the extra `headers` (`x-amz-meta-*`).
    pub async fn upload(
        &self,
        project: &str,
        key: &str,
        token: &str,
        bytes: Vec<u8>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut part = reqwest::multipart::Part::bytes(bytes).file_name("upload");
        if let Some(content_type) = content_type {
            part = part.mime_str(content_type).expect("a content type");
        }
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut request = self
            .client
            .post(self.app.url(&format!("/projects/{project}/files/{key}")))
            .bearer_auth(token)
            .multipart(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::answer(request).await
    }

    /// GETs `path` with `token`.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// Creates a project as the admin.
    pub async fn create_project(&self, id: &str) -> Value {
        let answer = self
            .call(
                Method::POST,
                "/projects",
                Some(&self.admin),
                Some(&json!({ "id": id, "display_name": format!("Project {id}") })),
            )
            .await;
        assert_eq!(answer.status, 201, "create project {id}: {:?}", answer.body);
        answer.body
    }

    /// Creates a token as the admin for `subject` with `scopes`; returns the
    /// token text and its id.
    pub async fn create_token(
        &self,
        subject: &str,
        scopes: &[&str],
        expires_at: Option<&str>,
    ) -> (String, String) {
        let mut body = json!({ "subject": subject, "scopes": scopes, "description": "test" });
        if let Some(at) = expires_at {
            body["expires_at"] = json!(at);
        }
        let answer = self
            .call(Method::POST, "/auth/tokens", Some(&self.admin), Some(&body))
            .await;
        assert_eq!(answer.status, 201, "create token: {:?}", answer.body);
        (
            answer.body["token"].as_str().expect("token").to_owned(),
            answer.body["id"].as_str().expect("id").to_owned(),
        )
    }

    /// The project token of `project` at `level`, asked for as the admin.
    pub async fn project_token(&self, project: &str, level: &str) -> String {
        let answer = self
            .call(
                Method::GET,
                &format!("/projects/{project}/token?access_level={level}"),
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "project token: {:?}", answer.body);
        answer.body.as_str().expect("a token string").to_owned()
    }

    /// Makes `user` a member of `project` at `level`, as the admin.
    pub async fn add_member(&self, project: &str, user: &str, level: &str) {
        let answer = self
            .call(
                Method::PUT,
                &format!("/projects/{project}/users/{user}?access_level={level}"),
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "add member: {:?}", answer.body);
    }
}

/// Asserts `answer` is an error with `status` in the API's error shape:
/// `{"code", "message", "explanation", "details"}` as
/// `application/problem+json`.
#[track_caller]
pub fn assert_problem(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.body["code"], status, "{:?}", answer.body);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{:?}",
        answer.body
    );
    assert!(answer.body["explanation"].is_string(), "{:?}", answer.body);
    assert!(answer.body["details"].is_object(), "{:?}", answer.body);
    assert_eq!(
        answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{:?}",
        answer.body
    );
}
