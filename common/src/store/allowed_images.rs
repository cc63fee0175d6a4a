//! Queries on `allowed_images` (migration 0014): the image allow-list, and
//! [`check`], which every deploy's submission runs in its transaction (the
//! API's and a broker producer's alike).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use crate::domain::allowed_image::{self, AllowedImage, ImageNotAllowed};
use crate::domain::image::ImageRef;

/// An entry as recorded.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AllowedImageRecord {
    /// The name as given (lowercase).
    pub image_name: String,
    /// `registry/repository`.
    pub normalized: String,
    /// The tags it allows (`*`: every tag).
    pub image_tags: Vec<String>,
    /// The admin's notes.
    pub metadata: Json<BTreeMap<String, String>>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Who wrote it.
    pub created_by: Option<String>,
}

/// Adds an entry, or replaces the one of the same name (contaxy's POST).
pub async fn upsert(
    pool: &PgPool,
    entry: &AllowedImage,
    metadata: &BTreeMap<String, String>,
    by: &str,
) -> sqlx::Result<AllowedImageRecord> {
    sqlx::query_as(
        "INSERT INTO allowed_images (image_name, normalized, image_tags, metadata, created_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (image_name) DO UPDATE
         SET normalized = EXCLUDED.normalized, image_tags = EXCLUDED.image_tags,
             metadata = EXCLUDED.metadata, created_by = EXCLUDED.created_by, created_at = now()
         RETURNING *",
    )
    .bind(&entry.image_name)
    .bind(&entry.normalized)
    .bind(&entry.image_tags)
    .bind(Json(metadata))
    .bind(by)
    .fetch_one(pool)
    .await
}

/// Every entry, by name.
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<AllowedImageRecord>> {
    sqlx::query_as("SELECT * FROM allowed_images ORDER BY image_name")
        .fetch_all(pool)
        .await
}

/// Removes the entry named `image_name` (as given, any case); whether
/// there was one.
pub async fn delete(pool: &PgPool, image_name: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM allowed_images WHERE image_name = lower($1)")
        .bind(image_name.trim())
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// How many entries there are.
pub async fn count(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM allowed_images")
        .fetch_one(pool)
        .await
}

/// Whether the list allows `image` (a deploy's `container_image`): an
/// empty list allows everything. `Ok(Err(why))` names the rule refused.
pub async fn check(
    conn: &mut PgConnection,
    image: &str,
) -> sqlx::Result<Result<(), ImageNotAllowed>> {
    let parsed = match ImageRef::parse(image) {
        Ok(parsed) => parsed,
        Err(error) => return Ok(Err(error.into())),
    };
    let normalized = allowed_image::normalized(&parsed);
    // Whether the list has any entry, and the tags of those for this image
    // (several names may normalize alike: their tags add up).
    let (listed, tags): (bool, Option<Vec<String>>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM allowed_images),
                (SELECT array_agg(tag) FROM allowed_images, unnest(image_tags) AS tag
                 WHERE normalized = $1)",
    )
    .bind(&normalized)
    .fetch_one(&mut *conn)
    .await?;
    if !listed {
        return Ok(Ok(()));
    }
    Ok(match tags {
        None => Err(ImageNotAllowed::NotListed { normalized }),
        Some(tags) if allowed_image::tags_allow(&tags, &parsed) => Ok(()),
        Some(tags) => Err(ImageNotAllowed::TagNotListed {
            tag: parsed
                .tag()
                .or(parsed.digest())
                .unwrap_or("latest")
                .to_owned(),
            allowed: tags.join(", "),
            normalized,
        }),
    })
}
