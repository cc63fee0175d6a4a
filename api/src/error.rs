//! The one place where errors become HTTP responses.
//!
//! Every error body has contaxy's shape, served as
//! `application/problem+json`:
//!
//! ```json
//! {"code": 404, "message": "Project `demo` was not found.",
//!  "explanation": "The resource does not exist, or this token may not see it.",
//!  "details": {}}
//! ```
//!
//! Policy: a client mistake is a 4xx that says what to fix; an internal
//! failure is a 500 whose cause is logged here, once, and never sent.
//! [`json_errors`] gives axum's own rejections (bad query, 405, 413, 415,
//! unknown routes) the same shape; bodies of the wrong shape are refused by
//! [`crate::json::JsonBody`] naming the field.

use std::time::Duration;

use axum::body::to_bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use contaxy_common::domain::InvalidValue;
use contaxy_common::domain::validation::FieldErrors;
use contaxy_common::storage::StorageError;
use contaxy_common::store::quotas::{QuotaError, QuotaExceeded};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one that is unknown, expired or revoked (401).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The token is valid but lacks the permission (403).
    #[error("{message}")]
    Forbidden {
        /// What was refused.
        message: String,
        /// The permission that would have been needed, if one names it.
        required: Option<String>,
    },
    /// No such resource, or the token may not see it (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's state (409).
    #[error("{0}")]
    Conflict(String),
    /// A per-tenant limit would be passed (409, the limit named in
    /// `details.limit`, its value in `details.max`).
    #[error("{0}")]
    QuotaExceeded(QuotaExceeded),
    /// A value in the request is invalid (400).
    #[error("{0}")]
    Invalid(String),
    /// Fields of the body are invalid (400, each named in `details.fields`).
    #[error("{0}")]
    InvalidFields(#[from] FieldErrors),
    /// This token sent too many requests (429).
    #[error("too many requests; retry after {0:?}")]
    RateLimited(Duration),
    /// A feature is not configured on this server (503).
    #[error("{0}")]
    Unavailable(String),
    /// The path exists, but not for this method (405); `allow` lists the
    /// methods it takes.
    #[error("{message}")]
    MethodNotAllowed {
        /// What to do instead.
        message: String,
        /// The `Allow` header.
        allow: &'static str,
    },
    /// The body is larger than this route accepts (413).
    #[error("{0}")]
    TooLarge(String),
    /// The `Range` asked for lies outside the file (416), which has `size`
    /// bytes.
    #[error("the range is not satisfiable")]
    RangeNotSatisfiable {
        /// The file's size, sent as `Content-Range: bytes */size`.
        size: u64,
    },
    /// A service the API depends on cannot be reached (503 with
    /// `Retry-After`): an outage, not a bug, so it is logged once per
    /// [`OUTAGE_LOG_INTERVAL`], not per request.
    #[error("{0} is unavailable")]
    DependencyDown(&'static str),
    /// Something failed inside the server (500). Logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// 403 naming the permission the token lacks.
    pub fn forbidden(required: impl ToString) -> Self {
        let required = required.to_string();
        Self::Forbidden {
            message: format!("This token lacks the permission {required}."),
            required: Some(required),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::QuotaExceeded(_) => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::InvalidFields(_) => StatusCode::BAD_REQUEST,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::DependencyDown(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// How often an ongoing outage of one dependency is logged.
pub const OUTAGE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Seconds a client is asked to wait when a dependency is down.
const OUTAGE_RETRY_AFTER_SECS: u64 = 5;

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if is_connectivity(&error) {
            outage::note("database", &error);
            return Self::DependencyDown("database");
        }
        Self::Internal(anyhow::Error::new(error).context("a database query failed"))
    }
}

impl From<QuotaError> for ApiError {
    fn from(error: QuotaError) -> Self {
        match error {
            QuotaError::Exceeded(exceeded) => Self::QuotaExceeded(exceeded),
            QuotaError::Database(error) => error.into(),
        }
    }
}

impl From<StorageError> for ApiError {
    /// Storage away is a 503 (as any dependency down), a missing object a
    /// 404; anything else the storage refused is this server's problem (a
    /// 500, logged): routes sort the refusals a client causes before they
    /// get here.
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(detail) => {
                outage::note("object storage", &detail);
                Self::DependencyDown("object storage")
            }
            StorageError::NotFound(_) => Self::NotFound("The file was not found.".to_owned()),
            StorageError::Refused(_) => Self::Internal(anyhow::Error::new(error)),
        }
    }
}

/// Whether a database error means the database cannot be reached (rather
/// than a query or data problem).
fn is_connectivity(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
    )
}

/// Logging an outage once, not once per request.
mod outage {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::OUTAGE_LOG_INTERVAL;

    /// Requests refused because a dependency was unreachable, by dependency.
    const DEPENDENCY_UNAVAILABLE: &str = "contaxy_api_dependency_unavailable_total";

    static LAST_LOGGED: Mutex<Option<Instant>> = Mutex::new(None);

    /// Counts every request refused for `dependency` and logs the first of
    /// each [`OUTAGE_LOG_INTERVAL`].
    pub(super) fn note(dependency: &'static str, error: &dyn std::fmt::Display) {
        metrics::counter!(DEPENDENCY_UNAVAILABLE, "dependency" => dependency).increment(1);
        let now = Instant::now();
        let Ok(mut last) = LAST_LOGGED.lock() else {
            return;
        };
        if last.is_some_and(|at| now.duration_since(at) < OUTAGE_LOG_INTERVAL) {
            return;
        }
        *last = Some(now);
        tracing::warn!(
            dependency,
            error = %error,
            "A dependency is unreachable; requests that need it answer 503 until it is back."
        );
    }
}

impl From<InvalidValue> for ApiError {
    fn from(error: InvalidValue) -> Self {
        Self::Invalid(error.to_string())
    }
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code.
    pub code: u16,
    /// What went wrong, for people.
    pub message: String,
    /// What it means and what to do.
    pub explanation: String,
    /// Machine-readable particulars (may be empty).
    #[schema(value_type = Object)]
    pub details: Value,
}

fn explanation(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => {
            "Send a valid API token: `Authorization: Bearer <token>`, or the `ct_token` header, query parameter or cookie."
        }
        StatusCode::FORBIDDEN => {
            "The token is valid but its permissions do not allow this request."
        }
        StatusCode::NOT_FOUND => "The resource does not exist, or this token may not see it.",
        StatusCode::CONFLICT => "The request conflicts with the current state of the resource.",
        StatusCode::TOO_MANY_REQUESTS => {
            "This token sent too many requests; wait as long as Retry-After says."
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            "The server, or a service it depends on, is not ready for this request; retry later."
        }
        StatusCode::METHOD_NOT_ALLOWED => "The route exists, but not for this method.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than this server accepts.",
        StatusCode::REQUEST_TIMEOUT => {
            "The request was not received and answered in time (a body sent too slowly, or \
             never completed); send it again, whole."
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            "Ask for a range within the file (Content-Range gives its size)."
        }
        s if s.is_server_error() => "The server failed; the cause is in its logs.",
        _ => "The request is invalid; fix it before sending it again.",
    }
}

fn problem(status: StatusCode, message: String, details: Value) -> Response {
    let body = ErrorBody {
        code: status.as_u16(),
        message,
        explanation: explanation(status).to_owned(),
        details,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Internal(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "A request failed inside the server."
                );
                problem(status, "Internal server error.".to_owned(), json!({}))
            }
            Self::Unauthenticated(message) => {
                let mut response = problem(status, message.to_owned(), json!({}));
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Self::Forbidden { message, required } => {
                let details = match required {
                    Some(required) => json!({ "required_permission": required }),
                    None => json!({}),
                };
                problem(status, message, details)
            }
            Self::RateLimited(wait) => {
                // Whole seconds, rounded up: waiting less would be refused again.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let seconds = seconds.max(1);
                let mut response = problem(
                    status,
                    "Too many requests.".to_owned(),
                    json!({ "retry_after_seconds": seconds }),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
            Self::InvalidFields(errors) => {
                let message = errors.to_string();
                problem(status, message, json!({ "fields": errors.0 }))
            }
            Self::MethodNotAllowed { message, allow } => {
                let mut response = problem(status, message, json!({}));
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
            Self::RangeNotSatisfiable { size } => {
                let mut response = problem(
                    status,
                    format!("The range lies outside the file, which has {size} bytes."),
                    json!({ "size": size }),
                );
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                response
            }
            Self::DependencyDown(what) => {
                let mut response = problem(
                    status,
                    format!("The {what} is unavailable; try again shortly."),
                    json!({ "dependency": what, "retry_after_seconds": OUTAGE_RETRY_AFTER_SECS }),
                );
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(OUTAGE_RETRY_AFTER_SECS),
                );
                response
            }
            Self::QuotaExceeded(exceeded) => {
                let message = format!("Refused: {exceeded}.");
                problem(
                    status,
                    message,
                    json!({ "limit": exceeded.limit(), "max": exceeded.max() }),
                )
            }
            Self::NotFound(message)
            | Self::TooLarge(message)
            | Self::Conflict(message)
            | Self::Invalid(message)
            | Self::Unavailable(message) => problem(status, message, json!({})),
        }
    }
}

/// Gives every error response that is not JSON yet (axum's rejections of bad
/// bodies, queries and paths, 404 for unknown routes, 405, 413) the JSON
/// error shape, keeping its status and headers such as `Allow`.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with(PROBLEM_JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // axum's rejection texts are short sentences meant for the client.
    let text = to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("Error").to_owned() + "."
    } else {
        text
    };
    let mut rebuilt = problem(status, message, json!({}));
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
}

/// The answer for a path no route matches.
pub async fn no_route() -> ApiError {
    ApiError::NotFound("No route matches this path.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    async fn body_of(response: Response) -> Value {
        let bytes = to_bytes(response.into_body(), 10_000).await.expect("body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    #[tokio::test]
    async fn internal_errors_never_reach_the_client() {
        let error = ApiError::Internal(anyhow::anyhow!("password=hunter2 in a connection string"));
        let response = error.into_response();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_of(response).await;
        assert_eq!(body["code"], 500);
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }

    #[tokio::test]
    async fn rate_limits_round_retry_after_up_to_whole_seconds() {
        let response = ApiError::RateLimited(Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = ApiError::RateLimited(Duration::from_millis(10)).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn plain_text_rejections_get_the_json_shape_and_keep_headers() {
        let plain = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET")
            .body(Body::from("nope"))
            .expect("response");
        let response = json_errors(plain).await;
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_of(response).await;
        assert_eq!(
            (body["code"].as_u64(), body["message"].as_str()),
            (Some(405), Some("nope"))
        );

        let ok = Response::new(Body::from("fine"));
        assert_eq!(json_errors(ok).await.status(), 200);
    }
}
