//! OpenAPI schemas of values whose types live in `contaxy-common`, which
//! does not depend on utoipa: identifiers with their patterns and lengths,
//! and the names of status enums.
//!
//! Each pattern admits only values the matching `parse` accepts, so a
//! client or a fuzzer generated from the document is not refused for
//! a value the document allows. The enum lists are built from the enums
//! themselves (their serde names), with a `match` that stops the build when
//! a variant is added and not listed.

use contaxy_common::domain::action::{ActionKind, ActionOrigin, ActionStatus, ErrorClass};
use contaxy_common::domain::deployment::{DeploymentStatus, DeploymentType};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};

/// Declares a string schema type: a unit struct whose schema is a string
/// with the given limits, its doc comment as the schema's description.
macro_rules! text_schema {
    ($(#[doc = $doc:literal])* $vis:vis struct $name:ident { $($key:ident: $value:expr),* $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug)]
        $vis struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                #[allow(unused_mut, reason = "a schema may have no limits")]
                let mut limits = $crate::routes::schema::TextLimits {
                    description: concat!($($doc),*).trim(),
                    ..Default::default()
                };
                $(limits.$key = Some($value);)*
                limits.schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use text_schema;

/// The limits of a string schema ([`text_schema!`]).
#[derive(Debug, Default)]
pub struct TextLimits {
    /// What the value is.
    pub description: &'static str,
    /// A regular expression every value matches.
    pub pattern: Option<&'static str>,
    /// Fewest characters.
    pub min_length: Option<usize>,
    /// Most characters.
    pub max_length: Option<usize>,
}

impl TextLimits {
    /// The string schema.
    pub fn schema(self) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(self.description))
            .pattern(self.pattern)
            .min_length(self.min_length)
            .max_length(self.max_length)
            .into()
    }
}

/// A map schema: at most `max` entries, keys as `key`, values as `value`.
pub fn map_of(key: RefOr<Schema>, value: RefOr<Schema>, max: usize) -> Object {
    let key = match key {
        RefOr::T(schema) => schema,
        RefOr::Ref(_) => Schema::Object(Object::with_type(Type::String)),
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(key))
        .additional_properties(Some(value))
        .max_properties(Some(max))
        .build()
}

/// `schema` or `null`.
pub fn nullable(schema: RefOr<Schema>) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(schema)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

text_schema! {
    /// A project's id: 4–25 lower-case letters, digits and single hyphens,
    /// starting and ending with a letter or digit; `system` is reserved.
    pub struct ProjectIdText {
        pattern: "^[a-z0-9]+(-[a-z0-9]+)*$",
        min_length: 4,
        max_length: 25,
    }
}

text_schema! {
    /// A user's id: 1–63 letters, digits and single hyphens, starting and
    /// ending with a letter or digit.
    pub struct UserIdText {
        pattern: "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$",
        min_length: 1,
        max_length: 63,
    }
}

text_schema! {
    /// A deployment's id, `{namespace}-p-{project}--{s|j}-{slug}` (jobs end
    /// in `-{6 random}`): lower-case letters, digits and single hyphens, at
    /// most 63 characters.
    pub struct DeploymentIdText {
        pattern: "^[a-z0-9]+(-[a-z0-9]+)*$",
        min_length: 1,
        max_length: 63,
    }
}

text_schema! {
    /// A permission, `{resource}#{read|write|admin}`: the resource is `*`
    /// or a `/`-separated path of letters, digits and `-_.:~`.
    pub struct PermissionText {
        pattern: "^(\\*|[A-Za-z0-9_.:~-]+(/[A-Za-z0-9_.:~-]+)*)#(read|write|admin)$",
        min_length: 6,
        max_length: 512,
    }
}

text_schema! {
    /// Who a token acts for: `users/{user_id}` or `projects/{project_id}`.
    /// (The pattern bounds an id by its letters and digits, at most 31 for
    /// a user and 13 for a project, so that every value it admits is a
    /// valid id whatever its hyphens.)
    pub struct SubjectText {
        pattern: "^(users/[A-Za-z0-9](-?[A-Za-z0-9]){0,30}|projects/[a-z0-9](-?[a-z0-9]){3,12})$",
    }
}

text_schema! {
    /// A user subject, `users/{user_id}`.
    pub struct UserSubjectText {
        pattern: "^users/[A-Za-z0-9]+(-[A-Za-z0-9]+)*$",
        max_length: 69,
    }
}

text_schema! {
    /// An `Idempotency-Key`: 1 to 255 visible ASCII characters (spaces
    /// inside).
    pub struct IdempotencyKeyText {
        pattern: "^[!-~]([ -~]*[!-~])?$",
        min_length: 1,
        max_length: 255,
    }
}

/// An access level.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AccessLevelName {
    /// Read.
    Read,
    /// Read and change.
    Write,
    /// Everything, members and deletion included.
    Admin,
}

/// A string schema whose values are the serde names of `values`.
pub(crate) fn names<T: Serialize>(values: &[T], description: &str) -> Object {
    let names = values
        .iter()
        .filter_map(|v| serde_json::to_value(v).ok())
        .collect::<Vec<_>>();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(description))
        .build()
}

/// `service` or `job`.
pub fn deployment_type() -> Object {
    use DeploymentType::*;
    let _every_variant_is_listed = |t: DeploymentType| match t {
        Service | Job => (),
    };
    names(&[Service, Job], "Service or job.")
}

/// A deployment's status.
pub fn deployment_status() -> Object {
    use DeploymentStatus::*;
    let _every_variant_is_listed = |s: DeploymentStatus| match s {
        Pending | Running | Succeeded | Failed | Terminating | Stopped | Unknown | Cancelled => (),
    };
    names(
        &[
            Pending,
            Running,
            Succeeded,
            Failed,
            Terminating,
            Stopped,
            Unknown,
            Cancelled,
        ],
        "Where the deployment stands (`cancelled`, a job stopped on request, is our extension).",
    )
}

/// An action's status.
pub fn action_status() -> Object {
    use ActionStatus::*;
    let _every_variant_is_listed = |s: ActionStatus| match s {
        Queued | Running | Succeeded | Failed | Retrying | Cancelled => (),
    };
    names(
        &[Queued, Running, Succeeded, Failed, Retrying, Cancelled],
        "Where the action stands.",
    )
}

/// An action's kind (`deployment.deploy`, …).
pub fn action_kind() -> Object {
    names(&ActionKind::ALL, "What the action does.")
}

/// Where an action came from.
pub fn action_origin() -> Object {
    use ActionOrigin::*;
    let _every_variant_is_listed = |o: ActionOrigin| match o {
        Api | Broker | Scheduler => (),
    };
    names(&[Api, Broker, Scheduler], "Where the action came from.")
}

/// How an action's last failure was classed (absent before any failure).
pub fn error_class() -> Object {
    use ErrorClass::*;
    let _every_variant_is_listed = |c: ErrorClass| match c {
        Transient | Permanent | Malformed => (),
    };
    let mut schema = names(
        &[Transient, Permanent, Malformed],
        "How the last failure was classed.",
    );
    schema.schema_type = utoipa::openapi::schema::SchemaType::Array(vec![Type::String, Type::Null]);
    if let Some(values) = &mut schema.enum_values {
        values.push(serde_json::Value::Null);
    }
    schema
}

#[cfg(test)]
mod tests {
    use contaxy_common::domain::{Permission, ProjectId, Subject, UserId};

    use super::*;

    /// The pattern of a string schema, compiled the way a client would.
    fn pattern_of<T: utoipa::PartialSchema>() -> String {
        let schema = serde_json::to_value(T::schema()).expect("schema");
        schema["pattern"].as_str().expect("a pattern").to_owned()
    }

    #[test]
    fn every_id_the_patterns_admit_is_parsed() {
        // Values at the edges of each pattern; each must parse.
        for id in ["abcd", "a-b-c", "a1b2c3d4e5f6g7h8i9j0k1l2m"] {
            assert!(ProjectId::parse(id).is_ok(), "{id}");
        }
        for id in ["a", "A-b", "x".repeat(63).as_str()] {
            assert!(UserId::parse(id).is_ok(), "{id}");
        }
        for permission in ["*#admin", "projects/a#read", "a.b:c~d_e-f/g#write"] {
            assert!(Permission::parse(permission).is_ok(), "{permission}");
        }
        let longest_user = format!("users/{}", "a-".repeat(30) + "a");
        let longest_project = format!("projects/{}", "a-".repeat(12) + "a");
        for subject in ["users/a", "projects/abcd", &longest_user, &longest_project] {
            assert!(Subject::parse(subject).is_ok(), "{subject}");
        }
        assert!(pattern_of::<ProjectIdText>().contains("a-z0-9"));
        assert!(pattern_of::<PermissionText>().ends_with("#(read|write|admin)$"));
    }

    #[test]
    fn enum_schemas_list_the_wire_names() {
        let kinds = serde_json::to_value(action_kind()).expect("schema");
        assert_eq!(kinds["enum"][0], "deployment.deploy");
        let statuses = serde_json::to_value(deployment_status()).expect("schema");
        assert!(
            statuses["enum"]
                .as_array()
                .expect("enum")
                .contains(&"stopped".into())
        );
    }
}
