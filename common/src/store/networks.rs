//! Queries on `networks` (which subnet each project's network has) and
//! `network_attachments` (which deployments are attached to it).
//!
//! Allocation picks the lowest subnet of the pool that no row overlaps and
//! inserts it; the table's unique and exclusion constraints decide a race
//! (`ON CONFLICT DO NOTHING`), and the loser looks again. Work on one
//! project's network is serialised across workers by [`NetworkLock`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::Ipv4Net;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres};

use crate::domain::network::{NetworkStatus, SubnetPool, gateway_of};

/// The columns of a project's row, with the addresses as text.
const COLUMNS: &str = "project_id, name, subnet::text AS subnet, host(gateway) AS gateway, \
                       status, status_detail, created_at, updated_at";

/// How many times allocation looks again after losing a race before it
/// gives up for this attempt. Every lost race means another allocation won,
/// so this is only reached under extreme contention.
const MAX_ALLOCATION_ROUNDS: u32 = 1_000;

/// First and longest pause between two tries for a busy project's lock.
const LOCK_POLL_MIN: Duration = Duration::from_millis(20);
const LOCK_POLL_MAX: Duration = Duration::from_millis(500);

/// Advisory lock class of per-project network work (`'netw'`).
const PROJECT_LOCK_CLASS: i32 = 0x6e65_7477;
/// Advisory lock class of the orphan sweep (`'swep'`).
const SWEEP_LOCK_CLASS: i32 = 0x7377_6570;

/// A project's network as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NetworkRecord {
    /// The owning project.
    pub project_id: String,
    /// The runtime's name for it.
    pub name: String,
    /// Its subnet (CIDR).
    pub subnet: String,
    /// Its gateway address.
    pub gateway: String,
    /// Where it stands.
    pub status: NetworkStatus,
    /// More to say about the status, if anything.
    pub status_detail: Option<String>,
    /// When the subnet was allocated.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// A project's network with the deployments attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectNetwork {
    /// The network.
    pub network: NetworkRecord,
    /// Ids of the deployments attached, sorted.
    pub deployments: Vec<String>,
}

/// Why no subnet could be allocated.
#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    /// Every subnet of the pool is taken. Waiting will not help until a
    /// network is deleted, and an operator may have to grow the pool.
    #[error(
        "the network address pool {range} is exhausted: all {capacity} subnets of /{prefix_len} are allocated"
    )]
    PoolExhausted {
        /// The pool's range.
        range: Ipv4Net,
        /// How many subnets it holds.
        capacity: u64,
        /// Their prefix length.
        prefix_len: u8,
    },
    /// Lost the race for a subnet too many times in a row.
    #[error("lost the race for a free subnet {0} times in a row")]
    Contended(u32),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The project's network row, if it has one.
pub async fn find<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
) -> sqlx::Result<Option<NetworkRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM networks WHERE project_id = $1"
    ))
    .bind(project_id)
    .fetch_optional(executor)
    .await
}

/// Every project's network row (blocked rows left out), by project.
pub async fn list_all<'e>(executor: impl PgExecutor<'e>) -> sqlx::Result<Vec<NetworkRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM networks WHERE project_id IS NOT NULL ORDER BY project_id"
    ))
    .fetch_all(executor)
    .await
}

/// The project's networks (none or one today) with their attached
/// deployments.
pub async fn list_for_project(
    pool: &PgPool,
    project_id: &str,
) -> sqlx::Result<Vec<ProjectNetwork>> {
    let Some(network) = find(pool, project_id).await? else {
        return Ok(Vec::new());
    };
    let deployments = attached(pool, project_id).await?;
    Ok(vec![ProjectNetwork {
        network,
        deployments,
    }])
}

/// The project's network row, allocating the lowest free subnet of `pool`
/// when it has none. An existing row is returned as it is, even when its
/// subnet lies outside the pool (the pool setting may have changed since).
pub async fn allocate(
    conn: &mut PgConnection,
    project_id: &str,
    name: &str,
    pool: &SubnetPool,
) -> Result<NetworkRecord, AllocationError> {
    for _ in 0..MAX_ALLOCATION_ROUNDS {
        if let Some(existing) = find(&mut *conn, project_id).await? {
            return Ok(existing);
        }
        let taken: Vec<String> =
            sqlx::query_scalar("SELECT subnet::text FROM networks WHERE subnet && $1::cidr")
                .bind(pool.range().to_string())
                .fetch_all(&mut *conn)
                .await?;
        let taken: Vec<Ipv4Net> = taken.iter().filter_map(|s| s.parse().ok()).collect();
        let subnet = pool
            .lowest_free(&taken)
            .ok_or(AllocationError::PoolExhausted {
                range: pool.range(),
                capacity: pool.capacity(),
                prefix_len: pool.prefix_len(),
            })?;
        let inserted: Option<NetworkRecord> = sqlx::query_as(&format!(
            "INSERT INTO networks (project_id, name, subnet, gateway, status)
             VALUES ($1, $2, $3::cidr, $4::inet, 'allocated')
             ON CONFLICT DO NOTHING
             RETURNING {COLUMNS}"
        ))
        .bind(project_id)
        .bind(name)
        .bind(subnet.to_string())
        .bind(gateway_of(subnet).to_string())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(record) = inserted {
            return Ok(record);
        }
        // Another allocation took that subnet, or this project's row, first.
    }
    Err(AllocationError::Contended(MAX_ALLOCATION_ROUNDS))
}

/// Sets the project's network status. Returns false when it has no row.
pub async fn set_status<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    status: NetworkStatus,
    detail: Option<&str>,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE networks SET status = $2, status_detail = $3, updated_at = now()
         WHERE project_id = $1",
    )
    .bind(project_id)
    .bind(status)
    .bind(detail)
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records the subnet a network already has in the runtime (made before
/// its row, or by an older version) as the project's, ready. Returns false
/// when another row overlaps it.
pub async fn adopt_subnet(
    conn: &mut PgConnection,
    project_id: &str,
    subnet: &str,
    gateway: &str,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE networks
         SET subnet = $2::cidr, gateway = $3::inet, status = 'ready', status_detail = NULL,
             updated_at = now()
         WHERE project_id = $1",
    )
    .bind(project_id)
    .bind(subnet)
    .bind(gateway)
    .execute(&mut *conn)
    .await;
    match updated {
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(error) if is_constraint_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Takes the project's subnet away from it and holds it back from
/// allocation (the runtime refused it: it overlaps something contaxy does
/// not manage). The project's next allocation gets another subnet.
pub async fn block_subnet<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE networks
         SET project_id = NULL, name = NULL, status = 'blocked', status_detail = $2,
             updated_at = now()
         WHERE project_id = $1",
    )
    .bind(project_id)
    .bind(reason)
    .execute(executor)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Frees subnets blocked longer than `after`: whatever overlapped them may
/// be gone; if not, the runtime refuses them again and they are blocked
/// again.
pub async fn expire_blocked<'e>(
    executor: impl PgExecutor<'e>,
    after: Duration,
) -> sqlx::Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM networks
         WHERE status = 'blocked' AND updated_at < now() - make_interval(secs => $1)",
    )
    .bind(after.as_secs_f64())
    .execute(executor)
    .await?;
    Ok(deleted.rows_affected())
}

/// Removes the project's row, returning its subnet to the pool. Returns
/// false when it had none.
pub async fn remove<'e>(executor: impl PgExecutor<'e>, project_id: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM networks WHERE project_id = $1")
        .bind(project_id)
        .execute(executor)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Ids of the project's deployments attached to its network, sorted.
pub async fn attached<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT deployment_id FROM network_attachments WHERE project_id = $1 ORDER BY deployment_id",
    )
    .bind(project_id)
    .fetch_all(executor)
    .await
}

/// Records that the deployment is attached. Only a deployment the project
/// has a row for is recorded; returns whether a row was added.
pub async fn attach<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    deployment_id: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO network_attachments (deployment_id, project_id)
         SELECT id, project_id FROM deployments WHERE project_id = $1 AND id = $2
         ON CONFLICT (deployment_id) DO NOTHING",
    )
    .bind(project_id)
    .bind(deployment_id)
    .execute(executor)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Records that the deployment is detached.
pub async fn detach<'e>(
    executor: impl PgExecutor<'e>,
    project_id: &str,
    deployment_id: &str,
) -> sqlx::Result<bool> {
    let deleted =
        sqlx::query("DELETE FROM network_attachments WHERE project_id = $1 AND deployment_id = $2")
            .bind(project_id)
            .bind(deployment_id)
            .execute(executor)
            .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Makes the project's recorded attachments exactly `attached` (what the
/// runtime reports), leaving out names that are not its deployments.
pub async fn sync_attachments(
    pool: &PgPool,
    project_id: &str,
    attached: &[String],
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM network_attachments WHERE project_id = $1 AND NOT (deployment_id = ANY($2))",
    )
    .bind(project_id)
    .bind(attached)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO network_attachments (deployment_id, project_id)
         SELECT id, project_id FROM deployments WHERE project_id = $1 AND id = ANY($2)
         ON CONFLICT (deployment_id) DO NOTHING",
    )
    .bind(project_id)
    .bind(attached)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

fn is_constraint_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        // unique_violation, exclusion_violation
        .is_some_and(|code| code == "23505" || code == "23P01")
}

/// Holds PostgreSQL's session advisory lock on one project's network (or on
/// the orphan sweep), on a connection of its own, so network work on a
/// project never interleaves across workers (an ensure racing a delete
/// would otherwise leave a network without its row).
///
/// [`NetworkLock::release`] unlocks and returns the connection to the pool.
/// Dropped without that (the attempt timed out or panicked), the
/// connection is closed instead, which ends the session and so the lock.
#[derive(Debug)]
pub struct NetworkLock {
    conn: PoolConnection<Postgres>,
    class: i32,
    key: String,
    released: bool,
}

impl NetworkLock {
    /// Waits for the lock on `project_id`'s network. It polls rather than
    /// blocking in PostgreSQL, so that workers waiting for one busy project
    /// do not each hold a pooled connection meanwhile. The caller bounds
    /// the wait (the attempt's timeout).
    pub async fn acquire(pool: &PgPool, project_id: &str) -> sqlx::Result<Self> {
        let mut pause = LOCK_POLL_MIN;
        loop {
            if let Some(lock) = Self::try_acquire(pool, project_id).await? {
                return Ok(lock);
            }
            let jitter = rand::random_range(0..=pause.as_millis() as u64 / 2);
            tokio::time::sleep(pause + Duration::from_millis(jitter)).await;
            pause = (pause * 2).min(LOCK_POLL_MAX);
        }
    }

    /// The lock on `project_id`'s network, unless someone holds it.
    pub async fn try_acquire(pool: &PgPool, project_id: &str) -> sqlx::Result<Option<Self>> {
        Self::try_class(pool, PROJECT_LOCK_CLASS, project_id).await
    }

    /// The lock of the orphan sweep, unless another worker is sweeping.
    pub async fn try_sweep(pool: &PgPool) -> sqlx::Result<Option<Self>> {
        Self::try_class(pool, SWEEP_LOCK_CLASS, "sweep").await
    }

    async fn try_class(pool: &PgPool, class: i32, key: &str) -> sqlx::Result<Option<Self>> {
        let mut conn = pool.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(class)
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        Ok(locked.then(|| Self::held(conn, class, key)))
    }

    fn held(conn: PoolConnection<Postgres>, class: i32, key: &str) -> Self {
        Self {
            conn,
            class,
            key: key.to_owned(),
            released: false,
        }
    }

    /// The connection holding the lock, for queries made under it.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Unlocks and hands the connection back to the pool.
    pub async fn unlock(mut self) -> sqlx::Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
            .bind(self.class)
            .bind(&self.key)
            .execute(&mut *self.conn)
            .await?;
        self.released = true;
        Ok(())
    }
}

impl Drop for NetworkLock {
    fn drop(&mut self) {
        if !self.released {
            self.conn.close_on_drop();
        }
    }
}
