//! What the runtime hosts can give one deployment, recorded by the workers
//! when they connect, read by the API to refuse impossible requests early.

use sqlx::PgPool;

/// The largest host of an installation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Cores.
    pub cpus: f64,
    /// Memory in bytes.
    pub memory_bytes: i64,
}

/// Records (or refreshes) what `host` offers.
pub async fn record(
    pool: &PgPool,
    namespace: &str,
    host: &str,
    backend: &str,
    capacity: Capacity,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO runtime_hosts (namespace, host, backend, cpus, memory_bytes)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (namespace, host) DO UPDATE
         SET backend = $3, cpus = $4, memory_bytes = $5, seen_at = now()",
    )
    .bind(namespace)
    .bind(host)
    .bind(backend)
    .bind(capacity.cpus)
    .bind(capacity.memory_bytes)
    .execute(pool)
    .await
    .map(drop)
}

/// The most any host of the installation offers (seen in the last day), or
/// `None` when no worker has reported yet (the worker then checks).
pub async fn largest(pool: &PgPool, namespace: &str) -> sqlx::Result<Option<Capacity>> {
    let row: Option<(Option<f64>, Option<i64>)> = sqlx::query_as(
        "SELECT max(cpus), max(memory_bytes) FROM runtime_hosts
         WHERE namespace = $1 AND seen_at > now() - interval '1 day'",
    )
    .bind(namespace)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((Some(cpus), Some(memory_bytes))) => Some(Capacity { cpus, memory_bytes }),
        _ => None,
    })
}
