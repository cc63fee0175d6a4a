//! Identifiers, each with a `parse` constructor that enforces contaxy's rules.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::InvalidValue;

/// Checks contaxy's identifier pattern,
/// `^(?!.*--)[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$`, with the given
/// length bounds and, when `lowercase`, no upper-case letters.
fn check_identifier(
    what: &'static str,
    value: &str,
    (min, max, length_rule): (usize, usize, &'static str),
    lowercase: bool,
) -> Result<(), InvalidValue> {
    let bad = |reason| Err(InvalidValue::new(what, value, reason));
    if value.len() < min || value.len() > max {
        return bad(length_rule);
    }
    let allowed = |c: char| {
        c.is_ascii_digit()
            || c == '-'
            || c.is_ascii_lowercase()
            || (!lowercase && c.is_ascii_uppercase())
    };
    if !value.chars().all(allowed) {
        return bad(if lowercase {
            "only lower-case letters, digits and '-' are allowed"
        } else {
            "only letters, digits and '-' are allowed"
        });
    }
    if value.starts_with('-') || value.ends_with('-') {
        return bad("must start and end with a letter or digit");
    }
    if value.contains("--") {
        return bad("must not contain '--'");
    }
    Ok(())
}

/// A project's id: 4–25 lower-case letters, digits and single hyphens,
/// starting and ending with a letter or digit; `system` is reserved. (The
/// same rule is a CHECK constraint on `projects.id`.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

impl ProjectId {
    /// Shortest allowed id.
    pub const MIN_LEN: usize = 4;
    /// Longest allowed id.
    pub const MAX_LEN: usize = 25;
    /// The id no project may take.
    pub const RESERVED: &'static str = "system";

    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        check_identifier(
            "project id",
            value,
            (
                Self::MIN_LEN,
                Self::MAX_LEN,
                "must be 4 to 25 characters long",
            ),
            true,
        )?;
        if value == Self::RESERVED {
            return Err(InvalidValue::new("project id", value, "is reserved"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's id: contaxy's identifier pattern, 1–63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        check_identifier(
            "user id",
            value,
            (1, 63, "must be 1 to 63 characters long"),
            false,
        )?;
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API token's public id (not its secret): a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(pub Uuid);

impl TokenId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Validates `value` (a UUID in its usual text form).
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        Uuid::parse_str(value)
            .map(Self)
            .map_err(|_| InvalidValue::new("token id", value, "must be a UUID"))
    }
}

impl Default for TokenId {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! text_id_impls {
    ($($ty:ident),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
text_id_impls!(ProjectId, UserId);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_follow_the_contaxy_rules() {
        for good in ["demo", "my-project-1", "a1b2", "abcdefghijklmnopqrstuvwxy"] {
            assert!(ProjectId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "abc",                        // too short
            "abcdefghijklmnopqrstuvwxyz", // 26: too long
            "Demo",                       // upper case
            "-demo",
            "demo-",
            "de--mo",
            "de_mo",
            "dé-mo",
            "system",
            "",
        ] {
            assert!(ProjectId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids_allow_upper_case_but_not_other_characters() {
        assert!(UserId::parse("Alice-1").is_ok());
        assert!(UserId::parse("a").is_ok());
        for bad in ["", "a--b", "-a", "a/b", "a b", &"x".repeat(64)] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_value_and_the_rule() {
        let error = ProjectId::parse("De").expect_err("invalid");
        assert_eq!(error.what, "project id");
        assert!(error.to_string().contains("\"De\""), "{error}");
        assert!(TokenId::parse("not-a-uuid").is_err());
    }
}
