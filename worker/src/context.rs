//! What the action families work with: [`ActionContext`], the store, the
//! runtime, the object store, the settings and the publisher of status
//! events. It knows nothing of dispatching:
//! `crate::dispatch` picks the family, and the family modules in
//! `crate::actions` work from this context.

use std::sync::Arc;

use contaxy_common::domain::network::SubnetPool;
use contaxy_common::publisher::Publisher;
use contaxy_common::storage::ObjectStore;
use contaxy_common::store::quotas::Quotas;
use sqlx::PgPool;

use crate::runtime::Runtime;

/// The store, the runtime and the settings every action family uses.
#[derive(Debug)]
pub struct ActionContext {
    /// PostgreSQL, the source of truth.
    pub pool: PgPool,
    /// The container runtime.
    pub runtime: Arc<dyn Runtime>,
    /// Projects' files (S3), and the archived logs of finished jobs.
    pub storage: ObjectStore,
    /// What containers are told about the platform.
    pub deployment: DeploymentSettings,
    /// Where project networks get their addresses.
    pub network: NetworkSettings,
    /// Where the status changes an action makes are announced (`events`).
    pub publisher: Arc<Publisher>,
    /// Per-tenant limits, for deployments another system publishes.
    pub quotas: Quotas,
}

/// What the worker tells containers about the platform.
#[derive(Debug, Clone)]
pub struct DeploymentSettings {
    /// `CONTAXY_BASE_URL` inside containers.
    pub base_url: String,
    /// `CONTAXY_API_ENDPOINT` inside containers.
    pub api_endpoint: String,
}

/// Where project networks get their addresses, and what they are called.
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    /// The pool project subnets are cut from.
    pub pool: SubnetPool,
    /// The installation's namespace (the first part of network names).
    pub namespace: String,
}
