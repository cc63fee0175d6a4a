//! `GET …/services:suggest-config` and `GET …/jobs:suggest-config`: an
//! input suggested from the image's own configuration (contaxy's
//! `suggest_service_config`, which had no logic behind it yet).
//!
//! The API has no runtime access (it holds no Docker credentials), so a
//! worker reads the image for it over the broker
//! (`contaxy_common::image_config`), pulling it if its host does not have
//! it, as a deploy would; the image must pass the allow-list first, so a
//! suggestion pulls nothing a deploy could not. From the image:
//!
//! - `display_name`: its `org.opencontainers.image.title` label, or the last
//!   part of its repository;
//! - `description`: its `org.opencontainers.image.description` label (cut
//!   to 240 characters);
//! - `endpoints`: its exposed TCP ports (services only);
//! - `compute.volume_path`: its first declared volume;
//! - `parameters`: its environment but `PATH` (what the container has
//!   anyway, shown so it can be changed);
//! - `metadata`: its labels (without the platform's `ctxy.*`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use contaxy_common::domain::ImageRef;
use contaxy_common::domain::deployment::{DeploymentInput, DeploymentType};
use contaxy_common::domain::validation::FieldErrors;
use contaxy_common::image_config::{self, ImageConfig, ImageConfigError, ImageConfigRequest};
use contaxy_common::store::allowed_images;
use contaxy_common::topology::Topology;
use serde::Deserialize;
use utoipa::IntoParams;

use super::input::{JobInput, ServiceInput};
use crate::auth::{ProjectAccess, Write};
use crate::error::{ApiError, ErrorBody};
use crate::routes::schema::ProjectIdText;
use crate::state::AppState;

/// Which image to suggest an input for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestQuery {
    /// The image (`[registry/]repository[:tag][@digest]`).
    pub container_image: String,
}

/// A service input suggested from the image's own configuration.
#[utoipa::path(get, path = "/projects/{project_id}/services:suggest-config", tag = "services",
    params(("project_id" = ProjectIdText, Path), SuggestQuery),
    responses((status = 200, body = ServiceInput), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn suggest_service_config(
    State(state): State<AppState>,
    _access: ProjectAccess<Write>,
    Query(query): Query<SuggestQuery>,
) -> Result<Json<DeploymentInput>, ApiError> {
    suggest(&state, DeploymentType::Service, &query.container_image).await
}

/// A job input suggested from the image's own configuration.
#[utoipa::path(get, path = "/projects/{project_id}/jobs:suggest-config", tag = "jobs",
    params(("project_id" = ProjectIdText, Path), SuggestQuery),
    responses((status = 200, body = JobInput), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn suggest_job_config(
    State(state): State<AppState>,
    _access: ProjectAccess<Write>,
    Query(query): Query<SuggestQuery>,
) -> Result<Json<DeploymentInput>, ApiError> {
    suggest(&state, DeploymentType::Job, &query.container_image).await
}

async fn suggest(
    state: &AppState,
    kind: DeploymentType,
    image: &str,
) -> Result<Json<DeploymentInput>, ApiError> {
    let refused = |message: String| {
        let mut errors = FieldErrors::default();
        errors.push("container_image", &message);
        ApiError::from(errors)
    };
    let parsed = ImageRef::parse(image).map_err(|e| refused(e.to_string()))?;
    let mut conn = state.db.acquire().await?;
    allowed_images::check(&mut conn, image)
        .await?
        .map_err(|e| refused(e.to_string()))?;
    drop(conn);
    let topology = Topology::clone(state.publisher.topology());
    let request = ImageConfigRequest {
        image: image.to_owned(),
    };
    let config = image_config::request(&state.broker, &topology, &request, state.wait_timeout)
        .await
        .map_err(|error| match error {
            ImageConfigError::NotFound(message) => ApiError::NotFound(message),
            ImageConfigError::NoWorker(_) | ImageConfigError::NotConnected => {
                ApiError::Unavailable(format!("No worker could read the image: {error}."))
            }
            ImageConfigError::Failed(message) => refused(message),
            ImageConfigError::Amqp(error) => ApiError::Internal(error.into()),
        })?;
    Ok(Json(suggested(kind, &parsed, config)))
}

/// The input an image's configuration suggests (see the module
/// documentation).
fn suggested(kind: DeploymentType, image: &ImageRef, config: ImageConfig) -> DeploymentInput {
    let title = config
        .labels
        .get("org.opencontainers.image.title")
        .cloned()
        .unwrap_or_else(|| {
            image
                .repository()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
    let display_name = match title.chars().count() {
        0..4 => format!("{title} {kind}"),
        _ => title.chars().take(128).collect(),
    };
    // contaxy's models refuse `null` here: `""` as its default.
    let description = config
        .labels
        .get("org.opencontainers.image.description")
        .map_or_else(String::new, |d| d.chars().take(240).collect());
    let endpoints = match kind {
        DeploymentType::Service => config
            .exposed_ports
            .iter()
            .filter_map(|port| {
                let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
                (protocol == "tcp" && number.parse::<u16>().is_ok_and(|n| n > 0))
                    .then(|| number.to_owned())
            })
            .collect(),
        DeploymentType::Job => Vec::new(),
    };
    let parameters: BTreeMap<String, String> = config
        .env
        .into_iter()
        .filter(|(key, _)| key != "PATH" && !key.starts_with("CONTAXY_"))
        .collect();
    let metadata = config
        .labels
        .into_iter()
        .filter(|(key, _)| !key.starts_with("ctxy."))
        .collect();
    let mut input = DeploymentInput {
        container_image: image.as_str().to_owned(),
        display_name: Some(display_name),
        description: Some(description),
        metadata,
        parameters,
        endpoints,
        ..DeploymentInput::default()
    };
    input.compute.volume_path = config.volumes.into_iter().next();
    if kind == DeploymentType::Service {
        input.clear_volume_on_stop = Some(false);
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_suggests_its_ports_volume_environment_and_labels() {
        let image = ImageRef::parse("registry.example/team/web:1").expect("valid");
        let config = ImageConfig {
            exposed_ports: vec!["8080/tcp".into(), "53/udp".into(), "9000".into()],
            volumes: vec!["/data".into()],
            env: BTreeMap::from([
                ("PATH".into(), "/bin".into()),
                ("MODE".into(), "prod".into()),
            ]),
            labels: BTreeMap::from([
                (
                    "org.opencontainers.image.description".into(),
                    "A web app".into(),
                ),
                ("ctxy.projectName".into(), "x".into()),
                ("team".into(), "core".into()),
            ]),
            ..ImageConfig::default()
        };
        let service = suggested(DeploymentType::Service, &image, config.clone());
        assert_eq!(service.container_image, "registry.example/team/web:1");
        assert_eq!(service.display_name.as_deref(), Some("web service"));
        assert_eq!(service.description.as_deref(), Some("A web app"));
        assert_eq!(service.endpoints, ["8080", "9000"]);
        assert_eq!(service.compute.volume_path.as_deref(), Some("/data"));
        assert_eq!(
            service.parameters,
            BTreeMap::from([("MODE".into(), "prod".into())])
        );
        assert_eq!(
            service.metadata.keys().collect::<Vec<_>>(),
            ["org.opencontainers.image.description", "team"]
        );
        service
            .validate(DeploymentType::Service)
            .expect("a suggestion is a valid input");
        let job = suggested(DeploymentType::Job, &image, config);
        assert!(job.endpoints.is_empty());
        job.validate(DeploymentType::Job).expect("valid");
    }
}
