//! The domain: what contaxy manages, as validated types.

pub mod action;
pub mod deployment;
pub mod payload;
pub mod validation;
