//! `/system/allowed-images`: the image allow-list (contaxy's
//! `SystemClient.add_allowed_image`, `list_allowed_images`,
//! `delete_allowed_image`), kept in PostgreSQL (migration 0014).
//!
//! Empty, every image may be deployed; with entries, a deploy (from the
//! API, or from another system over the broker) whose image matches none is
//! refused, naming the rule (`contaxy_common::domain::allowed_image`).
//! Anyone with a token may read the list (contaxy gives its users that, so
//! they know what they may deploy); changing it needs
//! `system/allowed-images#write`, which only the administrator holds
//! unless granted.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use contaxy_common::domain::allowed_image::AllowedImage;
use contaxy_common::domain::{AccessLevel, Permission};
use contaxy_common::store::allowed_images::{self as store, AllowedImageRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::state::AppState;

/// An entry of the list (contaxy's `AllowedImageInfo`).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowedImageInfo {
    /// The image without its tag (`registry.example/team/app`, `busybox`);
    /// stored lowercase. Names are matched as the Engine reads them
    /// (`busybox` is `docker.io/library/busybox`).
    #[schema(max_length = 2000, example = "my-docker-registry.com/my-image")]
    pub image_name: String,
    /// The tags it allows; `["*"]` allows every tag. A digest
    /// (`sha256:…`) allows that digest.
    #[schema(example = json!(["0.2.1", "0.3.0"]))]
    pub image_tags: Vec<String>,
    /// Notes of the administrator's.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl From<AllowedImageRecord> for AllowedImageInfo {
    fn from(record: AllowedImageRecord) -> Self {
        Self {
            image_name: record.image_name,
            image_tags: record.image_tags,
            metadata: Some(record.metadata.0),
        }
    }
}

/// Which entry to remove.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImageNameQuery {
    /// The entry's `image_name`.
    pub image_name: String,
}

/// What changing the list needs.
fn write_permission() -> Result<Permission, ApiError> {
    Permission::new("system/allowed-images", AccessLevel::Write)
        .map_err(|error| ApiError::Internal(anyhow::anyhow!("the allow-list permission: {error}")))
}

async fn require_write(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let needed = write_permission()?;
    if !state.auth.allows(&state.db, caller, &needed).await? {
        return Err(ApiError::forbidden(needed));
    }
    Ok(())
}

/// The list, by name. Empty: every image is allowed.
#[utoipa::path(get, path = "/system/allowed-images", tag = "system",
    responses((status = 200, body = Vec<AllowedImageInfo>)))]
pub async fn list_allowed_images(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<AllowedImageInfo>>, ApiError> {
    let records = store::list(&state.db).await?;
    Ok(Json(records.into_iter().map(Into::into).collect()))
}

/// Adds an entry, or replaces the one of the same name.
#[utoipa::path(post, path = "/system/allowed-images", tag = "system",
    request_body = AllowedImageInfo,
    responses((status = 200, body = AllowedImageInfo), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn add_allowed_image(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<AllowedImageInfo>,
) -> Result<Json<AllowedImageInfo>, ApiError> {
    require_write(&state, &caller).await?;
    let entry = AllowedImage::parse(&input.image_name, &input.image_tags)?;
    let metadata = input.metadata.unwrap_or_default();
    crate::routes::projects::body::check_metadata(metadata.iter().map(|(k, v)| (k, Some(v))))?;
    let by = caller.subject.to_string();
    let record = store::upsert(&state.db, &entry, &metadata, &by).await?;
    Ok(Json(record.into()))
}

/// Removes an entry (404 when there is none of that name).
#[utoipa::path(delete, path = "/system/allowed-images", tag = "system",
    params(ImageNameQuery),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn delete_allowed_image(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ImageNameQuery>,
) -> Result<StatusCode, ApiError> {
    require_write(&state, &caller).await?;
    if !store::delete(&state.db, &query.image_name).await? {
        return Err(ApiError::NotFound(format!(
            "No allowed image is named `{}`.",
            query.image_name
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
