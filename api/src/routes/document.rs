//! The OpenAPI document's frame and finish: its info, its schemas only
//! parameters name, bearer authentication, and the error answers every
//! operation can give.
//!
//! Routes document what is particular to them; [`finish`] adds what the
//! layers around them answer (401 and 429 from authentication, 404 from a
//! project the token cannot see, 400 from a parameter or body of the wrong
//! shape, 403 and 409 on changes), and serves every error body as
//! `application/problem+json`, as [`crate::error`] does.

use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::content::Content;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use super::deployments::input::ComputeInput;
use super::deployments::offers::JobActionId;
use super::deployments::services::ServiceActionId;
use super::schema::{
    AccessLevelName, DeploymentIdText, IdempotencyKeyText, PermissionText, ProjectIdText,
    SubjectText, UserIdText,
};
use crate::error::{ErrorBody, PROBLEM_JSON};

#[derive(OpenApi)]
#[openapi(
    info(title = "contaxy", description = "Projects, deployments, networks and files of contaxy (Rust)."),
    // Schemas only parameters (or a `schema_with`) name: utoipa collects
    // the others by itself. A test checks that every reference resolves.
    components(schemas(ErrorBody, ProjectIdText, UserIdText, DeploymentIdText, PermissionText,
        SubjectText, IdempotencyKeyText, AccessLevelName, ServiceActionId, JobActionId,
        ComputeInput)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub(super) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The `…/{id}:verb` routes, which the router serves on their base path
/// (it cannot match a verb after a parameter), documented as contaxy names
/// them.
#[derive(OpenApi)]
#[openapi(paths(
    super::deployments::jobs::cancel_job,
    super::deployments::services::update_service_access
))]
struct VerbRoutes;

/// Paths documented with a `:verb` after a parameter, and served by their
/// base path's handler.
#[cfg(test)]
pub(super) const VERB_PATHS: &[&str] = &[
    super::deployments::jobs::CANCEL_PATH,
    super::deployments::services::UPDATE_ACCESS_PATH,
];

/// Adds the verb routes' operations to the document.
pub(super) fn add_verb_routes(doc: &mut OpenApiDoc) {
    doc.paths.paths.extend(VerbRoutes::openapi().paths.paths);
}

/// Adds the error answers of the layers around the routes to every
/// operation, and gives every error answer the problem content type.
pub(super) fn finish(doc: &mut OpenApiDoc) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let in_project = path.contains("{project_id}");
        let operations = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.delete, true),
            (&mut item.patch, true),
        ];
        for (operation, changes) in operations {
            if let Some(operation) = operation {
                add_errors(operation, in_project, changes);
            }
        }
    }
}

fn add_errors(operation: &mut Operation, in_project: bool, changes: bool) {
    let takes_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
        || operation.request_body.is_some();
    let mut codes = vec![
        (
            "401",
            "No token, or one that is unknown, expired or revoked.",
        ),
        ("429", "This token sent too many requests; see Retry-After."),
    ];
    if takes_input {
        codes.push(("400", "A parameter or the body is invalid."));
    }
    if in_project {
        codes.push((
            "404",
            "No such project, or the token has no access to it (or no such resource in it).",
        ));
        codes.push(("403", "The token may see the project but lacks the level."));
        if changes {
            codes.push(("409", "The project is being deleted."));
        }
    }
    let responses = &mut operation.responses.responses;
    for (code, description) in codes {
        responses
            .entry(code.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    for (code, response) in responses.iter_mut() {
        if !(code.starts_with('4') || code.starts_with('5')) {
            continue;
        }
        if let RefOr::T(response) = response {
            let error = Ref::from_schema_name(ErrorBody::name());
            response.content.clear();
            response
                .content
                .insert(PROBLEM_JSON.to_owned(), RefOr::T(Content::new(Some(error))));
        }
    }
}
