//! `/projects`: create, list, read, change and delete projects.
//!
//! [`body`]: what these routes accept and answer.

pub mod body;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use contaxy_common::domain::action::{Action, ActionOrigin, ProjectAction};
use contaxy_common::domain::{AccessLevel, Permission, ProjectId, Subject};
use contaxy_common::store::actions::NewAction;
use contaxy_common::store::projects::{self as store, NewProject, ProjectPatch, ProjectRecord};
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::IntoParams;

use crate::actions::{self, ResourceWrite};
use crate::auth::{Admin, Caller, ProjectAccess, Read, Write};
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::actions::ActionAccepted;
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;
use body::{Project, ProjectInput, ProjectUpdate, check_len, check_metadata};

/// The query of `GET /projects:suggest-id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestIdQuery {
    /// The display name to derive an id from.
    pub display_name: String,
}

/// Creates a project; the creating user becomes its `admin` member. Needs
/// `projects#write` and a user token.
#[utoipa::path(post, path = "/projects", tag = "projects",
    request_body = ProjectInput,
    responses((status = 201, body = Project), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ProjectInput>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let needed = Permission::new("projects", AccessLevel::Write).expect("valid permission");
    if !matches!(caller.subject, Subject::User(_)) {
        return Err(ApiError::Forbidden {
            message: "Project tokens cannot create projects.".to_owned(),
            required: None,
        });
    }
    if !state.auth.allows(&state.db, &caller, &needed).await? {
        return Err(ApiError::forbidden(needed));
    }
    let id = ProjectId::parse(&input.id)?;
    check_len("display_name", &input.display_name, 4, 128)?;
    check_len("description", &input.description, 0, 240)?;
    check_len("icon", &input.icon, 0, 2000)?;
    check_metadata(input.metadata.iter().map(|(k, v)| (k, Some(v))))?;
    let new = NewProject {
        id,
        display_name: input.display_name,
        description: input.description,
        icon: input.icon,
        metadata: serde_json::to_value(&input.metadata).map_err(anyhow::Error::from)?,
    };
    match store::create(&state.db, &new, &caller.subject, &state.quotas).await? {
        Some(row) => Ok((StatusCode::CREATED, Json(row.into()))),
        None => Err(ApiError::Conflict(format!(
            "A project with the id `{}` already exists.",
            new.id
        ))),
    }
}

/// Lists the projects this token may read.
#[utoipa::path(get, path = "/projects", tag = "projects",
    responses((status = 200, body = Vec<Project>)))]
pub async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Project>>, ApiError> {
    let candidates: Vec<(ProjectRecord, Option<AccessLevel>)> = match &caller.subject {
        subject if subject.is_admin() => store::list_all(&state.db)
            .await?
            .into_iter()
            .map(|row| (row, None))
            .collect(),
        Subject::User(user) => store::list_for_member(&state.db, user)
            .await?
            .into_iter()
            .map(|(row, level)| (row, Some(level)))
            .collect(),
        Subject::Project(own) => store::list_by_ids(&state.db, &[own.to_string()])
            .await?
            .into_iter()
            .map(|row| (row, None))
            .collect(),
    };
    let readable = candidates
        .into_iter()
        .filter(|(row, member)| {
            ProjectId::parse(&row.id).is_ok_and(|id| {
                caller
                    .level_in_project(&id, &format!("projects/{id}"), *member)
                    .is_some()
            })
        })
        .map(|(row, _)| row.into())
        .collect();
    Ok(Json(readable))
}

/// Suggests a free project id for a display name.
#[utoipa::path(get, path = "/projects:suggest-id", tag = "projects",
    params(SuggestIdQuery),
    responses((status = 200, body = String)))]
pub async fn suggest_project_id(
    State(state): State<AppState>,
    _caller: Caller,
    Query(query): Query<SuggestIdQuery>,
) -> Result<Json<String>, ApiError> {
    let base = slug(&query.display_name);
    for n in 1..=100u32 {
        let candidate = if n == 1 {
            base.clone()
        } else {
            let suffix = format!("-{n}");
            let keep = ProjectId::MAX_LEN - suffix.len();
            format!(
                "{}{suffix}",
                base[..base.len().min(keep)].trim_end_matches('-')
            )
        };
        if ProjectId::parse(&candidate).is_ok() && !store::exists(&state.db, &candidate).await? {
            return Ok(Json(candidate));
        }
    }
    Err(ApiError::Conflict(
        "No free id was found for this display name; choose one yourself.".to_owned(),
    ))
}

/// A valid project id made from a display name: lower case, runs of other
/// characters turned into one hyphen, padded to the minimum length.
fn slug(display_name: &str) -> String {
    let mut slug = String::new();
    for c in display_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(ProjectId::MAX_LEN);
    let mut slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        slug.push_str("project");
    }
    while slug.len() < ProjectId::MIN_LEN {
        slug.push('0');
    }
    if slug == ProjectId::RESERVED {
        slug.push_str("-project");
    }
    slug
}

/// Reads one project. Needs `read` on it.
#[utoipa::path(get, path = "/projects/{project_id}", tag = "projects",
    params(("project_id" = ProjectIdText, Path, description = "The project")),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody)))]
pub async fn get_project(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<Project>, ApiError> {
    store::get(&state.db, &access.project)
        .await?
        .map(|row| Json(row.into()))
        .ok_or_else(|| ApiError::NotFound(format!("Project `{}` was not found.", access.project)))
}

/// Changes a project's display name, description, icon or metadata. Needs
/// `write` on it.
#[utoipa::path(patch, path = "/projects/{project_id}", tag = "projects",
    params(("project_id" = ProjectIdText, Path, description = "The project")),
    request_body = ProjectUpdate,
    responses((status = 200, body = Project), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_project(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    JsonBody(update): JsonBody<ProjectUpdate>,
) -> Result<Json<Project>, ApiError> {
    if let Some(name) = &update.display_name {
        check_len("display_name", name, 4, 128)?;
    }
    if let Some(description) = &update.description {
        check_len("description", description, 0, 240)?;
    }
    if let Some(icon) = &update.icon {
        check_len("icon", icon, 0, 2000)?;
    }
    if let Some(metadata) = &update.metadata {
        check_metadata(metadata.iter().map(|(k, v)| (k, v.as_ref())))?;
    }
    let patch = ProjectPatch {
        display_name: update.display_name,
        description: update.description,
        icon: update.icon,
        metadata: update
            .metadata
            .map(|m| serde_json::to_value(m).map_err(anyhow::Error::from))
            .transpose()?,
    };
    store::update(&state.db, &access.project, &patch, &access.caller.subject)
        .await?
        .map(|row| Json(row.into()))
        .ok_or_else(|| being_deleted(&access.project))
}

fn being_deleted(project: &ProjectId) -> ApiError {
    ApiError::Conflict(format!(
        "Project `{project}` is being deleted; it accepts no more changes."
    ))
}

/// Queues the deletion of a project and everything in it. Needs `admin` on
/// it. The project refuses changes from then on; the action pipeline removes
/// its deployments, networks and files, then the project.
#[utoipa::path(delete, path = "/projects/{project_id}", tag = "projects",
    params(("project_id" = ProjectIdText, Path, description = "The project")),
    responses((status = 202, body = ActionAccepted), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn delete_project(
    State(state): State<AppState>,
    access: ProjectAccess<Admin>,
) -> Result<(StatusCode, Json<ActionAccepted>), ApiError> {
    let project = &access.project;
    let by = &access.caller.subject;
    let mut action = NewAction::new(
        project.as_str(),
        Action::Project(ProjectAction::Delete),
        ActionOrigin::Api,
    );
    action.requested_by = Some(by.to_string());
    let submitted = actions::submit(&state, action, MarkDeleting { project, by }).await?;
    Ok(ActionAccepted::of(submitted.action()))
}

/// The project's "deleting" mark, written with its `project.delete`.
/// Refused (409) when its deletion was queued already.
#[derive(Debug)]
struct MarkDeleting<'a> {
    project: &'a ProjectId,
    by: &'a Subject,
}

impl ResourceWrite<ApiError> for MarkDeleting<'_> {
    type Row = ();

    async fn write(self, conn: &mut PgConnection) -> Result<(), ApiError> {
        if store::begin_deletion(conn, self.project, self.by).await? {
            Ok(())
        } else {
            Err(being_deleted(self.project))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_project_ids() {
        for (name, want) in [
            ("My Project", "my-project"),
            ("  Ünïcode & Co. 2024 ", "n-code-co-2024"),
            ("ab", "ab00"),
            ("!!!", "project"),
            ("System", "system-project"),
            (
                "A very long display name that goes on",
                "a-very-long-display-name",
            ),
        ] {
            let slug = slug(name);
            assert_eq!(slug, want, "{name}");
            assert!(ProjectId::parse(&slug).is_ok(), "{slug}");
        }
    }
}
