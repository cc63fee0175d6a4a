//! Volumes as the runtime reports them, for the sweeps that remove those a
//! project left behind.

use chrono::{DateTime, Utc};

/// One volume of this namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// The runtime's name for it.
    pub name: String,
    /// The project it was made for.
    pub project_id: String,
    /// The incarnation of that project, when the volume records one
    /// (volumes made before incarnations existed do not).
    pub project_incarnation: Option<uuid::Uuid>,
    /// When it was made, when the runtime says.
    pub created_at: Option<DateTime<Utc>>,
}
