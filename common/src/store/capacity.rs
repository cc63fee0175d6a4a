//! What the runtime hosts can give one deployment, recorded by the workers
//! when they connect, read by the API to refuse impossible requests early.

use sqlx::PgPool;

use crate::domain::capacity::HostCapacity;

/// Records (or refreshes) what `host` offers.
pub async fn record(
    pool: &PgPool,
    namespace: &str,
    host: &str,
    backend: &str,
    capacity: HostCapacity,
) -> sqlx::Result<()> {
    // PostgreSQL has no unsigned integers; no host has 8 EiB.
    let memory_bytes = i64::try_from(capacity.memory_bytes).unwrap_or(i64::MAX);
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
    .bind(memory_bytes)
    .execute(pool)
    .await
    .map(drop)
}

/// The most any host of the installation offers (seen in the last day), or
/// `None` when no worker has reported yet (the worker then checks).
pub async fn largest(pool: &PgPool, namespace: &str) -> sqlx::Result<Option<HostCapacity>> {
    let row: Option<(Option<f64>, Option<i64>)> = sqlx::query_as(
        "SELECT max(cpus), max(memory_bytes) FROM runtime_hosts
         WHERE namespace = $1 AND seen_at > now() - interval '1 day'",
    )
    .bind(namespace)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((Some(cpus), Some(memory_bytes))) => Some(HostCapacity {
            cpus,
            memory_bytes: u64::try_from(memory_bytes).unwrap_or(0),
        }),
        _ => None,
    })
}
