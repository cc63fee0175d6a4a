//! `POST /auth/tokens`: minting an API token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use contaxy_common::domain::{Permission, Subject, TokenId, TokenSecret};
use contaxy_common::store::tokens::{self as store, NewToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{TokenInfo, may_manage};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::state::AppState;

/// Most scopes one token may carry.
const MAX_SCOPES: usize = 64;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// Permission strings `{resource}#{read|write|admin}`; each must be
    /// within the caller's own permissions.
    pub scopes: Vec<String>,
    /// At most 240 characters.
    #[serde(default)]
    pub description: String,
    /// When the token stops working; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
    /// `users/{id}`; the caller's own subject when absent. Another user
    /// needs `users/{id}#admin`.
    pub subject: Option<String>,
}

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
#[utoipa::path(post, path = "/auth/tokens", tag = "auth",
    request_body = TokenInput,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<TokenInput>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
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
            "A token needs 1 to {MAX_SCOPES} scopes."
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
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret.expose().to_owned(),
            info: row.into(),
        }),
    ))
}
