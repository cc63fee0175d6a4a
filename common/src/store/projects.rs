//! The `projects` table.
//!
//! Every function that reads or changes one project takes its id; callers in
//! the API get that id only from the authorization extractor.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::quotas::{self, QuotaError, Quotas};
use crate::domain::{AccessLevel, ProjectId, Subject, UserId};

/// A project as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRecord {
    /// Its id (valid by the table's CHECK constraint).
    pub id: String,
    /// Shown to people.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// An icon URL or name, as contaxy had it.
    pub icon: String,
    /// String keys to string values.
    pub metadata: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it (a subject).
    pub created_by: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// Set once its deletion is queued.
    pub deleting_since: Option<DateTime<Utc>>,
    /// Drawn at random when it was created: a later project with the same
    /// id has another, so nothing derived from this one reaches it.
    pub incarnation: uuid::Uuid,
}

/// What a new project is made of.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// Its id.
    pub id: ProjectId,
    /// Shown to people (4–128 characters, checked by the caller and the table).
    pub display_name: String,
    /// Free text (≤ 240 characters).
    pub description: String,
    /// An icon.
    pub icon: String,
    /// A JSON object of strings.
    pub metadata: serde_json::Value,
}

/// A change to a project; `None` leaves a field as it is. `metadata` is merged
/// key by key, a JSON `null` removing the key.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New icon.
    pub icon: Option<String>,
    /// Keys to set or (with `null`) remove.
    pub metadata: Option<serde_json::Value>,
}

/// What the authorization check needs to know about a project and a user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectAccessRecord {
    /// Set once its deletion is queued.
    pub deleting_since: Option<DateTime<Utc>>,
    /// The user's membership level, if a user was asked about and is a member.
    pub member_level: Option<String>,
}

/// Creates the project and, when the creator is a user, makes them an
/// `admin` member, in one transaction, if the creator has room for one more
/// project (`quotas`; the system administrator has no such limit). `None`
/// when the id is taken.
pub async fn create(
    pool: &PgPool,
    project: &NewProject,
    creator: &Subject,
    quotas: &Quotas,
) -> Result<Option<ProjectRecord>, QuotaError> {
    let mut tx = pool.begin().await?;
    if matches!(creator, Subject::User(_)) && !creator.is_admin() {
        quotas::check_new_project(&mut tx, quotas, &creator.to_string()).await?;
    }
    let row: Option<ProjectRecord> = sqlx::query_as(
        "INSERT INTO projects (id, display_name, description, icon, metadata, created_by, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (id) DO NOTHING
         RETURNING *",
    )
    .bind(project.id.as_str())
    .bind(&project.display_name)
    .bind(&project.description)
    .bind(&project.icon)
    .bind(&project.metadata)
    .bind(creator.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    if row.is_none() {
        return Ok(None);
    }
    if let Subject::User(user) = creator {
        sqlx::query(
            "INSERT INTO project_members (project_id, user_id, access_level, created_by, updated_by)
             VALUES ($1, $2, 'admin', $3, $3)",
        )
        .bind(project.id.as_str())
        .bind(user.as_str())
        .bind(creator.to_string())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// One project.
pub async fn get(pool: &PgPool, id: &ProjectId) -> Result<Option<ProjectRecord>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM projects WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(pool)
        .await
}

/// Whether a project with this id exists (being deleted or not).
pub async fn exists(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// Every project, by id.
pub async fn list_all(pool: &PgPool) -> Result<Vec<ProjectRecord>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM projects ORDER BY id")
        .fetch_all(pool)
        .await
}

/// The projects with these ids, by id.
pub async fn list_by_ids(pool: &PgPool, ids: &[String]) -> Result<Vec<ProjectRecord>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM projects WHERE id = ANY($1) ORDER BY id")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// The projects `user` is a member of, with the member's level, by id.
pub async fn list_for_member(
    pool: &PgPool,
    user: &UserId,
) -> Result<Vec<(ProjectRecord, AccessLevel)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        project: ProjectRecord,
        member_level: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.*, m.access_level AS member_level
         FROM projects p JOIN project_members m ON m.project_id = p.id
         WHERE m.user_id = $1 ORDER BY p.id",
    )
    .bind(user.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.project, row.member_level.parse().ok()?)))
        .collect())
}

/// Whether the project exists, whether it is being deleted, and `user`'s
/// membership level in it. `None` when there is no such project.
pub async fn access(
    pool: &PgPool,
    project: &ProjectId,
    user: Option<&UserId>,
) -> Result<Option<ProjectAccessRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.deleting_since, m.access_level AS member_level
         FROM projects p
         LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $2
         WHERE p.id = $1",
    )
    .bind(project.as_str())
    .bind(user.map(UserId::as_str))
    .fetch_optional(pool)
    .await
}

/// Applies `patch`. `None` when the project is gone or being deleted.
pub async fn update(
    pool: &PgPool,
    id: &ProjectId,
    patch: &ProjectPatch,
    by: &Subject,
) -> Result<Option<ProjectRecord>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE projects SET
            display_name = COALESCE($2, display_name),
            description  = COALESCE($3, description),
            icon         = COALESCE($4, icon),
            metadata     = CASE WHEN $5::jsonb IS NULL THEN metadata
                                ELSE jsonb_strip_nulls(metadata || $5::jsonb) END,
            updated_at   = now(),
            updated_by   = $6
         WHERE id = $1 AND deleting_since IS NULL
         RETURNING *",
    )
    .bind(id.as_str())
    .bind(&patch.display_name)
    .bind(&patch.description)
    .bind(&patch.icon)
    .bind(&patch.metadata)
    .bind(by.to_string())
    .fetch_optional(pool)
    .await
}

/// Marks the project as being deleted, on the caller's connection: the
/// API does it in the transaction that records the `project.delete`
/// action, so neither exists without the other. Returns false when its
/// deletion was already queued (or there is no such project).
pub async fn begin_deletion(
    conn: &mut PgConnection,
    id: &ProjectId,
    by: &Subject,
) -> Result<bool, sqlx::Error> {
    let marked = sqlx::query(
        "UPDATE projects SET deleting_since = now(), updated_at = now(), updated_by = $2
         WHERE id = $1 AND deleting_since IS NULL",
    )
    .bind(id.as_str())
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(marked.rows_affected() == 1)
}

/// Removes the project's row, its members and its project tokens (by
/// foreign key), and every other token whose subject is the project, in one
/// transaction. The worker's `project.delete` calls this last, once the
/// project's deployments and network are gone (deployments reference the
/// project, so their rows must be removed first). The project's actions
/// are kept: their record outlives it; those still waiting to run are
/// cancelled, so a late copy of one is a no-op at the claim. Returns false when there was no row.
pub async fn remove(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM api_tokens WHERE subject = 'projects/' || $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // What still waits to run in it (a delayed retry, a copy the relay
    // would publish) must not run in a later project with the same id.
    sqlx::query(
        "UPDATE actions
         SET status = 'cancelled', finished_at = now(), updated_at = now(),
             lease_expires_at = NULL, last_error = 'its project was deleted'
         WHERE project_id = $1 AND status IN ('queued', 'retrying')",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let deleted = sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(deleted.rows_affected() == 1)
}

/// The project's incarnation, if it exists.
pub async fn incarnation(pool: &PgPool, id: &str) -> Result<Option<uuid::Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT incarnation FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Whether the project exists and its deletion is not queued: only such a
/// project may get new resources.
pub async fn is_live(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND deleting_since IS NULL)",
    )
    .bind(id)
    .fetch_one(pool)
    .await
}

/// Of `ids`, the projects that exist (being deleted or not), with their
/// incarnations.
pub async fn incarnations_of(
    pool: &PgPool,
    ids: &[String],
) -> Result<Vec<(String, uuid::Uuid)>, sqlx::Error> {
    sqlx::query_as("SELECT id, incarnation FROM projects WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// The incarnation of the project when it exists and its deletion is not
/// queued; `None` otherwise: what a deployment action checks before it makes
/// anything in the project.
pub async fn live_incarnation(pool: &PgPool, id: &str) -> Result<Option<uuid::Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT incarnation FROM projects WHERE id = $1 AND deleting_since IS NULL")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Whether the project is live, holding its row until the caller's
/// transaction ends (`FOR SHARE`): a deletion starting meanwhile (its
/// `UPDATE … SET deleting_since`) waits for that transaction, so a row
/// written in it is one the deletion will find, and none is written after
/// the deletion began.
pub async fn lock_live(conn: &mut PgConnection, id: &str) -> Result<bool, sqlx::Error> {
    let deleting: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT deleting_since FROM projects WHERE id = $1 FOR SHARE")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(matches!(deleting, Some(None)))
}

/// Of `ids`, those of projects that exist and are not being deleted.
pub async fn live_among(pool: &PgPool, ids: &[String]) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM projects WHERE id = ANY($1) AND deleting_since IS NULL ORDER BY id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// Marks the project as being deleted unless it already is (a
/// `project.delete` from another system did not come through the API).
/// Returns false when there is no such project.
pub async fn mark_deleting(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE projects SET deleting_since = coalesce(deleting_since, now()) WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}
