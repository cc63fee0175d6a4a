//! One module per action family.

pub mod deployment;
