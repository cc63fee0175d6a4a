//! What every handler can reach.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::Auth;

/// Shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: PgPool,
    /// Token checks, the admin token, the rate limiter.
    pub auth: Arc<Auth>,
}
