//! Query-string values read as FastAPI reads them, so contaxy's clients
//! (which send Python's `str(True)`, `"True"`) are understood.
//!
//! Every boolean query parameter of every route is read with [`flag`]
//! (`#[serde(default, deserialize_with = "crate::query::flag")]`): `true`,
//! `false`, `1`, `0`, `yes`, `no`, `on`, `off`, in any case. Anything else
//! is a 400 naming the parameter.

use serde::{Deserialize, Deserializer, de};

/// The words FastAPI (pydantic 1) reads as `true` and as `false`.
const TRUE: [&str; 4] = ["true", "1", "yes", "on"];
const FALSE: [&str; 4] = ["false", "0", "no", "off"];

/// Reads a boolean query parameter the way FastAPI does.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_flag(&text).ok_or_else(|| {
        de::Error::custom(format!(
            "`{text}` is not a boolean (true/false, 1/0, yes/no, on/off)"
        ))
    })
}

/// `Some(value)` for a word FastAPI reads as a boolean, in any case.
pub fn parse_flag(text: &str) -> Option<bool> {
    let lower = text.trim().to_ascii_lowercase();
    if TRUE.contains(&lower.as_str()) {
        Some(true)
    } else if FALSE.contains(&lower.as_str()) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Query {
        #[serde(default, deserialize_with = "flag")]
        wait: bool,
    }

    fn read(query: &str) -> Result<bool, String> {
        let uri: axum::http::Uri = format!("/x?{query}").parse().expect("uri");
        axum::extract::Query::<Query>::try_from_uri(&uri)
            .map(|q| q.0.wait)
            .map_err(|e| e.body_text())
    }

    #[test]
    fn every_word_fastapi_reads_is_read() {
        for yes in ["true", "True", "TRUE", "1", "yes", "Yes", "on", "ON"] {
            assert_eq!(read(&format!("wait={yes}")), Ok(true), "{yes}");
        }
        for no in ["false", "False", "0", "no", "NO", "off", "Off"] {
            assert_eq!(read(&format!("wait={no}")), Ok(false), "{no}");
        }
        assert_eq!(read(""), Ok(false));
        let refused = read("wait=maybe").expect_err("not a boolean");
        assert!(refused.contains("maybe"), "{refused}");
        assert!(read("wait=").is_err());
    }
}
