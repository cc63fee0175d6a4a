//! `/auth/tokens` and `/projects/{project_id}/token`: API tokens.

pub mod create;
pub mod input;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use contaxy_common::domain::token::ProjectTokenKey;
use contaxy_common::domain::{AccessLevel, Permission, ProjectId, Subject, TokenId, TokenSecret};
use contaxy_common::store::projects;
use contaxy_common::store::tokens::{self as store, TokenRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::guard::PeerAddress;
use crate::auth::{Caller, ProjectAccess, Read};
use crate::error::{ApiError, ErrorBody};
use crate::json;
use crate::routes::members::AccessLevelQuery;
use crate::routes::schema::{AccessLevelName, PermissionText, ProjectIdText, SubjectText};
use crate::state::AppState;

/// A token's public description (never its text).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    /// Its id, for revoking it.
    pub id: Uuid,
    /// Who it acts for.
    pub subject: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// Free text.
    pub description: String,
    /// `api-token`, or `project-token` for tokens from
    /// `GET /projects/{id}/token`.
    pub token_type: &'static str,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: Option<String>,
}

/// What a listed token's `token` starts with, instead of the token.
pub const REDACTED: &str = "redacted:";

/// A token as `GET /auth/tokens` lists it: its description and a
/// placeholder where contaxy's `ApiToken` requires the token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedToken {
    /// Not the token: only its hash is kept. `redacted:` and the token's
    /// id; it reveals nothing and authenticates nothing.
    #[schema(example = "redacted:0190a6f1-7c2e-7a3b-9f1e-2d4c5b6a7e8f")]
    pub token: String,
    /// Its description.
    #[serde(flatten)]
    pub info: TokenInfo,
}

impl From<TokenRecord> for ListedToken {
    fn from(row: TokenRecord) -> Self {
        Self {
            token: format!("{REDACTED}{}", row.id),
            info: row.into(),
        }
    }
}

impl From<TokenRecord> for TokenInfo {
    fn from(row: TokenRecord) -> Self {
        Self {
            id: row.id,
            token_type: if row.project_id.is_some() {
                "project-token"
            } else {
                "api-token"
            },
            subject: row.subject,
            scopes: row.scopes,
            description: row.description,
            expires_at: row.expires_at,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

/// Whose tokens to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTokensQuery {
    /// `users/{id}` or `projects/{id}`; the caller's own subject when absent.
    #[param(value_type = SubjectText, required = false)]
    pub subject: Option<String>,
}

/// The permission to verify.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// A permission string; without one only the token's validity is checked.
    #[param(value_type = PermissionText, required = false)]
    pub permission: Option<String>,
}

/// What a verified token may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizedAccess {
    /// Who the token acts for.
    pub authorized_subject: String,
    /// The token's id (absent for the configured admin token).
    pub token_id: Option<Uuid>,
    /// The resource of the verified permission.
    pub resource_name: Option<String>,
    /// The level of the verified permission.
    #[schema(value_type = Option<AccessLevelName>)]
    pub access_level: Option<AccessLevel>,
}

/// May `caller` see and manage the tokens of `subject`? Its own user tokens,
/// or any subject it holds `admin` on. `Err` is 403 when the caller can at
/// least read the subject, else 404 (it may not learn the subject exists).
async fn may_manage(state: &AppState, caller: &Caller, subject: &Subject) -> Result<(), ApiError> {
    if matches!(caller.subject, Subject::User(_)) && caller.subject == *subject {
        return Ok(());
    }
    let resource = subject.to_string();
    match state.auth.level_on(&state.db, caller, &resource).await? {
        Some(AccessLevel::Admin) => Ok(()),
        Some(_) => Err(ApiError::forbidden(format!("{resource}#admin"))),
        None => Err(ApiError::NotFound(format!(
            "No tokens of `{resource}` were found."
        ))),
    }
}

/// Lists the tokens (not revoked) of the caller or of `subject`.
#[utoipa::path(get, path = "/auth/tokens", tag = "auth",
    params(ListTokensQuery),
    responses((status = 200, body = Vec<ListedToken>), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListTokensQuery>,
) -> Result<Json<Vec<ListedToken>>, ApiError> {
    let subject = match &query.subject {
        Some(subject) => Subject::parse(subject)?,
        None => caller.subject.clone(),
    };
    may_manage(&state, &caller, &subject).await?;
    let rows = store::list_for_subject(&state.db, &subject).await?;
    Ok(Json(rows.into_iter().map(ListedToken::from).collect()))
}

/// The path of one token.
#[derive(Debug, Deserialize)]
pub struct TokenPath {
    /// The token's id.
    pub token_id: String,
}

/// Revokes a token at once. Revoking a revoked token is not an error. A
/// revoked project token is replaced by a new one on the next
/// `GET /projects/{id}/token`.
#[utoipa::path(delete, path = "/auth/tokens/{token_id}", tag = "auth",
    params(("token_id" = Uuid, Path, description = "The token's id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<TokenPath>,
) -> Result<StatusCode, ApiError> {
    let id = TokenId::parse(&path.token_id)?;
    let not_found = || ApiError::NotFound(format!("Token `{id}` was not found."));
    let row = store::get(&state.db, id).await?.ok_or_else(not_found)?;
    let subject = Subject::parse(&row.subject)
        .map_err(|e| anyhow::anyhow!("stored token {} has a bad subject: {e}", row.id))?;
    may_manage(&state, &caller, &subject)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => not_found(),
            other => other,
        })?;
    store::revoke(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the token given in the body as a JSON string (contaxy's
/// `verify_access(token, permission)`), or without a body the caller's own
/// token, and that it holds `permission` when one is given (403 when it
/// does not). A given token that is not valid is a 401, as contaxy answers.
#[utoipa::path(post, path = "/auth/tokens/verify", tag = "auth",
    params(VerifyQuery),
    request_body(content = Option<String>, content_type = "application/json",
        description = "The token to verify, as a JSON string; without a body, the caller's own"),
    responses((status = 200, body = AuthorizedAccess), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn verify_token(
    State(state): State<AppState>,
    caller: Caller,
    PeerAddress(address): PeerAddress,
    Query(query): Query<VerifyQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AuthorizedAccess>, ApiError> {
    let caller = match given_token(&headers, &body)? {
        Some(token) => state.auth.authenticate(&state.db, &token, address).await?,
        None => caller,
    };
    let permission = query
        .permission
        .as_deref()
        .map(Permission::parse)
        .transpose()?;
    if let Some(permission) = &permission
        && !state.auth.allows(&state.db, &caller, permission).await?
    {
        return Err(ApiError::forbidden(permission));
    }
    Ok(Json(AuthorizedAccess {
        authorized_subject: caller.subject.to_string(),
        token_id: caller.token_id.map(|id| id.0),
        resource_name: permission.as_ref().map(|p| p.resource().to_owned()),
        access_level: permission.as_ref().map(Permission::level),
    }))
}

/// The token a verify request's body gives: `None` for no body (empty,
/// whitespace or JSON `null`), else a JSON string.
fn given_token(headers: &HeaderMap, body: &[u8]) -> Result<Option<TokenSecret>, ApiError> {
    let body = body.trim_ascii();
    if body.is_empty() || body == b"null" {
        return Ok(None);
    }
    if !json::may_be_json(headers) {
        return Err(ApiError::Invalid(
            "The token to verify is a JSON string (application/json).".to_owned(),
        ));
    }
    let token: String = json::from_slice(body).map_err(ApiError::InvalidFields)?;
    Ok(Some(TokenSecret::presented(&token)))
}

/// Returns the project's token at `access_level` (default `write`), the same
/// one on every call until it is revoked. Needs that level on the project.
#[utoipa::path(get, path = "/projects/{project_id}/token", tag = "auth",
    params(("project_id" = ProjectIdText, Path, description = "The project"), AccessLevelQuery),
    responses((status = 200, body = String), (status = 403, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn project_token(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
    Query(query): Query<AccessLevelQuery>,
) -> Result<Json<String>, ApiError> {
    let level = query.level()?;
    if access.level < level {
        return Err(ApiError::forbidden(Permission::on_project(
            &access.project,
            level,
        )));
    }
    let key = state.auth.project_key()?;
    let token = current_project_token(&state, key, &access.project, level, &access.caller).await?;
    Ok(Json(token.expose().to_owned()))
}

/// Finds the current generation's token, or records the next generation.
///
/// The current token is the derived token of the newest generation, if that
/// one is not revoked and its stored hash matches (it does not after the
/// secret changed). Concurrent calls derive the same token; the unique index
/// on (project, level, generation) lets only one insert, and the loser reads
/// again and finds it.
async fn current_project_token(
    state: &AppState,
    key: &ProjectTokenKey,
    project: &ProjectId,
    level: AccessLevel,
    caller: &Caller,
) -> Result<TokenSecret, ApiError> {
    let incarnation = projects::incarnation(&state.db, project.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("No project `{project}`.")))?;
    for _ in 0..3 {
        let latest = store::latest_project_token(&state.db, project, level).await?;
        let generation = match latest {
            Some(row) => {
                let token = key.project_token(project, incarnation, level, row.generation);
                if row.revoked_at.is_none() && token.hash().as_bytes().as_slice() == row.token_hash
                {
                    return Ok(token);
                }
                row.generation + 1
            }
            None => 0,
        };
        let token = key.project_token(project, incarnation, level, generation);
        let hash = token.hash();
        if store::insert_project_token(
            &state.db,
            project,
            level,
            generation,
            &hash,
            &caller.subject,
        )
        .await?
        {
            return Ok(token);
        }
    }
    Err(ApiError::Conflict(
        "The project token is being replaced concurrently; try again.".to_owned(),
    ))
}
