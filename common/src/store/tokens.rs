//! The `api_tokens` table. Only hashes of tokens are stored.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{AccessLevel, Permission, ProjectId, Subject, TokenHash, TokenId};

/// A stored token (never its text).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    /// Its public id.
    pub id: Uuid,
    /// `users/{id}` or `projects/{id}`.
    pub subject: String,
    /// Permission strings.
    pub scopes: Vec<String>,
    /// Free text.
    pub description: String,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: Option<String>,
    /// For project tokens: the project.
    pub project_id: Option<String>,
}

impl TokenRecord {
    /// Whether it may be used at `now`: not revoked, not expired.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A new user token.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Its public id.
    pub id: TokenId,
    /// The hash of its text.
    pub hash: TokenHash,
    /// Who it acts for.
    pub subject: Subject,
    /// What it may do.
    pub scopes: Vec<Permission>,
    /// Free text (≤ 240 characters).
    pub description: String,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who made it.
    pub created_by: Subject,
}

const COLUMNS: &str =
    "id, subject, scopes, description, expires_at, revoked_at, created_at, created_by, project_id";

fn scope_strings(scopes: &[Permission]) -> Vec<String> {
    scopes.iter().map(ToString::to_string).collect()
}

/// Stores a new token.
pub async fn insert(pool: &PgPool, token: &NewToken) -> Result<TokenRecord, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO api_tokens (id, token_hash, subject, scopes, description, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING {COLUMNS}"
    ))
    .bind(token.id.0)
    .bind(token.hash.as_bytes().as_slice())
    .bind(token.subject.to_string())
    .bind(scope_strings(&token.scopes))
    .bind(&token.description)
    .bind(token.expires_at)
    .bind(token.created_by.to_string())
    .fetch_one(pool)
    .await
}

/// The token with this hash, active or not.
pub async fn find_by_hash(
    pool: &PgPool,
    hash: &TokenHash,
) -> Result<Option<TokenRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1"
    ))
    .bind(hash.as_bytes().as_slice())
    .fetch_optional(pool)
    .await
}

/// One token by id.
pub async fn get(pool: &PgPool, id: TokenId) -> Result<Option<TokenRecord>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await
}

/// The tokens of `subject` that are not revoked, oldest first.
pub async fn list_for_subject(
    pool: &PgPool,
    subject: &Subject,
) -> Result<Vec<TokenRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens
         WHERE subject = $1 AND revoked_at IS NULL ORDER BY created_at, id"
    ))
    .bind(subject.to_string())
    .fetch_all(pool)
    .await
}

/// Revokes a token; revoking a revoked token changes nothing.
pub async fn revoke(pool: &PgPool, id: TokenId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id.0)
        .execute(pool)
        .await?;
    Ok(())
}

/// The newest generation of a project's token at a level.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectTokenRecord {
    /// Its generation.
    pub generation: i32,
    /// The hash of its text.
    pub token_hash: Vec<u8>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The newest generation recorded for `project` at `level`.
pub async fn latest_project_token(
    pool: &PgPool,
    project: &ProjectId,
    level: AccessLevel,
) -> Result<Option<ProjectTokenRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT generation, token_hash, revoked_at FROM api_tokens
         WHERE project_id = $1 AND access_level = $2
         ORDER BY generation DESC LIMIT 1",
    )
    .bind(project.as_str())
    .bind(level.as_str())
    .fetch_optional(pool)
    .await
}

/// Records a project token of `generation`. `false` when that generation was
/// recorded meanwhile by a concurrent call.
pub async fn insert_project_token(
    pool: &PgPool,
    project: &ProjectId,
    level: AccessLevel,
    generation: i32,
    hash: &TokenHash,
    created_by: &Subject,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, subject, scopes, description, created_by,
                                 project_id, access_level, generation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT DO NOTHING",
    )
    .bind(TokenId::new().0)
    .bind(hash.as_bytes().as_slice())
    .bind(Subject::Project(project.clone()).to_string())
    .bind(vec![Permission::on_project(project, level).to_string()])
    .bind(format!("{level} token for project {project}"))
    .bind(created_by.to_string())
    .bind(project.as_str())
    .bind(level.as_str())
    .bind(generation)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The token of one deployment (what it finds in `CONTAXY_API_TOKEN`).
#[derive(Debug, Clone)]
pub struct DeploymentToken<'a> {
    /// The deployment's project; the token's subject is `projects/{id}`.
    pub project: &'a ProjectId,
    /// The deployment.
    pub deployment_id: &'a str,
    /// The hash of its new text.
    pub hash: TokenHash,
    /// What it may do: the deployment's own resource.
    pub scope: Permission,
}

/// The token a deployment had before [`rotate_deployment_token`]: its hash
/// and when it was revoked, if it was (a finished job's).
#[derive(Debug, Clone, Copy)]
pub struct PreviousToken {
    /// Its hash.
    pub hash: TokenHash,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Gives a deployment a new, active token in place of the one it had (a
/// deployment has one at most), and returns the one it had, so a caller
/// that ends up keeping the old container can put it back, as it was, with
/// [`restore_deployment_token`].
pub async fn rotate_deployment_token(
    pool: &PgPool,
    token: &DeploymentToken<'_>,
) -> Result<Option<PreviousToken>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let previous: Option<(Vec<u8>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT token_hash, revoked_at FROM api_tokens WHERE deployment_id = $1 FOR UPDATE",
    )
    .bind(token.deployment_id)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, subject, scopes, description, created_by, deployment_id)
         VALUES ($1, $2, $3, $4, $5, $3, $6)
         ON CONFLICT (deployment_id) WHERE deployment_id IS NOT NULL
         DO UPDATE SET token_hash = EXCLUDED.token_hash, scopes = EXCLUDED.scopes,
                       created_at = now(), revoked_at = NULL",
    )
    .bind(Uuid::new_v4())
    .bind(token.hash.as_bytes().as_slice())
    .bind(Subject::Project(token.project.clone()).to_string())
    .bind(vec![token.scope.to_string()])
    .bind(format!("Token of deployment {}", token.deployment_id))
    .bind(token.deployment_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(previous.and_then(|(bytes, revoked_at)| {
        TokenHash::from_slice(&bytes).map(|hash| PreviousToken { hash, revoked_at })
    }))
}

/// Puts back the token a deployment had before [`rotate_deployment_token`]
/// (revoked if it was), unless it was rotated again since.
pub async fn restore_deployment_token(
    pool: &PgPool,
    deployment_id: &str,
    rotated_to: &TokenHash,
    previous: &PreviousToken,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_tokens SET token_hash = $3, revoked_at = $4
         WHERE deployment_id = $1 AND token_hash = $2",
    )
    .bind(deployment_id)
    .bind(rotated_to.as_bytes().as_slice())
    .bind(previous.hash.as_bytes().as_slice())
    .bind(previous.revoked_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Revokes the token of a job that has ended (a finished job needs none;
/// a service that stopped keeps its token for when it starts again).
/// Whether a token was revoked.
pub async fn revoke_finished_job_token(
    pool: &PgPool,
    deployment_id: &str,
) -> Result<bool, sqlx::Error> {
    let revoked = sqlx::query(
        "UPDATE api_tokens t SET revoked_at = now()
         FROM deployments d
         WHERE t.deployment_id = $1 AND d.id = t.deployment_id
           AND d.deployment_type = 'job' AND d.status IN ('succeeded', 'failed')
           AND t.revoked_at IS NULL",
    )
    .bind(deployment_id)
    .execute(pool)
    .await?;
    Ok(revoked.rows_affected() == 1)
}
