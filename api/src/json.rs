//! The JSON body extractor of every route, [`JsonBody`].
//!
//! axum's `Json` answers a body of the wrong shape with 422 and a sentence;
//! a client then has to parse the sentence to learn which field is wrong.
//! Here every body that is not valid JSON or not of the expected shape
//! (unknown field, missing field, wrong type, a number out of range, `NaN`)
//! is a 400 naming the field in `details.fields`, exactly as the validation
//! that follows names the fields it refuses.
//!
//! A body without a `Content-Type` is read as JSON: contaxy's own clients
//! send their JSON bodies so (FastAPI reads them), and nothing else could
//! be meant. A body with an explicit type other than JSON is a 415.
//!
//! A string holding U+0000 is refused the same way, whatever the field:
//! PostgreSQL can store it neither in `text` nor in `jsonb`, so it would
//! otherwise fail deep inside a query, as a 500.

use axum::body::Bytes;
use axum::extract::rejection::MissingJsonContentType;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use contaxy_common::domain::validation::FieldErrors;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !may_be_json(request.headers()) {
            return Err(MissingJsonContentType::default().into_response());
        }
        // Too large: the body limit's 413, shaped by `error::json_errors`.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        from_slice(&bytes)
            .map(JsonBody)
            .map_err(|errors| ApiError::InvalidFields(errors).into_response())
    }
}

/// A body that is read as JSON: one with a JSON content type ([`is_json`])
/// or with none at all (contaxy's clients send JSON without one).
pub fn may_be_json(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::CONTENT_TYPE) || is_json(headers)
}

/// `application/json` or `application/<something>+json`, as axum's `Json`
/// accepts.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Deserializes a JSON body, naming the field of the first problem.
///
/// A number with a zero fraction (`49.0`) is an integer to JSON Schema, so
/// to the OpenAPI document; serde's integers refuse it. When the body does
/// not fit as sent, such numbers are read as integers and the body is tried
/// once more; if it still does not fit, the first problem is reported.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, FieldErrors> {
    let value = match from_slice_as_sent(body) {
        Ok(value) => value,
        Err(errors) => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|mut value| whole_floats_to_integers(&mut value).then_some(value))
            .and_then(|value| serde_json::from_value(value).ok())
            .ok_or(errors)?,
    };
    // JSON can only spell U+0000 as this escape; without it there is none.
    if body.windows(6).any(|w| w == br"\u0000") {
        let parsed: serde_json::Value =
            serde_json::from_slice(body).map_err(|error| field_error(".", &error.to_string()))?;
        refuse_nul(&parsed)?;
    }
    Ok(value)
}

fn from_slice_as_sent<T: DeserializeOwned>(body: &[u8]) -> Result<T, FieldErrors> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        field_error(&path, &error.into_inner().to_string())
    })?;
    deserializer
        .end()
        .map_err(|error| field_error(".", &error.to_string()))?;
    Ok(value)
}

/// Turns every number with a zero fraction that fits a 64-bit integer into
/// that integer; returns whether it changed any.
fn whole_floats_to_integers(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(number) if number.is_f64() => {
            let Some(float) = number.as_f64().filter(|f| f.fract() == 0.0) else {
                return false;
            };
            // 2^64 and -2^63 are exact as f64; the casts below are in range.
            let integer = if (0.0..18_446_744_073_709_551_616.0).contains(&float) {
                serde_json::Number::from(float as u64)
            } else if (-9_223_372_036_854_775_808.0..0.0).contains(&float) {
                serde_json::Number::from(float as i64)
            } else {
                return false;
            };
            *number = integer;
            true
        }
        serde_json::Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= whole_floats_to_integers(item);
            }
            changed
        }
        serde_json::Value::Object(map) => {
            let mut changed = false;
            for item in map.values_mut() {
                changed |= whole_floats_to_integers(item);
            }
            changed
        }
        _ => false,
    }
}

/// Refuses a value holding U+0000 in a string or a key, naming where.
pub fn refuse_nul(value: &serde_json::Value) -> Result<(), FieldErrors> {
    fn find(value: &serde_json::Value, path: &str) -> Option<String> {
        let at = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            serde_json::Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            }),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| find(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
                if key.contains('\0') {
                    Some(at(&key.replace('\0', "\\u0000")))
                } else {
                    find(item, &at(key))
                }
            }),
            _ => None,
        }
    }
    match find(value, "") {
        Some(field) => {
            let mut errors = FieldErrors::default();
            errors.push(&field, "must not contain the NUL character (U+0000)");
            Err(errors)
        }
        None => Ok(()),
    }
}

/// Deserializes a JSON value (a merged update, say), naming the field of
/// the first problem; whole floats are integers, as in [`from_slice`].
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldErrors> {
    let read = |value: serde_json::Value| -> Result<T, FieldErrors> {
        serde_path_to_error::deserialize(value).map_err(
            |error: serde_path_to_error::Error<serde_json::Error>| {
                let path = error.path().to_string();
                field_error(&path, &error.into_inner().to_string())
            },
        )
    };
    let mut whole = value.clone();
    read(value).or_else(|errors| {
        if whole_floats_to_integers(&mut whole) {
            read(whole).map_err(|_| errors)
        } else {
            Err(errors)
        }
    })
}

/// The problem at `path` (`.` is the body itself). A missing field is
/// reported at the object that lacks it, with the field's name in
/// backquotes; that name completes the path. (An unknown field's path
/// already ends with its name.)
fn field_error(path: &str, message: &str) -> FieldErrors {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let field = match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    };
    let mut errors = FieldErrors::default();
    errors.push(&field, message);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Inner,
        #[serde(default)]
        list: Vec<u16>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        cpus: Option<f64>,
        memory: Option<u64>,
    }

    fn field_of(body: &str) -> String {
        let errors = from_slice::<Outer>(body.as_bytes()).expect_err("refused");
        assert_eq!(errors.0.len(), 1, "{errors:?}");
        errors.0[0].field.clone()
    }

    #[test]
    fn every_shape_error_names_its_field() {
        assert_eq!(field_of(r#"{"name": "a", "surprise": 1}"#), "surprise");
        assert_eq!(field_of(r#"{"inner": {}}"#), "name");
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"cpus": 1, "memory": 2, "extra": 0}}"#),
            "inner.extra"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"turbo": 1}}"#),
            "inner.turbo"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"memory": -5}}"#),
            "inner.memory"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"cpus": NaN}}"#),
            "inner.cpus"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"cpus": 1e999}}"#),
            "inner.cpus"
        );
        assert_eq!(field_of(r#"{"name": "a", "list": [1, 70000]}"#), "list[1]");
        assert_eq!(field_of(r#"{"name": 3}"#), "name");
        assert_eq!(field_of(r#""text""#), "body");
        assert_eq!(field_of(r#"{"name": "a"} trailing"#), "body");
        assert_eq!(field_of(""), "body");
        assert_eq!(field_of(r#"{"name": "a\u0000b"}"#), "name");
    }

    #[test]
    fn whole_floats_are_integers_and_other_floats_are_not() {
        let outer: Outer =
            from_slice(br#"{"name": "a", "inner": {"memory": 49.0, "cpus": 2.0}, "list": [1.0]}"#)
                .expect("whole floats read as integers");
        assert_eq!(
            (outer.inner.memory, outer.inner.cpus, outer.list),
            (Some(49), Some(2.0), vec![1])
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"memory": 49.5}}"#),
            "inner.memory"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"memory": -1.0}}"#),
            "inner.memory"
        );
    }

    #[test]
    fn nul_is_refused_wherever_it_is() {
        let value = serde_json::json!({"a": [{"b": "ok"}, {"c": "no\u{0}"}]});
        let errors = refuse_nul(&value).expect_err("refused");
        assert_eq!(errors.0[0].field, "a[1].c");
        assert!(refuse_nul(&serde_json::json!({"a": "\\u0000 spelled out"})).is_ok());
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("header"));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("Application/JSON"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!is_json(&HeaderMap::new()));
        assert!(may_be_json(&HeaderMap::new()));
        let mut text = HeaderMap::new();
        text.insert(header::CONTENT_TYPE, "text/plain".parse().expect("header"));
        assert!(!may_be_json(&text));
    }
}
