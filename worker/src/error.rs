//! Why an attempt failed: [`ActionError`], named for the cause, keeping the
//! cause as its source, and answering its retry class. Deciding whether to
//! retry is [`crate::retry::decide`]'s job, not the action's.
//!
//! The display text is what the action's `last_error` and its dead letter's
//! reason say, so it is written for the person reading those.

use std::time::Duration;

use contaxy_common::domain::InvalidValue;
use contaxy_common::domain::action::{ErrorClass, InvalidAction};
use contaxy_common::domain::validation::FieldErrors;
use contaxy_common::storage::StorageError;
use contaxy_common::store::networks::AllocationError;
use contaxy_common::store::quotas::{QuotaError, QuotaExceeded};

use crate::runtime::{DeploymentRef, RuntimeError};

/// Why one attempt of an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The runtime failed; its own classification decides the class.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Object storage failed: unavailable is transient, anything else it
    /// refused (or a missing source file) is permanent.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A file would be written in a project that is gone or being deleted
    /// (its storage would outlive it).
    #[error("project {project_id} does not exist or is being deleted, so no file is written in it")]
    FilesOfProjectNotLive {
        /// The project.
        project_id: String,
    },
    /// PostgreSQL could not be reached: worth waiting for.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// A query we wrote failed: it will not change by itself.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// No subnet could be allocated for the project's network.
    #[error(transparent)]
    Allocation(AllocationError),
    /// The runtime refused this many subnets in a row; they are blocked and
    /// the next attempt allocates others.
    #[error(
        "the runtime refused {refused} subnets in a row for project {project_id}; they are blocked for an hour"
    )]
    SubnetsRefused {
        /// The project.
        project_id: String,
        /// How many were refused.
        refused: usize,
    },
    /// The project's network exists in a shape contaxy cannot use.
    #[error("network {network} {problem}")]
    NetworkUnusable {
        /// The network's name.
        network: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The project's network was gone again right after it was ensured
    /// (a project or network delete in progress): the next attempt ensures
    /// it first.
    #[error("{0}")]
    NetworkGoneAgain(#[source] RuntimeError),
    /// The network's row went away while it was being adopted (a delete
    /// raced it).
    #[error("the network row vanished while adopting")]
    NetworkRowVanished,
    /// The project is gone or its deletion is queued: nothing new is made
    /// in it.
    #[error("project {project_id} does not exist or is being deleted, so it gets no network")]
    ProjectNotLive {
        /// The project.
        project_id: String,
    },
    /// A deployment's input does not validate.
    #[error("{0}")]
    InvalidInput(#[from] FieldErrors),
    /// A value derived from the action is not valid (an endpoint, a token
    /// scope, a project id).
    #[error("{what}: {source}")]
    InvalidValue {
        /// Which value.
        what: &'static str,
        /// Why.
        #[source]
        source: InvalidValue,
    },
    /// An endpoint of the deployment's input does not parse.
    #[error("{0}")]
    InvalidEndpoint(String),
    /// The action's recorded payload no longer parses (a row written by
    /// another version).
    #[error(transparent)]
    InvalidAction(#[from] InvalidAction),
    /// The action is about a deployment that has no record (it was
    /// deleted).
    #[error("{0} was not found")]
    NotRecorded(DeploymentRef),
    /// Another project's deployment has this id.
    #[error("deployment id {0} is taken")]
    DeploymentIdTaken(String),
    /// A per-tenant limit would be passed (a deployment another system
    /// published into a full project).
    #[error("refused: {0}")]
    QuotaExceeded(QuotaExceeded),
    /// The attempt ran past its deadline.
    #[error("the attempt took longer than {} s", .0.as_secs())]
    TimedOut(Duration),
}

impl ActionError {
    /// Transient (might work later) or permanent.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Runtime(error) if error.is_retryable() => ErrorClass::Transient,
            Self::Storage(error) if error.is_transient() => ErrorClass::Transient,
            Self::Allocation(AllocationError::Contended(_))
            | Self::DatabaseUnavailable(_)
            | Self::SubnetsRefused { .. }
            | Self::NetworkRowVanished
            | Self::NetworkGoneAgain(_)
            | Self::TimedOut(_) => ErrorClass::Transient,
            Self::Runtime(_)
            | Self::Storage(_)
            | Self::FilesOfProjectNotLive { .. }
            | Self::Database(_)
            | Self::Allocation(_)
            | Self::NetworkUnusable { .. }
            | Self::ProjectNotLive { .. }
            | Self::InvalidInput(_)
            | Self::InvalidValue { .. }
            | Self::InvalidEndpoint(_)
            | Self::InvalidAction(_)
            | Self::NotRecorded(_)
            | Self::DeploymentIdTaken(_)
            | Self::QuotaExceeded(_) => ErrorClass::Permanent,
        }
    }

    /// Whether another attempt might succeed.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }
}

impl From<sqlx::Error> for ActionError {
    fn from(error: sqlx::Error) -> Self {
        // The database being away is worth waiting for; anything else about
        // a query we wrote is not going to change by itself.
        match error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                Self::DatabaseUnavailable(error)
            }
            other => Self::Database(other),
        }
    }
}

impl From<QuotaError> for ActionError {
    fn from(error: QuotaError) -> Self {
        match error {
            QuotaError::Exceeded(exceeded) => Self::QuotaExceeded(exceeded),
            QuotaError::Database(error) => error.into(),
        }
    }
}

impl From<AllocationError> for ActionError {
    fn from(error: AllocationError) -> Self {
        match error {
            AllocationError::Database(error) => error.into(),
            other => Self::Allocation(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use contaxy_common::domain::network::SubnetPool;

    use super::*;

    #[test]
    fn an_exhausted_pool_is_permanent_and_contention_is_not() {
        let pool = SubnetPool::new("10.1.0.0/24", 24).expect("valid");
        let exhausted = ActionError::from(AllocationError::PoolExhausted {
            range: pool.range(),
            capacity: 1,
            prefix_len: 24,
        });
        assert_eq!(exhausted.class(), ErrorClass::Permanent);
        assert!(exhausted.to_string().contains("exhausted"), "{exhausted}");
        assert_eq!(
            ActionError::from(AllocationError::Contended(3)).class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn the_database_away_is_transient_and_a_failed_query_is_not() {
        let away = ActionError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(away.class(), ErrorClass::Transient);
        assert!(away.to_string().starts_with("database unavailable: "));
        let broken = ActionError::from(sqlx::Error::RowNotFound);
        assert_eq!(broken.class(), ErrorClass::Permanent);
        assert!(broken.to_string().starts_with("database error: "));
    }

    #[test]
    fn runtime_errors_keep_their_class_and_their_source() {
        let gone = ActionError::from(RuntimeError::Timeout {
            operation: "create container",
        });
        assert_eq!(gone.class(), ErrorClass::Transient);
        let missing = ActionError::from(RuntimeError::NotFound {
            what: "deployment d of project p".to_owned(),
        });
        assert_eq!(missing.class(), ErrorClass::Permanent);
        assert_eq!(
            missing.to_string(),
            "deployment d of project p was not found"
        );
        let away = ActionError::from(StorageError::Unavailable("connection refused".to_owned()));
        assert_eq!(away.class(), ErrorClass::Transient);
        assert_eq!(
            away.to_string(),
            "object storage is unavailable: connection refused"
        );
        let refused = ActionError::from(StorageError::Refused("403 AccessDenied".to_owned()));
        assert_eq!(refused.class(), ErrorClass::Permanent);
        let no_source = ActionError::from(StorageError::NotFound("a.txt".to_owned()));
        assert_eq!(no_source.class(), ErrorClass::Permanent);
        let timed_out = ActionError::TimedOut(Duration::from_secs(300));
        assert_eq!(timed_out.to_string(), "the attempt took longer than 300 s");
        assert!(timed_out.is_transient());
    }
}
