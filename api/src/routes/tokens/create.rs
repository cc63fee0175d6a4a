//! `POST /auth/tokens`: minting an API token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use contaxy_common::domain::{Permission, Subject, TokenId, TokenSecret};
use contaxy_common::store::tokens::{self as store, NewToken};
use serde::Serialize;
use utoipa::ToSchema;

use super::input::{TokenForm, TokenInput, TokenQuery, TokenRequest};
use super::{TokenInfo, may_manage};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Most scopes one token may carry.
const MAX_SCOPES: usize = 64;

/// A new token: its text, shown this once, and its description.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token. It is not stored and cannot be shown again.
    pub token: String,
    /// Its description.
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// Creates an API token for the caller (or, with `users/{id}#admin`, for
/// another user). The token is shown once; only its hash is kept.
///
/// Either contaxy's query form (`?scope=…&scope=…&token_type=api-token&description=…`,
/// no body) or a JSON body, which can also set `subject` and `expires_at`;
/// not both.
#[utoipa::path(post, path = "/auth/tokens", tag = "auth",
    params(TokenQuery),
    request_body(content = Option<TokenInput>, content_type = "application/json",
                 description = "The token to create, unless the query form is used."),
    responses((status = 201, body = CreatedToken, description = "JSON form: the token and its record"),
              (status = 200, body = String, description = "Query form: the token's text, as contaxy answers"),
              (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    TokenRequest(input, form): TokenRequest,
) -> Result<Response, ApiError> {
    if !matches!(caller.subject, Subject::User(_)) {
        return Err(ApiError::Forbidden {
            message: "Project tokens cannot create tokens.".to_owned(),
            required: None,
        });
    }
    let subject = match &input.subject {
        Some(subject) => Subject::parse(subject)?,
        None => caller.subject.clone(),
    };
    if matches!(subject, Subject::Project(_)) {
        return Err(ApiError::Invalid(
            "Tokens of a project come from GET /projects/{project_id}/token.".to_owned(),
        ));
    }
    if input.scopes.is_empty() || input.scopes.len() > MAX_SCOPES {
        return Err(ApiError::Invalid(format!(
            "A token needs 1 to {MAX_SCOPES} scopes: `scope` query parameters or `scopes` in a JSON body."
        )));
    }
    let scopes = input
        .scopes
        .iter()
        .map(|scope| Permission::parse(scope))
        .collect::<Result<Vec<_>, _>>()?;
    if input.description.chars().count() > 240 {
        return Err(ApiError::Invalid(
            "description must be at most 240 characters long.".to_owned(),
        ));
    }
    // The query form is not JSON, so `JsonBody`'s NUL check did not see it;
    // PostgreSQL text cannot hold NUL.
    if input.description.contains('\0') {
        return Err(ApiError::Invalid(
            "description must not contain the NUL character.".to_owned(),
        ));
    }
    if input.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::Invalid(
            "expires_at must be in the future.".to_owned(),
        ));
    }
    if subject != caller.subject {
        may_manage(&state, &caller, &subject)
            .await
            .map_err(|_| ApiError::forbidden(format!("{subject}#admin")))?;
    }
    // A token never carries more than its maker holds.
    for scope in &scopes {
        if !state.auth.allows(&state.db, &caller, scope).await? {
            return Err(ApiError::forbidden(scope));
        }
    }
    let secret = TokenSecret::generate();
    let row = store::insert(
        &state.db,
        &NewToken {
            id: TokenId::new(),
            hash: secret.hash(),
            subject,
            scopes,
            description: input.description,
            expires_at: input.expires_at,
            created_by: caller.subject.clone(),
        },
    )
    .await?;
    let token = secret.expose().to_owned();
    Ok(match form {
        // contaxy's clients read the bare token from a 200.
        TokenForm::Query => (StatusCode::OK, Json(token)).into_response(),
        TokenForm::Json => (
            StatusCode::CREATED,
            Json(CreatedToken {
                token,
                info: row.into(),
            }),
        )
            .into_response(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    #[test]
    fn the_document_describes_both_forms() {
        let doc = serde_json::to_value(crate::routes::openapi()).expect("JSON");
        let operation = &doc["paths"]["/auth/tokens"]["post"];
        let param = |name: &str| -> Value {
            operation["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("no parameter {name}: {operation}"))
                .clone()
        };
        let scope = param("scope");
        assert_eq!(
            (&scope["in"], &scope["required"], &scope["explode"]),
            (&json!("query"), &json!(false), &json!(true)),
        );
        assert_eq!(scope["schema"]["type"], "array");
        assert_eq!(param("token_type")["schema"]["enum"], json!(["api-token"]));
        assert_eq!(param("description")["in"], "query");
        let body = &operation["requestBody"];
        assert_ne!(body["required"], true, "the body is optional: {body}");
        assert!(
            body["content"]["application/json"]["schema"]
                .to_string()
                .contains("TokenInput"),
            "{body}"
        );
    }
}
