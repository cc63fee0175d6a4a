//! Where an action stands, how its errors are classed and where it came from.

use serde::{Deserialize, Serialize};

/// Where an action stands. `queued → running → succeeded | failed`, with
/// `retrying` between attempts and `cancelled` when it will not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ActionStatus {
    /// Recorded, waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Done.
    Succeeded,
    /// Will not be tried again; `last_error` says why.
    Failed,
    /// Failed transiently; waiting in a delay queue for the next attempt.
    Retrying,
    /// Withdrawn before it ran.
    Cancelled,
}

impl ActionStatus {
    /// Whether the action has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// How an error is classed, which decides whether it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ErrorClass {
    /// Might work later (connection refused, timeout, 5xx, 429, conflict in
    /// progress).
    Transient,
    /// Will not work however often tried (validation, not found, denied).
    Permanent,
    /// The message itself could not be understood.
    Malformed,
}

/// Where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ActionOrigin {
    /// The REST API.
    Api,
    /// Another system, publishing straight onto the broker.
    Broker,
    /// A schedule or cleanup.
    Scheduler,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ended_statuses_are_final() {
        assert!(ActionStatus::Succeeded.is_final());
        assert!(ActionStatus::Failed.is_final());
        assert!(ActionStatus::Cancelled.is_final());
        assert!(!ActionStatus::Queued.is_final());
        assert!(!ActionStatus::Running.is_final());
        assert!(!ActionStatus::Retrying.is_final());
    }
}
