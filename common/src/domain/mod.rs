//! The domain: what contaxy manages, as validated types.
//!
//! Every value that comes from outside (a path, a body, a message) is parsed
//! into one of these types at the edge, so code further in never sees an
//! unchecked id.
//!
//! - [`ids`]: [`ProjectId`], [`UserId`], [`TokenId`].
//! - [`access`]: [`AccessLevel`], [`Permission`], [`Subject`]: who may do what.
//! - [`token`]: API token secrets: generation, hashing, project-token
//!   derivation.
//! - [`action`]: [`action::Action`], the typed action, its kinds and
//!   families, statuses and error classes.
//! - [`allowed_image`]: the image allow-list's entries and their rule.
//! - [`capacity`]: [`HostCapacity`], what a runtime host offers one
//!   deployment.
//! - [`deployment`]: services and jobs: contaxy's input and its validation.
//! - [`file`]: [`file::FileKey`], the validated key of a project's file.
//! - [`image`]: [`ImageRef`], a container image reference by the OCI
//!   grammar, never on the host's own addresses.
//! - [`lenient`]: input values read as contaxy reads them (floats for
//!   seconds, scalars for strings), with contaxy's cleaning.
//! - [`network`]: project networks: the subnet pool and network statuses.
//! - [`payload`]: kind-specific payloads of action messages.
//! - [`schedule`]: cron schedules: their slots (time zones, daylight
//!   saving) and their validated input.
//! - [`validation`]: field-level errors, collected.

pub mod access;
pub mod action;
pub mod allowed_image;
pub mod capacity;
pub mod deployment;
pub mod file;
pub mod ids;
pub mod image;
pub mod lenient;
pub mod network;
pub mod payload;
pub mod schedule;
pub mod token;
pub mod validation;

pub use access::{AccessLevel, Permission, Subject};
pub use capacity::HostCapacity;
pub use ids::{ProjectId, TokenId, UserId};
pub use image::ImageRef;
pub use token::{TokenHash, TokenSecret};

/// Why a value from outside was refused. The message is written for the
/// client that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {reason}")]
pub struct InvalidValue {
    /// What was being parsed (`project id`, `permission`…).
    pub what: &'static str,
    /// The value as received, truncated to keep messages short.
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl InvalidValue {
    pub(crate) fn new(what: &'static str, value: &str, reason: &'static str) -> Self {
        Self {
            what,
            value: value.chars().take(80).collect(),
            reason,
        }
    }
}
