//! The OpenAPI schemas of what the deployment routes accept: contaxy's
//! `ServiceInput` and `JobInput`, and the PATCH of a service.
//!
//! The routes read bodies into `DeploymentInput` (contaxy-common, which has
//! no utoipa); these types only describe it, with the limits its
//! `validate` enforces, so that a value the document allows is not refused.
//! Where `validate` counts bytes, the document states a length in
//! characters a quarter as long (four bytes is the longest UTF-8
//! character). A test keeps the field names in step with `DeploymentInput`.
//! What a schema cannot say is in the field's description: `max_cpus` at
//! least `min_cpus` (default 1 core), `max_memory` at least a `min_memory`
//! given (left out, it is 1000 MB or `max_memory` if lower), `min_gpus` at
//! most `max_gpus`, and the `min_*` within the largest host.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, Object, ObjectBuilder, Schema, SchemaType,
    Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use contaxy_common::domain::deployment::MAX_SECONDS;

use crate::routes::schema::{map_of, nullable, text_schema};

/// What `POST /projects/{project_id}/services` accepts (contaxy's
/// `ServiceInput`). Unknown fields are refused.
///
/// (`Deserialize` is derived only so that utoipa reads
/// `deny_unknown_fields`; the routes read `DeploymentInput`.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    /// The image to run (`registry/repo:tag` or `…@sha256:…`).
    #[schema(
        pattern = "^[A-Za-z0-9_]([A-Za-z0-9._/:@-]*[A-Za-z0-9._-])?$",
        min_length = 1,
        max_length = 2000
    )]
    pub container_image: String,
    /// A human name, 4–128 characters; the id's slug comes from it.
    #[schema(min_length = 4, max_length = 128, pattern = "^[^\\x00]*$")]
    pub display_name: String,
    /// At most 240 characters.
    #[schema(max_length = 240, pattern = "^[^\\x00]*$")]
    pub description: Option<String>,
    /// An icon name or URL, at most 2000 characters.
    #[schema(max_length = 2000, pattern = "^[^\\x00]*$")]
    pub icon: Option<String>,
    /// Free-form labels: at most 100; keys 1–255 bytes, values at most
    /// 1024 bytes (numbers and booleans are read as strings, as contaxy
    /// reads them). Keys starting with `ctxy.` are the platform's and are
    /// dropped.
    #[schema(schema_with = metadata, required = false)]
    pub metadata: BTreeMap<String, String>,
    /// Recorded but not deployed.
    #[schema(default = false, required = false)]
    pub disabled: bool,
    /// Environment variables for the container: at most 100; names
    /// `[A-Za-z_][A-Za-z0-9_]*`, not `CONTAXY_*` (the platform sets those);
    /// values at most 32 KiB.
    #[schema(schema_with = parameters, required = false)]
    pub parameters: BTreeMap<String, String>,
    /// Overrides the image's ENTRYPOINT: at most 100 entries of at most
    /// 4096 bytes, without NUL.
    #[schema(value_type = Option<Vec<ListItem>>, max_items = 100)]
    pub command: Option<Vec<String>>,
    /// Overrides the image's CMD; as `command`.
    #[schema(value_type = Option<Vec<ListItem>>, max_items = 100)]
    pub args: Option<Vec<String>>,
    /// Free-form requirement tags; as `command`.
    #[schema(value_type = Vec<ListItem>, max_items = 100, required = false)]
    pub requirements: Vec<String>,
    /// Ports it serves, optionally with a path (`"8080"`, `"9001/webapp/ui"`):
    /// at most 100.
    #[schema(value_type = Vec<Endpoint>, max_items = 100, required = false)]
    pub endpoints: Vec<String>,
    /// Resources. A limit may not be below its request: `max_cpus` not
    /// below `min_cpus` (default 1), `max_memory` not below a `min_memory`
    /// given (left out, `min_memory` is 1000 or `max_memory` if lower),
    /// `max_gpus` not below `min_gpus`. JSON Schema cannot
    /// compare two fields, so the document states each relation as ranges
    /// that meet at a few pivots (`anyOf`): every value it admits is
    /// accepted, not every accepted value is admitted. The `min_*` must also
    /// be within the largest host the workers reported.
    #[schema(schema_with = compute, required = false)]
    pub compute: ComputeInput,
    /// Stop it after this many idle seconds (a float, as pydantic sends a
    /// `timedelta`, is rounded to whole seconds).
    #[schema(minimum = 0)]
    pub idle_timeout: Option<f64>,
    /// Empty the volume when stopped.
    pub clear_volume_on_stop: Option<bool>,
}

/// Resource requests and limits (contaxy's `compute`). Memory and sizes in
/// MB, CPUs in cores. Unknown fields are refused. (A limit below its
/// request is refused too; see `compute` in `ServiceInput`.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeInput {
    /// Cores the host must have for it (checked, not reserved); at most the
    /// largest host's.
    #[schema(minimum = 0, maximum = 1024, default = 1.0, required = false)]
    pub min_cpus: f64,
    /// CPU limit in cores; not below `min_cpus` (default 1).
    #[schema(minimum = 0.01, maximum = 1024)]
    pub max_cpus: Option<f64>,
    /// Memory the host must have for it, in MB; at most the largest host's.
    /// Left out: 1000, or `max_memory` if that is lower.
    #[schema(minimum = 4, maximum = 16777216, required = false)]
    pub min_memory: u64,
    /// Memory limit in MB; not below `min_memory` when that is given. A
    /// default limit applies when unset.
    #[schema(minimum = 6, maximum = 16777216)]
    pub max_memory: Option<u64>,
    /// GPUs it needs; not above `max_gpus`.
    #[schema(minimum = 0, maximum = 64)]
    pub min_gpus: Option<u32>,
    /// GPUs attached at most.
    #[schema(minimum = 0, maximum = 64)]
    pub max_gpus: Option<u32>,
    /// Where a persistent volume is mounted: an absolute path other than
    /// `/`, without `..` segments, `:` or `,`.
    #[schema(
        pattern = "^(/(\\.|\\.\\.[ -+\\-.0-9;-~]+|\\.?[ -+\\-0-9;-~][ -+\\-.0-9;-~]*))+/?$",
        max_length = 1024
    )]
    pub volume_path: Option<String>,
    /// Volume size limit in MB.
    #[schema(minimum = 1, maximum = 1073741824)]
    pub max_volume_size: Option<u64>,
    /// Container writable-layer size limit in MB.
    #[schema(minimum = 1, maximum = 1073741824)]
    pub max_container_size: Option<u64>,
    /// Replicas at most.
    #[schema(minimum = 1, maximum = 100, default = 1, required = false)]
    pub max_replicas: u32,
    /// Seconds it must live before cleanup may stop it; at most ten years.
    #[schema(minimum = 0, maximum = 315360000, default = 0, required = false)]
    pub min_lifetime: u64,
}

text_schema! {
    /// A metadata key: 1–255 bytes.
    pub struct MetadataKey { pattern: "^[^\\x00]*$", min_length: 1, max_length: 63 }
}

text_schema! {
    /// A metadata value: at most 1024 bytes.
    pub struct MetadataValue { pattern: "^[^\\x00]*$", max_length: 256 }
}

text_schema! {
    /// An environment variable name, not one of the platform's `CONTAXY_*`.
    pub struct ParameterName {
        pattern: "^(?:[A-BD-Za-z_][A-Za-z0-9_]*|C(?:[A-NP-Za-z0-9_][A-Za-z0-9_]*|O(?:[A-MO-Za-z0-9_][A-Za-z0-9_]*|N(?:[A-SU-Za-z0-9_][A-Za-z0-9_]*|T(?:[B-Za-z0-9_][A-Za-z0-9_]*|A(?:[A-WYZa-z0-9_][A-Za-z0-9_]*|X(?:[A-XZa-z0-9_][A-Za-z0-9_]*|Y(?:[A-Za-z0-9][A-Za-z0-9_]*)?)?)?)?)?)?)?)$",
        max_length: 255,
    }
}

text_schema! {
    /// An environment variable's value: at most 32 KiB.
    pub struct ParameterValue { pattern: "^[^\\x00]*$", max_length: 8192 }
}

text_schema! {
    /// An entry of `command`, `args` or `requirements`: at most 4096 bytes,
    /// without NUL.
    pub struct ListItem { pattern: "^[^\\x00]*$", max_length: 1024 }
}

text_schema! {
    /// A port 1–65535, optionally followed by `/path`, without whitespace.
    pub struct Endpoint {
        pattern: "^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])(/[!-~]*)?$",
    }
}

/// `compute`: a [`ComputeInput`] whose limits are not below its requests.
fn compute() -> RefOr<Schema> {
    AllOfBuilder::new()
        .item(RefOr::Ref(Ref::from_schema_name(ComputeInput::name())))
        .item(not_below(
            ("min_cpus", Some(1.0)),
            "max_cpus",
            &[0.25, 1.0, 8.0, 64.0, 1024.0],
        ))
        // A left-out `min_memory` is never above `max_memory`.
        .item(not_below(
            ("min_memory", None),
            "max_memory",
            &[64.0, 1000.0, 16384.0, 16_777_216.0],
        ))
        .item(not_below(("min_gpus", None), "max_gpus", &[0.0, 8.0, 64.0]))
        .description(Some(
            "Resources; see `compute` in ServiceInput for how limits relate to requests.",
        ))
        .into()
}

/// `max` (when given) is not below `min` (or `min`'s default when it has
/// one and is absent): either `max` is absent or null, or both sit on
/// either side of one of `pivots`.
fn not_below((min, min_default): (&str, Option<f64>), max: &str, pivots: &[f64]) -> Schema {
    let any = || ObjectBuilder::new().schema_type(SchemaType::AnyValue);
    let absent = |field: &str| {
        ObjectBuilder::new().property(field, ObjectBuilder::new().schema_type(Type::Null))
    };
    let mut branches = AnyOfBuilder::new().item(absent(max));
    if min_default.is_none() {
        branches = branches.item(absent(min));
    }
    for &pivot in pivots {
        let mut branch = ObjectBuilder::new()
            .property(min, any().maximum(Some(pivot)))
            .property(max, any().minimum(Some(pivot)));
        // An absent `min` is its default, which must be below the pivot.
        if min_default.is_none_or(|default| default > pivot) {
            branch = branch.required(min);
        }
        branches = branches.item(branch);
    }
    branches.build().into()
}

/// `metadata`: at most 100 entries.
fn metadata() -> Object {
    map_of(MetadataKey::schema(), MetadataValue::schema(), 100)
}

/// `parameters`: at most 100 entries.
fn parameters() -> Object {
    map_of(ParameterName::schema(), ParameterValue::schema(), 100)
}

/// The fields only services have.
const SERVICE_ONLY: [&str; 2] = ["idle_timeout", "clear_volume_on_stop"];

/// The fields only jobs have (our extensions to contaxy's `JobInput`):
/// name, minimum, description.
const JOB_ONLY: [(&str, f64, &str); 2] = [
    (
        "deadline_seconds",
        1.0,
        "Seconds the job may run once started; past them it is stopped and ends `failed` (\"ran past its deadline of N s\").",
    ),
    (
        "ttl_seconds_after_finished",
        0.0,
        "Seconds a finished job's container is kept before the cleanup removes it (its logs archived first, its record kept); overrides the server's CONTAXY_JOB_TTL_SECS.",
    ),
];

/// The object schema of [`ServiceInput`], to derive the others from.
fn service_input() -> Object {
    match ServiceInput::schema() {
        RefOr::T(Schema::Object(object)) => object,
        // The derive makes an object of a struct with named fields.
        _ => Object::new(),
    }
}

/// What `POST /projects/{project_id}/jobs` accepts (contaxy's `JobInput`):
/// a [`ServiceInput`] without the service-only fields.
#[derive(Debug)]
pub struct JobInput;

impl PartialSchema for JobInput {
    fn schema() -> RefOr<Schema> {
        let mut object = service_input();
        for field in SERVICE_ONLY {
            object.properties.remove(field);
        }
        for (field, minimum, description) in JOB_ONLY {
            let seconds = ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                .minimum(Some(minimum))
                .maximum(Some(MAX_SECONDS as f64))
                .description(Some(description))
                .build();
            object
                .properties
                .insert(field.to_owned(), RefOr::T(Schema::Object(seconds)));
        }
        object.description =
            Some("What `POST /projects/{project_id}/jobs` accepts (contaxy's `JobInput`, with our `deadline_seconds` and `ttl_seconds_after_finished`). Unknown fields, and the service-only `idle_timeout` and `clear_volume_on_stop`, are refused.".to_owned());
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for JobInput {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ServiceInput::name().into(), ServiceInput::schema()));
        ServiceInput::schemas(schemas);
    }
}

/// A change to a service (`PATCH`): any [`ServiceInput`] fields, none
/// required. A field given replaces the recorded one; in `parameters` and
/// `metadata` keys merge one by one, and `null` removes a key. The merged
/// input must be a valid [`ServiceInput`].
#[derive(Debug)]
pub struct ServicePatch;

impl PartialSchema for ServicePatch {
    fn schema() -> RefOr<Schema> {
        let mut object = service_input();
        object.required.clear();
        for map in ["parameters", "metadata"] {
            if let Some(RefOr::T(Schema::Object(field))) = object.properties.get_mut(map)
                && let Some(values) = field.additional_properties.take()
                && let AdditionalProperties::RefOr(value) = *values
            {
                field.additional_properties =
                    Some(Box::new(AdditionalProperties::RefOr(nullable(value))));
            }
        }
        object.description = Some(
            "A change to a service: any ServiceInput fields, none required. A field given replaces the recorded one; in `parameters` and `metadata` keys merge one by one and `null` removes a key. The merged input must be a valid ServiceInput.".to_owned(),
        );
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for ServicePatch {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ServicePatch")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ServiceInput::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use contaxy_common::domain::deployment::DeploymentInput;
    use serde_json::Value;

    use super::*;

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn the_schemas_name_exactly_the_fields_of_deployment_input() {
        let input = serde_json::to_value(DeploymentInput::default()).expect("JSON");
        let service = serde_json::to_value(ServiceInput::schema()).expect("schema");
        assert_eq!(keys(&service["properties"]), keys(&input));
        let compute = serde_json::to_value(ComputeInput::schema()).expect("schema");
        assert_eq!(keys(&compute["properties"]), keys(&input["compute"]));

        let job = serde_json::to_value(JobInput::schema()).expect("schema");
        let mut job_fields = keys(&input);
        for field in SERVICE_ONLY {
            job_fields.remove(field);
        }
        let job_input = DeploymentInput {
            deadline_seconds: Some(1),
            ttl_seconds_after_finished: Some(1),
            ..DeploymentInput::default()
        };
        let with_job_fields = serde_json::to_value(job_input).expect("JSON");
        for (field, _, _) in JOB_ONLY {
            assert!(with_job_fields.get(field).is_some(), "{field}");
            job_fields.insert(field.to_owned());
        }
        assert_eq!(keys(&job["properties"]), job_fields);
        assert_eq!(
            service["required"],
            serde_json::json!(["container_image", "display_name"])
        );
        let patch = serde_json::to_value(ServicePatch::schema()).expect("schema");
        assert_eq!(keys(&patch["properties"]), keys(&input));
        assert!(patch.get("required").is_none(), "{patch}");
    }
}
