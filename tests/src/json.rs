//! Reading JSON in assertions.

use serde_json::Value;

/// `value[key]` as a string; panics naming the key and the value when it is
/// missing or not a string.
#[track_caller]
pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

/// GETs `url` and returns the status and the JSON body (or `Null`); `None`
/// when nothing answers.
pub async fn get_json(url: &str) -> Option<(u16, Value)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Some((status, body))
}
