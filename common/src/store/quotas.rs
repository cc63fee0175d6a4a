//! Per-tenant limits, checked in the transaction that would pass them: how
//! many deployments a project has, how many of them run, how many projects
//! one user created. Each check takes a transaction-scoped advisory lock on
//! what it counts (the project, the user), so two requests at once cannot
//! both take the last place; the lock goes with the transaction.
//!
//! The API checks in the transaction of the create, or of the start of a
//! stopped deployment (a 409 naming the limit); the worker checks the same way for a deployment another system
//! published (the action fails permanently, with the same message).

use sqlx::PgConnection;

/// The limits, from the shared settings; `0` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Deployments (services and jobs, finished ones too until deleted or
    /// removed by their TTL) one project may have.
    pub max_deployments_per_project: u32,
    /// Deployments of one project that may be pending or running at once.
    pub max_running_per_project: u32,
    /// Projects one user may have created (and not deleted).
    pub max_projects_per_user: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_deployments_per_project: 500,
            max_running_per_project: 100,
            max_projects_per_user: 100,
        }
    }
}

/// A limit that would be passed, named as its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    /// The project has as many deployments as it may.
    #[error(
        "the project has {max} deployments, its limit (max_deployments_per_project, CONTAXY_MAX_DEPLOYMENTS_PER_PROJECT); delete some first"
    )]
    DeploymentsPerProject {
        /// The limit.
        max: u32,
    },
    /// The project runs as many deployments as it may.
    #[error(
        "the project has {max} deployments pending or running, its limit (max_running_per_project, CONTAXY_MAX_RUNNING_PER_PROJECT); stop some first"
    )]
    RunningPerProject {
        /// The limit.
        max: u32,
    },
    /// The user created as many projects as they may.
    #[error(
        "you created {max} projects, the limit (max_projects_per_user, CONTAXY_MAX_PROJECTS_PER_USER); delete one first"
    )]
    ProjectsPerUser {
        /// The limit.
        max: u32,
    },
}

impl QuotaExceeded {
    /// The setting's name, for clients that act on it.
    pub fn limit(&self) -> &'static str {
        match self {
            Self::DeploymentsPerProject { .. } => "max_deployments_per_project",
            Self::RunningPerProject { .. } => "max_running_per_project",
            Self::ProjectsPerUser { .. } => "max_projects_per_user",
        }
    }

    /// The limit's value.
    pub fn max(&self) -> u32 {
        match self {
            Self::DeploymentsPerProject { max }
            | Self::RunningPerProject { max }
            | Self::ProjectsPerUser { max } => *max,
        }
    }
}

/// Why a quota check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// A limit would be passed.
    #[error(transparent)]
    Exceeded(#[from] QuotaExceeded),
    /// The database could not answer.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Before a new deployment of `project_id` is inserted (in the same
/// transaction): room for one more deployment, and for one more running.
/// Deployments whose delete was accepted do not count: they are on their
/// way out (and a deploy of the same id takes their row back).
pub async fn check_new_deployment(
    conn: &mut PgConnection,
    quotas: &Quotas,
    project_id: &str,
) -> Result<(), QuotaError> {
    if quotas.max_deployments_per_project == 0 && quotas.max_running_per_project == 0 {
        return Ok(());
    }
    lock(conn, "deployments", project_id).await?;
    let (total, running): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*) FILTER (WHERE d.archived_at IS NULL),
                count(*) FILTER (WHERE {COUNTS_AS_RUNNING})
         FROM deployments d WHERE d.project_id = $1 AND d.deleting_since IS NULL"
    ))
    .bind(project_id)
    .bind(None::<uuid::Uuid>)
    .fetch_one(&mut *conn)
    .await?;
    let max = quotas.max_deployments_per_project;
    if max > 0 && total >= i64::from(max) {
        return Err(QuotaExceeded::DeploymentsPerProject { max }.into());
    }
    let max = quotas.max_running_per_project;
    if max > 0 && running >= i64::from(max) {
        return Err(QuotaExceeded::RunningPerProject { max }.into());
    }
    Ok(())
}

/// Whether deployment `d` takes a place among its project's running ones:
/// pending or running, or about to be (a start or restart accepted and not
/// yet ended, other than action `$2`), so starts accepted together cannot
/// overshoot the limit.
const COUNTS_AS_RUNNING: &str = "(d.status IN ('pending', 'running')
     OR EXISTS (SELECT 1 FROM actions a
                WHERE a.project_id = d.project_id AND a.resource_id = d.id
                  AND a.kind IN ('deployment.start', 'deployment.restart')
                  AND a.status IN ('queued', 'retrying', 'running')
                  AND a.id IS DISTINCT FROM $2))";

/// Before action `action_id`, a start or restart of deployment `id` of
/// `project_id`, is accepted (in the transaction that recorded it): room
/// for the deployment among the running ones, unless it takes a place
/// already (it runs, or another start of it is under way).
pub async fn check_start(
    conn: &mut PgConnection,
    quotas: &Quotas,
    project_id: &str,
    id: &str,
    action_id: uuid::Uuid,
) -> Result<(), QuotaError> {
    let max = quotas.max_running_per_project;
    if max == 0 {
        return Ok(());
    }
    lock(conn, "deployments", project_id).await?;
    let (running, counted): (i64, bool) = sqlx::query_as(&format!(
        "SELECT count(*), coalesce(bool_or(d.id = $3), false)
         FROM deployments d
         WHERE d.project_id = $1 AND d.deleting_since IS NULL AND {COUNTS_AS_RUNNING}"
    ))
    .bind(project_id)
    .bind(action_id)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if !counted && running >= i64::from(max) {
        return Err(QuotaExceeded::RunningPerProject { max }.into());
    }
    Ok(())
}

/// Before `creator` creates a project (in the same transaction).
pub async fn check_new_project(
    conn: &mut PgConnection,
    quotas: &Quotas,
    creator: &str,
) -> Result<(), QuotaError> {
    let max = quotas.max_projects_per_user;
    if max == 0 {
        return Ok(());
    }
    lock(conn, "projects", creator).await?;
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM projects WHERE created_by = $1 AND deleting_since IS NULL",
    )
    .bind(creator)
    .fetch_one(&mut *conn)
    .await?;
    if created >= i64::from(max) {
        return Err(QuotaExceeded::ProjectsPerUser { max }.into());
    }
    Ok(())
}

/// A transaction-scoped lock on one counted thing.
async fn lock(conn: &mut PgConnection, what: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("quota:{what}:{key}"))
        .execute(conn)
        .await?;
    Ok(())
}
