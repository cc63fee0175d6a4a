//! Field-level validation errors, collected so a client sees every problem
//! at once.

use serde::Serialize;

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's path (`compute.max_memory`, `endpoints[2]`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Every invalid field of an input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// Notes a problem.
    pub fn push(&mut self, field: &str, message: &str) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    }

    /// `Ok` when nothing was noted.
    pub fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Whether `field` was noted.
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

/// Notes `field` unless its length in characters is within `min..=max`.
pub fn check_len(errors: &mut FieldErrors, field: &str, value: &str, min: usize, max: usize) {
    let len = value.chars().count();
    if len < min || len > max {
        errors.push(field, &format!("must be {min} to {max} characters"));
    }
}
