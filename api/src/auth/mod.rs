//! Authentication and authorization: every route outside the public
//! allow-list goes through [`guard::authenticate`], and every route under
//! `/projects/{project_id}` is checked against the token's project access.
//!
//! How a handler asks for access:
//!
//! - [`ProjectAccess<L>`] for routes with `{project_id}`: yields the project
//!   id and the caller once the token holds level `L` (`Read`, `Write`,
//!   `Admin`) on that project. A handler gets a [`ProjectId`] for its queries
//!   only from here.
//! - [`Caller`] for routes outside a project: the authenticated subject and
//!   scopes; the handler checks the permission it needs with [`Auth::allows`].
//!
//! Modules: [`presented`] (token forms), [`limit`] (rate limiting),
//! [`caller`] (levels), [`guard`] (the layer and the extractors).
//!
//! [`ProjectId`]: contaxy_common::domain::ProjectId

pub mod caller;
pub mod guard;
pub mod limit;
pub mod presented;

use std::net::IpAddr;

use chrono::Utc;
use contaxy_common::domain::token::ProjectTokenKey;
use contaxy_common::domain::{
    AccessLevel, Permission, ProjectId, Subject, TokenHash, TokenId, TokenSecret,
};
use contaxy_common::store;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use caller::Caller;
pub use guard::{Admin, ProjectAccess, Read, Write};

use crate::config::ApiSettings;
use crate::error::ApiError;
use limit::{AddressLimiter, TokenRateLimiter};

/// A caller's standing in one project.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    /// The caller's level there.
    pub level: AccessLevel,
    /// Whether the project's deletion is queued.
    pub deleting: bool,
}

/// Shortest accepted admin token and token secret.
const MIN_SECRET_LEN: usize = 32;

/// The authentication settings in force: the admin token, the project-token
/// key and the rate limiter.
#[derive(Debug, Clone)]
pub struct Auth {
    admin: Option<TokenHash>,
    project_key: Option<ProjectTokenKey>,
    limiter: Option<TokenRateLimiter>,
    addresses: Option<AddressLimiter>,
}

impl Auth {
    /// Builds from the settings; refuses secrets that are too short.
    pub fn from_settings(
        settings: &ApiSettings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        for (name, secret) in [
            ("CONTAXY_ADMIN_TOKEN", &settings.admin_token),
            ("CONTAXY_TOKEN_SECRET", &settings.token_secret),
        ] {
            if let Some(secret) = secret
                && secret.expose_secret().trim().len() < MIN_SECRET_LEN
            {
                anyhow::bail!("{name} must be at least {MIN_SECRET_LEN} characters long");
            }
        }
        let admin = settings
            .admin_token
            .as_ref()
            .map(|token| TokenSecret::presented(token.expose_secret().trim()).hash());
        let project_key = settings
            .token_secret
            .as_ref()
            .or(settings.admin_token.as_ref())
            .map(|secret: &SecretString| ProjectTokenKey::derive(secret));
        let addresses = AddressLimiter::new(
            settings.api_unknown_tokens_per_minute,
            settings.api_unknown_tokens_burst,
            shutdown.clone(),
        );
        let limiter = TokenRateLimiter::new(
            settings.api_rate_limit_per_second,
            settings.api_rate_limit_burst,
            shutdown,
        );
        Ok(Self {
            admin,
            project_key,
            limiter,
            addresses,
        })
    }

    /// The key project tokens are derived from, or 503 when none is set.
    pub fn project_key(&self) -> Result<&ProjectTokenKey, ApiError> {
        self.project_key.as_ref().ok_or_else(|| {
            ApiError::Unavailable(
                "Project tokens need CONTAXY_TOKEN_SECRET or CONTAXY_ADMIN_TOKEN to be set on the server."
                    .to_owned(),
            )
        })
    }

    /// Resolves a presented token to its caller: rate limit first, then the
    /// admin token (compared in constant time), then, unless the client's
    /// `address` presented too many unknown tokens, the stored tokens.
    pub async fn authenticate(
        &self,
        db: &PgPool,
        token: &TokenSecret,
        address: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let hash = token.hash();
        if let Some(limiter) = &self.limiter {
            limiter.check(&hash).map_err(ApiError::RateLimited)?;
        }
        if self.admin.is_some_and(|admin| admin.ct_eq(&hash)) {
            return Ok(Caller::bootstrap_admin());
        }
        let addresses = self.addresses.as_ref().zip(address);
        if let Some((limiter, address)) = addresses {
            limiter.check(address).map_err(ApiError::RateLimited)?;
        }
        let Some(row) = store::tokens::find_by_hash(db, &hash).await? else {
            if let Some((limiter, address)) = addresses {
                limiter
                    .charge_unknown(address)
                    .map_err(ApiError::RateLimited)?;
            }
            return Err(ApiError::Unauthenticated("The API token is not valid."));
        };
        if row.revoked_at.is_some() {
            return Err(ApiError::Unauthenticated("The API token was revoked."));
        }
        if !row.is_active(Utc::now()) {
            return Err(ApiError::Unauthenticated("The API token has expired."));
        }
        let subject = Subject::parse(&row.subject)
            .map_err(|e| anyhow::anyhow!("stored token {} has a bad subject: {e}", row.id))?;
        let scopes = row
            .scopes
            .iter()
            .map(|scope| Permission::parse(scope))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("stored token {} has a bad scope: {e}", row.id))?;
        Ok(Caller {
            subject,
            token_id: Some(TokenId(row.id)),
            scopes,
        })
    }

    /// The caller's standing in `project` for `resource` (the project itself
    /// or something in it), subject limits included; `None` when the caller
    /// has no access there or the project does not exist.
    pub async fn standing(
        &self,
        db: &PgPool,
        caller: &Caller,
        project: &ProjectId,
        resource: &str,
    ) -> Result<Option<Standing>, ApiError> {
        // Without a scope on the resource nothing else needs asking.
        if caller.level_outside_projects(resource).is_none() {
            return Ok(None);
        }
        let user = match &caller.subject {
            Subject::User(user) if !caller.subject.is_admin() => Some(user),
            _ => None,
        };
        let Some(row) = store::projects::access(db, project, user).await? else {
            return Ok(None);
        };
        let member = row.member_level.as_deref().and_then(|l| l.parse().ok());
        Ok(caller
            .level_in_project(project, resource, member)
            .map(|level| Standing {
                level,
                deleting: row.deleting_since.is_some(),
            }))
    }

    /// The level `caller` holds on `resource`, subject limits included.
    pub async fn level_on(
        &self,
        db: &PgPool,
        caller: &Caller,
        resource: &str,
    ) -> Result<Option<AccessLevel>, ApiError> {
        match caller::project_of(resource) {
            Some(project) => Ok(self
                .standing(db, caller, &project, resource)
                .await?
                .map(|standing| standing.level)),
            None => Ok(caller.level_outside_projects(resource)),
        }
    }

    /// Whether `caller` holds `permission`.
    pub async fn allows(
        &self,
        db: &PgPool,
        caller: &Caller,
        permission: &Permission,
    ) -> Result<bool, ApiError> {
        Ok(self
            .level_on(db, caller, permission.resource())
            .await?
            .is_some_and(|level| level >= permission.level()))
    }
}
