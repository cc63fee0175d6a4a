//! Advisory locks that serialise work across processes sharing one
//! database, where the outside system offers no way to do it.
//!
//! They use PostgreSQL's two-key form, whose key space does not overlap the
//! one-key form sqlx's migrator locks with; the first key says what kind of
//! thing is locked.

use sqlx::PgConnection;

/// First key of a project network's lock.
const PROJECT_NETWORK: i32 = 0x6e65_7401; // "net" 1

/// Takes the lock on creating `project_id`'s network until the transaction
/// `conn` is in ends. The Docker Engine before API 1.44 accepts two networks
/// of one name, so two workers creating a project's network at once could
/// both succeed; holding this lock while ensuring the network makes them
/// take turns.
pub async fn lock_project_network(conn: &mut PgConnection, project_id: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(PROJECT_NETWORK)
        .bind(project_id)
        .execute(conn)
        .await
        .map(drop)
}
