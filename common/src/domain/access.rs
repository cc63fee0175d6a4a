//! The access model: permission strings, access levels and subjects.
//!
//! A permission is `{resource}#{level}`: `projects/demo#write`. Levels are
//! ordered, `admin` ⊇ `write` ⊇ `read`, and a grant on a resource covers
//! everything below it: `projects/demo#write` covers
//! `projects/demo/services/web#read`. The resource `*` is above everything.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;
use super::ids::{ProjectId, UserId};

/// How much a grant allows, ordered: `Read < Write < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// Look.
    Read,
    /// Change: deploy, delete, upload, read logs.
    Write,
    /// Administer: delete the project, manage members, bulk deletes.
    Admin,
}

impl AccessLevel {
    /// The wire name (`read`, `write`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessLevel {
    type Err = InvalidValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            _ => Err(InvalidValue::new(
                "access level",
                value,
                "must be read, write or admin",
            )),
        }
    }
}

/// The resource above every other one.
pub const ROOT_RESOURCE: &str = "*";

/// A permission: a resource path and a level, written `{resource}#{level}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission {
    resource: String,
    level: AccessLevel,
}

impl Permission {
    /// Longest accepted permission string.
    pub const MAX_LEN: usize = 512;

    /// `level` on `resource` (a path such as `projects/demo`, or `*`).
    pub fn new(resource: impl Into<String>, level: AccessLevel) -> Result<Self, InvalidValue> {
        let resource = resource.into();
        check_resource(&resource)?;
        Ok(Self { resource, level })
    }

    /// `level` on `projects/{project}`.
    pub fn on_project(project: &ProjectId, level: AccessLevel) -> Self {
        Self {
            resource: format!("projects/{project}"),
            level,
        }
    }

    /// Parses `{resource}#{level}`.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value.len() > Self::MAX_LEN {
            return Err(InvalidValue::new(
                "permission",
                value,
                "must be at most 512 characters",
            ));
        }
        let Some((resource, level)) = value.rsplit_once('#') else {
            return Err(InvalidValue::new(
                "permission",
                value,
                "must have the form {resource}#{read|write|admin}",
            ));
        };
        let level = level.parse().map_err(|_| {
            InvalidValue::new(
                "permission",
                value,
                "its level must be read, write or admin",
            )
        })?;
        Self::new(resource, level).map_err(|e| InvalidValue::new("permission", value, e.reason))
    }

    /// The resource path.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The level.
    pub fn level(&self) -> AccessLevel {
        self.level
    }

    /// Whether holding `self` allows `wanted`: at least its level, on the same
    /// resource or one above it.
    pub fn covers(&self, wanted: &Permission) -> bool {
        self.level >= wanted.level && resource_covers(&self.resource, &wanted.resource)
    }

    /// The highest level any of `grants` gives on `resource`.
    pub fn level_on<'a>(
        grants: impl IntoIterator<Item = &'a Permission>,
        resource: &str,
    ) -> Option<AccessLevel> {
        grants
            .into_iter()
            .filter(|grant| resource_covers(&grant.resource, resource))
            .map(|grant| grant.level)
            .max()
    }
}

/// Whether a grant on `above` applies to `below`.
pub fn resource_covers(above: &str, below: &str) -> bool {
    above == ROOT_RESOURCE
        || below == above
        || below
            .strip_prefix(above)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn check_resource(resource: &str) -> Result<(), InvalidValue> {
    let bad = |reason| Err(InvalidValue::new("resource", resource, reason));
    if resource == ROOT_RESOURCE {
        return Ok(());
    }
    if resource.is_empty() || resource.split('/').any(str::is_empty) {
        return bad("must be `*` or a path of non-empty segments separated by '/'");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:~".contains(c);
    if !resource.chars().all(|c| c == '/' || allowed(c)) {
        return bad("may hold only letters, digits, '/', '-', '_', '.', ':' and '~'");
    }
    Ok(())
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.resource, self.level)
    }
}

impl TryFrom<String> for Permission {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Permission> for String {
    fn from(permission: Permission) -> String {
        permission.to_string()
    }
}

/// Who a token acts for: a user (`users/{id}`) or a project (`projects/{id}`,
/// the subject of project tokens).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Subject {
    /// A person or a system acting as one.
    User(UserId),
    /// A project, for project tokens.
    Project(ProjectId),
}

impl Subject {
    /// The user id of the system administrator, the subject of the bootstrap
    /// admin token. Its tokens are limited only by their scopes.
    pub const ADMIN_USER: &'static str = "admin";

    /// The system administrator, `users/admin`.
    pub fn admin() -> Self {
        Self::User(UserId::parse(Self::ADMIN_USER).expect("`admin` is a valid user id"))
    }

    /// Whether this is the system administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::User(user) if user.as_str() == Self::ADMIN_USER)
    }

    /// Parses `users/{id}` or `projects/{id}`.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let reason = |e: InvalidValue| InvalidValue::new("subject", value, e.reason);
        match value.split_once('/') {
            Some(("users", id)) => UserId::parse(id).map(Self::User).map_err(reason),
            Some(("projects", id)) => ProjectId::parse(id).map(Self::Project).map_err(reason),
            _ => Err(InvalidValue::new(
                "subject",
                value,
                "must be users/{user_id} or projects/{project_id}",
            )),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(user) => write!(f, "users/{user}"),
            Self::Project(project) => write!(f, "projects/{project}"),
        }
    }
}

impl TryFrom<String> for Subject {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Subject> for String {
    fn from(subject: Subject) -> String {
        subject.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(value: &str) -> Permission {
        Permission::parse(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn levels_are_ordered_admin_write_read() {
        assert!(AccessLevel::Admin > AccessLevel::Write);
        assert!(AccessLevel::Write > AccessLevel::Read);
        assert_eq!("write".parse::<AccessLevel>(), Ok(AccessLevel::Write));
        assert!("owner".parse::<AccessLevel>().is_err());
    }

    #[test]
    fn a_grant_covers_lower_levels_and_resources_below_it() {
        let cases = [
            ("projects/demo#write", "projects/demo#read", true),
            ("projects/demo#write", "projects/demo#write", true),
            ("projects/demo#write", "projects/demo#admin", false),
            (
                "projects/demo#write",
                "projects/demo/services/web#write",
                true,
            ),
            ("projects/demo#admin", "projects/demo/users/bob#admin", true),
            ("projects/demo#admin", "projects/demo2#read", false),
            ("projects/demo#admin", "projects#read", false),
            (
                "projects/demo/services/web#admin",
                "projects/demo#read",
                false,
            ),
            ("projects#write", "projects/any#write", true),
            ("*#read", "projects/demo#read", true),
            ("*#read", "users/bob#write", false),
            ("*#admin", "anything/at/all#admin", true),
        ];
        for (grant, wanted, expected) in cases {
            assert_eq!(
                p(grant).covers(&p(wanted)),
                expected,
                "{grant} covers {wanted}"
            );
        }
    }

    #[test]
    fn the_highest_covering_level_counts() {
        let grants = [
            p("projects/demo#read"),
            p("projects#write"),
            p("users/x#admin"),
        ];
        assert_eq!(
            Permission::level_on(&grants, "projects/demo"),
            Some(AccessLevel::Write)
        );
        assert_eq!(Permission::level_on(&grants, "users/y"), None);
    }

    #[test]
    fn malformed_permissions_are_refused() {
        for bad in [
            "",
            "projects/demo",
            "projects/demo#owner",
            "#read",
            "projects//demo#read",
            "/projects#read",
            "projects/de mo#read",
            "projects/demo#read#x",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(p("projects/demo#read").to_string(), "projects/demo#read");
        assert_eq!(p("*#admin").resource(), "*");
    }

    #[test]
    fn subjects_are_users_or_projects() {
        assert_eq!(
            Subject::parse("users/alice").map(|s| s.to_string()),
            Ok("users/alice".to_owned())
        );
        assert!(matches!(
            Subject::parse("projects/demo"),
            Ok(Subject::Project(_))
        ));
        assert!(Subject::parse("groups/x").is_err());
        assert!(Subject::parse("projects/system").is_err());
        assert!(Subject::admin().is_admin());
        assert!(!Subject::parse("users/alice").expect("valid").is_admin());
    }
}
