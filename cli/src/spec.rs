//! The body of a deploy (`JobInput`, `ServiceInput`; docs/api.md) from a
//! JSON or YAML file, flags, or both (flags over the file's fields). The
//! server validates it; here only what the flags themselves say is
//! checked.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use crate::args::SpecArgs;
use crate::error::{CliError, CliResult};

/// The body `spec` describes. `fallback_name` ends a display name made from
/// a short image name (`-job`), which must have at least four characters.
pub fn body(spec: &SpecArgs, fallback_name: &str) -> CliResult<Map<String, Value>> {
    let mut body = match &spec.file {
        Some(path) => read_file(path)?,
        None => Map::new(),
    };
    if let Some(image) = &spec.image {
        body.insert("container_image".into(), image.as_str().into());
    }
    if let Some(name) = &spec.name {
        body.insert("display_name".into(), name.as_str().into());
    }
    if let Some(description) = &spec.description {
        body.insert("description".into(), description.as_str().into());
    }
    if !spec.entrypoint.is_empty() {
        body.insert("command".into(), strings(&spec.entrypoint));
    }
    if !spec.args.is_empty() {
        body.insert("args".into(), strings(&spec.args));
    }
    for pair in &spec.env {
        let (key, value) = pair
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| CliError::usage(format!("--env {pair:?} is not KEY=VALUE")))?;
        object_at(&mut body, "parameters")?.insert(key.into(), value.into());
    }
    if let Some(memory) = spec.memory {
        object_at(&mut body, "compute")?.insert("max_memory".into(), memory.into());
    }
    if let Some(cpus) = spec.cpus {
        object_at(&mut body, "compute")?.insert("max_cpus".into(), cpus.into());
    }
    let image = match body.get("container_image") {
        Some(Value::String(image)) => image.clone(),
        _ => {
            return Err(CliError::usage(
                "no image: pass --image, or -f with a file that has container_image",
            ));
        }
    };
    if !body.contains_key("display_name") {
        body.insert(
            "display_name".into(),
            name_from_image(&image, fallback_name).into(),
        );
    }
    Ok(body)
}

/// Sets `key` of `body` when `value` is some.
pub fn set(body: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        body.insert(key.into(), value.into());
    }
}

/// The object at `key`, made when absent.
pub fn object_at<'a>(
    body: &'a mut Map<String, Value>,
    key: &str,
) -> CliResult<&'a mut Map<String, Value>> {
    body.entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| CliError::usage(format!("the file's {key:?} is not an object")))
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|item| item.as_str().into()).collect())
}

/// A file's body: JSON when it ends in `.json`, else YAML (which reads JSON
/// too); `-` is standard input.
pub fn read_file(path: &Path) -> CliResult<Map<String, Value>> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| CliError::usage(format!("cannot read standard input: {error}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|error| CliError::usage(format!("cannot read {}: {error}", path.display())))?
    };
    let is_json = path.extension().is_some_and(|ext| ext == "json");
    let value: Value = if is_json {
        serde_json::from_str(&text).map_err(|error| error.to_string())
    } else {
        serde_norway::from_str(&text).map_err(|error| error.to_string())
    }
    .map_err(|error| CliError::usage(format!("{} cannot be read: {error}", path.display())))?;
    match value {
        Value::Object(body) => Ok(body),
        _ => Err(CliError::usage(format!(
            "{} holds no object (a JobInput or ServiceInput)",
            path.display()
        ))),
    }
}

/// A display name from an image: its last path part without tag or digest
/// (`registry/team/train:1.2` → `train`), made at least four characters
/// long with `fallback`.
fn name_from_image(image: &str, fallback: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let name = last.split(':').next().unwrap_or(last);
    let mut name: String = name.chars().take(100).collect();
    if name.chars().count() < 4 {
        name.push('-');
        name.push_str(fallback);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> SpecArgs {
        SpecArgs {
            file: None,
            image: Some("registry.example/team/busybox:1.36".into()),
            name: None,
            entrypoint: Vec::new(),
            env: vec!["A=1".into(), "B=x=y".into()],
            description: None,
            memory: Some(64),
            cpus: None,
            args: vec!["sh".into(), "-c".into(), "echo hi".into()],
        }
    }

    #[test]
    fn flags_make_a_body() {
        let body = body(&spec(), "job").expect("a body");
        assert_eq!(
            Value::Object(body),
            json!({
                "container_image": "registry.example/team/busybox:1.36",
                "display_name": "busybox",
                "args": ["sh", "-c", "echo hi"],
                "parameters": {"A": "1", "B": "x=y"},
                "compute": {"max_memory": 64},
            })
        );
    }

    #[test]
    fn flags_override_a_yaml_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("job.yaml");
        std::fs::write(
            &path,
            "container_image: other\ndisplay_name: from file\nparameters:\n  C: '3'\n",
        )
        .expect("written");
        let mut spec = spec();
        spec.file = Some(path);
        spec.image = None;
        let body = body(&spec, "job").expect("a body");
        assert_eq!(body["container_image"], "other");
        assert_eq!(body["display_name"], "from file");
        assert_eq!(body["parameters"], json!({"A": "1", "B": "x=y", "C": "3"}));
    }

    #[test]
    fn what_the_flags_get_wrong_is_a_usage_error() {
        let mut no_image = spec();
        no_image.image = None;
        assert_eq!(body(&no_image, "job").expect_err("refused").exit_code(), 1);
        let mut bad_env = spec();
        bad_env.env = vec!["NOVALUE".into()];
        assert_eq!(body(&bad_env, "job").expect_err("refused").exit_code(), 1);
    }

    #[test]
    fn short_image_names_are_lengthened() {
        assert_eq!(name_from_image("sh", "job"), "sh-job");
        assert_eq!(name_from_image("a/bb@sha256:00", "service"), "bb-service");
    }
}
