//! The authentication layer and the extractors handlers use.
//!
//! [`authenticate`] runs as a route layer on every API route (the public
//! routes are outside it): no token, or an unknown, expired or revoked one, is
//! a 401 before any handler runs. When the matched route has a `{project_id}`
//! segment it also resolves the caller's level there: on the resource the
//! request path names (`projects/{id}/services/{sid}/logs` for
//! `/projects/{id}/services/{sid}/logs`), so a scope on one deployment covers
//! that deployment's routes and nothing else. None at all (or no such
//! project) is a 404, so a token never learns whether another project
//! exists. Handlers then state the level they need with
//! [`ProjectAccess<L>`]; a lower level is a 403.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use contaxy_common::domain::{AccessLevel, Permission, ProjectId};

use super::caller::Caller;
use super::presented::presented_token;
use crate::error::ApiError;
use crate::state::AppState;

/// The path parameter that names a project.
pub const PROJECT_PARAM: &str = "project_id";

/// The caller's standing in the project of the matched route, found by
/// [`authenticate`].
#[derive(Debug, Clone)]
struct ProjectGrant {
    project: ProjectId,
    level: AccessLevel,
    deleting: bool,
}

/// The client's address, where the server knows it (not in router tests
/// that call the service without a socket).
pub fn peer_address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The client's address, as an extractor ([`peer_address`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(peer_address(&parts.extensions)))
    }
}

/// The route layer that authenticates every API request.
pub async fn authenticate(
    State(state): State<AppState>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = presented_token(request.headers(), request.uri())
        .ok_or(ApiError::Unauthenticated("No API token was presented."))?;
    let address = peer_address(request.extensions());
    let caller = state.auth.authenticate(&state.db, &token, address).await?;
    if let Some((_, raw)) = params.iter().find(|(name, _)| *name == PROJECT_PARAM) {
        let project = ProjectId::parse(raw)?;
        let resource = resource_of(request.uri().path(), &project);
        let grant = project_grant(&state, &caller, project, &resource).await?;
        request.extensions_mut().insert(grant);
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

async fn project_grant(
    state: &AppState,
    caller: &Caller,
    project: ProjectId,
    resource: &str,
) -> Result<ProjectGrant, ApiError> {
    match state
        .auth
        .standing(&state.db, caller, &project, resource)
        .await?
    {
        Some(standing) => Ok(ProjectGrant {
            project,
            level: standing.level,
            deleting: standing.deleting,
        }),
        None => Err(ApiError::NotFound(format!(
            "Project `{project}` was not found."
        ))),
    }
}

/// The resource a request path names inside `project`: the path from its
/// `projects/{project}` segment on, without a trailing `:verb`
/// (`/projects/p/files/a.txt:download` → `projects/p/files/a.txt`). A path
/// that does not spell the project out names the project itself.
fn resource_of(path: &str, project: &ProjectId) -> String {
    let own = format!("projects/{project}");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(start) = segments
        .windows(2)
        .position(|pair| pair[0] == "projects" && pair[1] == project.as_str())
    else {
        return own;
    };
    let mut rest: Vec<&str> = segments[start + 2..].to_vec();
    if let Some(last) = rest.last_mut() {
        if let Some((name, _verb)) = last.split_once(':') {
            *last = name;
        }
        if last.is_empty() {
            rest.pop();
        }
    }
    rest.iter()
        .fold(own, |resource, segment| format!("{resource}/{segment}"))
}

/// A level a route requires, as a type: [`Read`], [`Write`] or [`Admin`].
pub trait RequiredLevel: Send + Sync + 'static {
    /// The level.
    const LEVEL: AccessLevel;
}

/// Requires `read`.
#[derive(Debug)]
pub struct Read;
/// Requires `write`; refused with 409 while the project is being deleted.
#[derive(Debug)]
pub struct Write;
/// Requires `admin`; refused with 409 while the project is being deleted.
#[derive(Debug)]
pub struct Admin;

impl RequiredLevel for Read {
    const LEVEL: AccessLevel = AccessLevel::Read;
}
impl RequiredLevel for Write {
    const LEVEL: AccessLevel = AccessLevel::Write;
}
impl RequiredLevel for Admin {
    const LEVEL: AccessLevel = AccessLevel::Admin;
}

/// Proof that the caller holds level `L` on the project named by the route's
/// `{project_id}`. Scope every query by [`ProjectAccess::project`].
#[derive(Debug)]
pub struct ProjectAccess<L> {
    /// The project, from the path, checked against the token.
    pub project: ProjectId,
    /// The authenticated caller.
    pub caller: Caller,
    /// The caller's actual level (at least `L`).
    pub level: AccessLevel,
    required: PhantomData<L>,
}

impl<S: Send + Sync, L: RequiredLevel> FromRequestParts<S> for ProjectAccess<L> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_extensions(parts)?;
        let grant = parts.extensions.get::<ProjectGrant>().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "ProjectAccess used on route `{}`, which has no {{{PROJECT_PARAM}}} segment",
                parts.uri.path()
            ))
        })?;
        if grant.level < L::LEVEL {
            return Err(ApiError::forbidden(Permission::on_project(
                &grant.project,
                L::LEVEL,
            )));
        }
        if L::LEVEL >= AccessLevel::Write && grant.deleting {
            return Err(ApiError::Conflict(format!(
                "Project `{}` is being deleted; it accepts no more changes.",
                grant.project
            )));
        }
        Ok(Self {
            project: grant.project.clone(),
            caller,
            level: grant.level,
            required: PhantomData,
        })
    }
}

impl Caller {
    fn from_extensions(parts: &Parts) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "route `{}` asks for the caller but is outside the authentication layer",
                parts.uri.path()
            ))
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_extensions(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ProjectId {
        ProjectId::parse("demo").expect("project id")
    }

    #[test]
    fn the_resource_is_the_path_from_the_project_on() {
        let cases = [
            ("/projects/demo", "projects/demo"),
            ("/projects/demo/services", "projects/demo/services"),
            (
                "/projects/demo/services/ctxy-p-demo-s-web/logs",
                "projects/demo/services/ctxy-p-demo-s-web/logs",
            ),
            (
                "/projects/demo/files/a/b.txt:download",
                "projects/demo/files/a/b.txt",
            ),
            ("/projects/demo/services/:deploy", "projects/demo/services"),
            ("/api/projects/demo/jobs/", "projects/demo/jobs"),
            ("/elsewhere", "projects/demo"),
        ];
        for (path, want) in cases {
            assert_eq!(resource_of(path, &project()), want, "{path}");
        }
    }
}
