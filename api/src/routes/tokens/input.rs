//! What `POST /auth/tokens` accepts: contaxy's query form or a JSON body.
//!
//! contaxy's clients send `?scope=…&scope=…&token_type=api-token&description=…`
//! with no body; our own clients send a JSON [`TokenInput`], which can also
//! name a `subject` and an `expires_at`. [`TokenRequest`] turns either into
//! one [`TokenInput`], so both go through the same validation. Sending both
//! is refused rather than merged: which one would win is a guess a client
//! should not have to make.

use axum::body::Bytes;
use axum::extract::rejection::MissingJsonContentType;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use contaxy_common::domain::validation::FieldErrors;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::presented::CT_TOKEN;
use crate::error::ApiError;
use crate::json;
use crate::routes::schema::{PermissionText, UserSubjectText};

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// 1 to 64 permission strings `{resource}#{read|write|admin}`; each
    /// must be within the caller's own permissions.
    #[schema(value_type = Vec<PermissionText>, min_items = 1, max_items = 64)]
    pub scopes: Vec<String>,
    /// At most 240 characters.
    #[serde(default)]
    #[schema(max_length = 240, pattern = "^[^\\x00]*$")]
    pub description: String,
    /// When the token stops working; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
    /// `users/{id}`; the caller's own subject when absent. Another user
    /// needs `users/{id}#admin`.
    #[schema(value_type = Option<UserSubjectText>)]
    pub subject: Option<String>,
}

/// The kind of token to make. contaxy also knows `session-token`
/// (short-lived, not revocable); this server makes only API tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum TokenType {
    /// A revocable API token.
    ApiToken,
}

/// contaxy's query form of a token to create. Not read with axum's `Query`:
/// `scope` repeats, which `serde_urlencoded` cannot put in a list.
#[derive(Debug, Default, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// A permission string `{resource}#{read|write|admin}`, once per scope
    /// (`?scope=a&scope=b`). Only without a JSON body.
    #[param(required = false, style = Form, explode, value_type = Vec<PermissionText>, max_items = 64)]
    pub scope: Vec<String>,
    /// `api-token` (the default). Only without a JSON body.
    #[param(inline)]
    pub token_type: Option<TokenType>,
    /// At most 240 characters. Only without a JSON body.
    #[param(max_length = 240, pattern = "^[^\\x00]*$")]
    pub description: Option<String>,
}

const QUERY_FIELDS: &str = "`scope`, `token_type` or `description`";

impl TokenQuery {
    /// Reads the query string, naming every parameter it refuses: unknown
    /// names (a misspelt `scopes` should not pass unseen), a repeated
    /// `token_type` or `description`, a `token_type` other than
    /// `api-token`. The `ct_token` parameter is the caller's token, read by
    /// authentication, and is skipped.
    pub fn parse(query: &str) -> Result<Self, FieldErrors> {
        let mut parsed = Self::default();
        let mut errors = FieldErrors::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "scope" => parsed.scope.push(value.into_owned()),
                "token_type" if parsed.token_type.is_some() => {
                    errors.push("token_type", "must be given at most once");
                }
                "token_type" => match value.as_ref() {
                    "api-token" => parsed.token_type = Some(TokenType::ApiToken),
                    "session-token" => errors.push(
                        "token_type",
                        "only API tokens can be created here: use `api-token` (session tokens do not exist on this server)",
                    ),
                    _ => errors.push("token_type", "must be `api-token`"),
                },
                "description" if parsed.description.is_some() => {
                    errors.push("description", "must be given at most once");
                }
                "description" => parsed.description = Some(value.into_owned()),
                CT_TOKEN => {}
                other => errors.push(
                    other,
                    &format!("unknown query parameter; expected {QUERY_FIELDS}"),
                ),
            }
        }
        errors.into_result().map(|()| parsed)
    }

    /// Whether any parameter of the query form was given.
    pub fn is_given(&self) -> bool {
        !self.scope.is_empty() || self.token_type.is_some() || self.description.is_some()
    }

    /// The same request as a [`TokenInput`]: for the caller, without expiry.
    pub fn into_input(self) -> TokenInput {
        TokenInput {
            scopes: self.scope,
            description: self.description.unwrap_or_default(),
            expires_at: None,
            subject: None,
        }
    }
}

/// The token to create, from whichever form the request used: the query
/// form when there is no body, else the JSON body, which then needs a JSON
/// content type or none (415 for another). A body together with query-form
/// parameters is a 400.
///
/// "No body" is an empty one, only whitespace, or JSON `null`: the OpenAPI
/// document can only describe an optional JSON body as nullable, so a
/// client generated from it may send `null`.
#[derive(Debug)]
pub struct TokenRequest(pub TokenInput, pub TokenForm);

/// Which form a token request used; contaxy's query form gets contaxy's
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenForm {
    /// `?scope=…&token_type=…`, no body.
    Query,
    /// A JSON body.
    Json,
}

impl<S> FromRequest<S> for TokenRequest
where
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = |errors| ApiError::InvalidFields(errors).into_response();
        let query =
            TokenQuery::parse(request.uri().query().unwrap_or_default()).map_err(invalid)?;
        let is_json = json::may_be_json(request.headers());
        // Too large: the body limit's 413, shaped by `error::json_errors`.
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let body = body.trim_ascii();
        if body.is_empty() || body == b"null" {
            return Ok(Self(query.into_input(), TokenForm::Query));
        }
        if query.is_given() {
            return Err(ApiError::Invalid(format!(
                "Give the token either as query parameters ({QUERY_FIELDS}) or as a JSON body, not both."
            ))
            .into_response());
        }
        if !is_json {
            return Err(MissingJsonContentType::default().into_response());
        }
        json::from_slice(body)
            .map(|input| Self(input, TokenForm::Json))
            .map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};

    /// What [`TokenRequest`] makes of a request: the input, or the refusal's
    /// status and message.
    async fn extract(
        uri: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<TokenInput, (u16, String)> {
        let mut request = Request::builder().method("POST").uri(uri);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request.body(Body::from(body.to_owned())).expect("request");
        match TokenRequest::from_request(request, &()).await {
            Ok(TokenRequest(input, _)) => Ok(input),
            Err(response) => {
                let status = response.status().as_u16();
                let bytes = to_bytes(response.into_body(), 10_000).await.expect("body");
                Err((status, String::from_utf8_lossy(&bytes).into_owned()))
            }
        }
    }

    #[tokio::test]
    async fn each_form_alone_is_read_and_both_at_once_are_refused() {
        const JSON: Option<&str> = Some("application/json");
        let body = r#"{"scopes": ["projects/a#read"], "subject": "users/bob"}"#;

        let query = extract(
            "/auth/tokens?scope=projects/a%23read&scope=projects/b%23read",
            None,
            "",
        )
        .await
        .expect("the query form");
        assert_eq!(query.scopes, ["projects/a#read", "projects/b#read"]);
        let json = extract("/auth/tokens?ct_token=x", JSON, body)
            .await
            .expect("the JSON form");
        assert_eq!(json.subject.as_deref(), Some("users/bob"));
        for no_body in ["", " \n", "null"] {
            let input = extract("/auth/tokens?scope=projects/a%23read", JSON, no_body)
                .await
                .expect("no body is the query form");
            assert_eq!(input.scopes, ["projects/a#read"], "{no_body:?}");
        }
        let nothing = extract("/auth/tokens", None, "").await.expect("read");
        assert!(nothing.scopes.is_empty(), "refused later, by validation");

        let (status, message) = extract("/auth/tokens?scope=projects/a%23read", JSON, body)
            .await
            .expect_err("both forms");
        assert_eq!(status, 400);
        assert!(message.contains("not both"), "{message}");
        let (status, _) = extract("/auth/tokens?description=x", JSON, body)
            .await
            .expect_err("any query-form parameter counts");
        assert_eq!(status, 400);
        let (status, _) = extract("/auth/tokens", Some("text/plain"), body)
            .await
            .expect_err("a body that is not JSON");
        assert_eq!(status, 415);
        let (status, message) = extract("/auth/tokens", JSON, r#"{"scopes": "a"}"#)
            .await
            .expect_err("a body of the wrong shape");
        assert_eq!(status, 400);
        assert!(message.contains(r#""field":"scopes""#), "{message}");
        let (status, message) = extract("/auth/tokens?token_type=session-token", None, "")
            .await
            .expect_err("a session token");
        assert_eq!(status, 400);
        assert!(message.contains(r#""field":"token_type""#), "{message}");
    }

    fn refused(query: &str) -> Vec<(String, String)> {
        TokenQuery::parse(query)
            .expect_err("refused")
            .0
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    #[test]
    fn repeated_scopes_are_kept_in_order_and_the_token_parameter_is_skipped() {
        let query = TokenQuery::parse(
            "scope=projects%2Fa%23read&ct_token=ctxy_x&scope=projects/b%23write&token_type=api-token&description=ci+runner",
        )
        .expect("parsed");
        assert!(query.is_given());
        assert_eq!(query.token_type, Some(TokenType::ApiToken));
        let input = query.into_input();
        assert_eq!(input.scopes, ["projects/a#read", "projects/b#write"]);
        assert_eq!(input.description, "ci runner");
        assert_eq!((input.subject, input.expires_at), (None, None));

        let single = TokenQuery::parse("scope=projects%2Fa%23read").expect("parsed");
        assert_eq!(single.scope, ["projects/a#read"]);
        assert_eq!(single.token_type, None, "api-token is the default");
    }

    #[test]
    fn an_empty_or_token_only_query_is_not_the_query_form() {
        assert!(!TokenQuery::parse("").expect("parsed").is_given());
        assert!(
            !TokenQuery::parse("ct_token=abc")
                .expect("parsed")
                .is_given()
        );
        assert!(
            TokenQuery::parse("description=x")
                .expect("parsed")
                .is_given()
        );
    }

    #[test]
    fn every_refused_parameter_is_named() {
        let session = refused("scope=a%23read&token_type=session-token");
        assert_eq!(session.len(), 1);
        assert_eq!(session[0].0, "token_type");
        assert!(session[0].1.contains("only API tokens"), "{session:?}");

        let other = refused("token_type=refresh-token");
        assert_eq!(other[0].0, "token_type");
        assert!(other[0].1.contains("api-token"), "{other:?}");

        let fields: Vec<String> = refused(
            "scopes=a%23read&token_type=api-token&token_type=api-token&description=a&description=b",
        )
        .into_iter()
        .map(|(field, _)| field)
        .collect();
        assert_eq!(fields, ["scopes", "token_type", "description"]);
    }
}
