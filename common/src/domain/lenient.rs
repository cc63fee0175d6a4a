//! Values of a deployment input read the way contaxy (pydantic 1) reads
//! them, so contaxy's clients are understood, with contaxy's cleaning:
//!
//! - [`whole_seconds`]: `idle_timeout` as an integer or a float (pydantic
//!   sends a `timedelta` as `9000.0`), rounded to whole seconds;
//! - [`metadata`]: values that are numbers or booleans become strings as
//!   Python writes them (`1`, `1.5`, `True`); keys starting with `ctxy.`
//!   are the platform's (the system labels) and are dropped, as contaxy
//!   drops them, so a client that sends back the metadata it read (system
//!   labels included) does not set them;
//! - [`parameters`]: `NVIDIA_VISIBLE_DEVICES` is dropped, as contaxy drops
//!   it: set by a user it would reach the container and, on a GPU host,
//!   escape the GPU limit.
//!
//! They apply wherever an input is read (an API body, a broker message, a
//! recorded row), so no door lets the dropped keys through.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

/// The prefix of the platform's own labels.
pub const SYSTEM_LABEL_PREFIX: &str = "ctxy.";

/// Parameters a user may not set (dropped).
pub const DROPPED_PARAMETERS: [&str; 1] = ["NVIDIA_VISIBLE_DEVICES"];

/// Reads an optional number of seconds: an integer, or a finite
/// non-negative float rounded to the nearest second.
pub fn whole_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Some(value) = Option::<Value>::deserialize(deserializer)? else {
        return Ok(None);
    };
    match &value {
        Value::Number(n) => {
            if let Some(whole) = n.as_u64() {
                return Ok(Some(whole));
            }
            match n.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 && f <= u64::MAX as f64 => {
                    Ok(Some(f.round() as u64))
                }
                _ => Err(de::Error::custom(format!(
                    "`{n}` is not a number of seconds (0 or more)"
                ))),
            }
        }
        other => Err(de::Error::custom(format!(
            "`{other}` is not a number of seconds"
        ))),
    }
}

/// Reads `metadata` (see the module documentation).
pub fn metadata<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, Value>>::deserialize(deserializer)?.unwrap_or_default();
    raw.into_iter()
        .filter(|(key, _)| !key.starts_with(SYSTEM_LABEL_PREFIX))
        .map(|(key, value)| {
            let text = python_str(&value).ok_or_else(|| {
                de::Error::custom(format!(
                    "metadata.{key}: `{value}` is not a string, number or boolean"
                ))
            })?;
            Ok((key, text))
        })
        .collect()
}

/// Reads `parameters` (see the module documentation).
pub fn parameters<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let mut map =
        Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default();
    for dropped in DROPPED_PARAMETERS {
        map.remove(dropped);
    }
    Ok(map)
}

/// A scalar as Python's `str()` writes it; `None` for null, lists and
/// objects.
fn python_str(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".to_owned()),
        Value::Bool(false) => Some("False".to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "whole_seconds")]
        idle_timeout: Option<u64>,
        #[serde(default, deserialize_with = "metadata")]
        metadata: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "parameters")]
        parameters: BTreeMap<String, String>,
    }

    fn read(value: Value) -> Result<Probe, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn seconds_may_be_floats() {
        assert_eq!(
            read(json!({"idle_timeout": 9000.0})).map(|p| p.idle_timeout),
            Ok(Some(9000))
        );
        assert_eq!(
            read(json!({"idle_timeout": 90})).map(|p| p.idle_timeout),
            Ok(Some(90))
        );
        assert_eq!(
            read(json!({"idle_timeout": 1.6})).map(|p| p.idle_timeout),
            Ok(Some(2))
        );
        assert_eq!(
            read(json!({"idle_timeout": null})).map(|p| p.idle_timeout),
            Ok(None)
        );
        assert_eq!(read(json!({})).map(|p| p.idle_timeout), Ok(None));
        assert!(read(json!({"idle_timeout": -1.0})).is_err());
        assert!(read(json!({"idle_timeout": "90"})).is_err());
    }

    #[test]
    fn metadata_values_become_strings_and_system_labels_are_dropped() {
        let probe = read(json!({"metadata": {
            "n": 1, "f": 1.5, "b": true, "s": "x", "ctxy.projectName": "other"
        }}))
        .expect("read");
        assert_eq!(
            probe.metadata,
            BTreeMap::from([
                ("b".to_owned(), "True".to_owned()),
                ("f".to_owned(), "1.5".to_owned()),
                ("n".to_owned(), "1".to_owned()),
                ("s".to_owned(), "x".to_owned()),
            ])
        );
        assert!(read(json!({"metadata": {"k": null}})).is_err());
        assert!(read(json!({"metadata": {"k": [1]}})).is_err());
    }

    #[test]
    fn a_user_cannot_choose_the_gpus_a_container_sees() {
        let probe =
            read(json!({"parameters": {"NVIDIA_VISIBLE_DEVICES": "all", "A": "1"}})).expect("read");
        assert_eq!(
            probe.parameters,
            BTreeMap::from([("A".to_owned(), "1".to_owned())])
        );
    }
}
