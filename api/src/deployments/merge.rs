//! `PATCH /projects/{project_id}/services/{service_id}`: a change applied to
//! a recorded input.

use std::collections::BTreeMap;

use contaxy_common::domain::deployment::DeploymentInput;
use serde_json::{Value, json};

use crate::error::ApiError;

/// Merges a PATCH into an input: absent fields stay, present ones replace;
/// in `parameters` and `metadata`, keys merge one by one and `null` removes
/// a key. The result is read as an input again, so a field of the wrong
/// shape is a 400 naming it.
pub fn merge(input: DeploymentInput, patch: Value) -> Result<DeploymentInput, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::Invalid(
            "The body must be a JSON object.".to_owned(),
        ));
    };
    let base = serde_json::to_value(&input).map_err(|e| ApiError::Internal(e.into()))?;
    let Value::Object(mut base) = base else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a deployment input did not serialize to a JSON object"
        )));
    };
    for (key, value) in patch {
        match (key.as_str(), value) {
            ("parameters" | "metadata", Value::Object(changes)) => {
                let target = base.entry(key.clone()).or_insert_with(|| json!({}));
                let mut map: BTreeMap<String, Value> =
                    serde_json::from_value(target.clone()).unwrap_or_default();
                for (k, v) in changes {
                    if v.is_null() {
                        map.remove(&k);
                    } else {
                        map.insert(k, v);
                    }
                }
                *target = json!(map);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    Ok(crate::json::from_value(Value::Object(base))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_merge_key_by_key_and_other_fields_replace() {
        let input: DeploymentInput = serde_json::from_value(json!({
            "container_image": "nginx:1",
            "display_name": "web",
            "parameters": {"A": "1", "B": "2"},
            "endpoints": ["80"],
        }))
        .expect("input");
        let merged = merge(
            input,
            json!({"parameters": {"A": null, "C": "3"}, "endpoints": ["8080"], "description": "d"}),
        )
        .expect("merged");
        assert_eq!(
            merged.parameters.clone().into_iter().collect::<Vec<_>>(),
            [
                ("B".to_owned(), "2".to_owned()),
                ("C".to_owned(), "3".to_owned())
            ]
        );
        assert_eq!(merged.endpoints, ["8080"]);
        assert_eq!(merged.description.as_deref(), Some("d"));
        assert_eq!(merged.container_image, "nginx:1");
        let whole = merge(merged, json!({"idle_timeout": 60.0})).expect("a whole float");
        assert_eq!(whole.idle_timeout, Some(60));
    }

    #[test]
    fn a_patch_that_is_not_an_object_or_of_the_wrong_shape_is_refused() {
        let input = DeploymentInput::default();
        assert!(matches!(
            merge(input.clone(), json!([1])),
            Err(ApiError::Invalid(_))
        ));
        assert!(matches!(
            merge(input, json!({"container_image": 3})),
            Err(ApiError::InvalidFields(errors)) if errors.has("container_image")
        ));
    }
}
