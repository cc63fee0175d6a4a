//! A file's metadata as S3 keeps it: the object's user metadata
//! (`x-amz-meta-*`), so that no database row has to follow every object
//! version.
//!
//! Two kinds live there side by side:
//!
//! - the client's own key-value pairs (`metadata` in the File JSON, the
//!   `x-amz-meta-*` headers of an upload), stored under their own names;
//! - this server's fields (`display_name`, `description`, `icon`,
//!   `disabled`, `created_by`, `updated_by`) under names starting with
//!   [`RESERVED_PREFIX`], percent-encoded because S3 sends metadata as
//!   HTTP headers, which carry only visible ASCII.
//!
//! A client's names follow [`check_name`] and its values must be visible
//! ASCII (they travel as header values); the client may not use the
//! reserved prefix. S3 allows 2 KB of user metadata an object
//! ([`MAX_METADATA_BYTES`]); more is a 400 here, before S3 refuses it.

use std::collections::{BTreeMap, HashMap};

use axum::http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::ApiError;

/// Names of this server's own fields start with this.
pub const RESERVED_PREFIX: &str = "contaxy-";
/// The header prefix of metadata on upload.
pub const HEADER_PREFIX: &str = "x-amz-meta-";
/// Most bytes of user metadata (names and values) S3 stores for an object.
pub const MAX_METADATA_BYTES: usize = 2048;
/// Longest metadata name.
const MAX_NAME_CHARS: usize = 128;

const DISPLAY_NAME: &str = "contaxy-display-name";
const DESCRIPTION: &str = "contaxy-description";
const ICON: &str = "contaxy-icon";
const DISABLED: &str = "contaxy-disabled";
const CREATED_BY: &str = "contaxy-created-by";
const UPDATED_BY: &str = "contaxy-updated-by";

/// Characters kept as they are in this server's fields.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b' ')
    .remove(b'/')
    .remove(b':');

/// Everything known of a file besides its bytes and what S3 itself says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMetadata {
    /// A name for people.
    pub display_name: Option<String>,
    /// A short description.
    pub description: String,
    /// An icon identifier or URL.
    pub icon: Option<String>,
    /// Whether the file is marked disabled.
    pub disabled: bool,
    /// Who uploaded this version.
    pub created_by: Option<String>,
    /// Who last changed its metadata.
    pub updated_by: Option<String>,
    /// The client's own key-value pairs.
    pub user: BTreeMap<String, String>,
}

/// A metadata name: 1–128 letters, digits, `-`, `_` or `.`, not starting
/// with the reserved prefix. S3 keeps names in lower case; so does this.
pub fn check_name(name: &str) -> Result<String, ApiError> {
    let lower = name.to_ascii_lowercase();
    if lower.is_empty()
        || lower.len() > MAX_NAME_CHARS
        || !lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ApiError::Invalid(format!(
            "Metadata name `{name}` is invalid: use 1 to {MAX_NAME_CHARS} letters, digits, '-', '_' or '.'."
        )));
    }
    if lower.starts_with(RESERVED_PREFIX) {
        return Err(ApiError::Invalid(format!(
            "Metadata name `{name}` is invalid: names starting with `{RESERVED_PREFIX}` are reserved for the server."
        )));
    }
    Ok(lower)
}

/// A metadata value: visible ASCII and spaces (S3 sends it as a header).
pub fn check_value(name: &str, value: &str) -> Result<(), ApiError> {
    if value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "The value of metadata `{name}` is invalid: only printable ASCII characters are allowed (S3 stores metadata as HTTP headers)."
        )))
    }
}

/// The client's metadata from an upload's `x-amz-meta-*` headers.
pub fn from_headers(headers: &HeaderMap) -> Result<BTreeMap<String, String>, ApiError> {
    let mut user = BTreeMap::new();
    for (name, value) in headers {
        let Some(meta) = name.as_str().strip_prefix(HEADER_PREFIX) else {
            continue;
        };
        let name = check_name(meta)?;
        let value = value.to_str().map_err(|_| {
            ApiError::Invalid(format!(
                "The value of metadata `{name}` is invalid: only printable ASCII characters are allowed."
            ))
        })?;
        check_value(&name, value)?;
        user.insert(name, value.to_owned());
    }
    Ok(user)
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, KEEP).to_string()
}

fn decode(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

impl FileMetadata {
    /// Reads what S3 returned for an object.
    pub fn from_s3(stored: &HashMap<String, String>) -> Self {
        let mut metadata = Self::default();
        for (name, value) in stored {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                DISPLAY_NAME => metadata.display_name = Some(decode(value)),
                DESCRIPTION => metadata.description = decode(value),
                ICON => metadata.icon = Some(decode(value)),
                DISABLED => metadata.disabled = value == "true",
                CREATED_BY => metadata.created_by = Some(decode(value)),
                UPDATED_BY => metadata.updated_by = Some(decode(value)),
                // Another reserved name (a later version's field): not the client's.
                other if other.starts_with(RESERVED_PREFIX) => {}
                _ => {
                    metadata.user.insert(name, value.clone());
                }
            }
        }
        metadata
    }

    /// What S3 stores; refused when it exceeds S3's 2 KB.
    pub fn to_s3(&self) -> Result<HashMap<String, String>, ApiError> {
        let mut stored: HashMap<String, String> = self
            .user
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let fields = [
            (DISPLAY_NAME, self.display_name.as_deref()),
            (
                DESCRIPTION,
                Some(self.description.as_str()).filter(|d| !d.is_empty()),
            ),
            (ICON, self.icon.as_deref()),
            (DISABLED, self.disabled.then_some("true")),
            (CREATED_BY, self.created_by.as_deref()),
            (UPDATED_BY, self.updated_by.as_deref()),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                stored.insert(name.to_owned(), encode(value));
            }
        }
        let bytes: usize = stored.iter().map(|(n, v)| n.len() + v.len()).sum();
        if bytes > MAX_METADATA_BYTES {
            return Err(ApiError::Invalid(format!(
                "The file's metadata is too large: {bytes} bytes where S3 stores at most {MAX_METADATA_BYTES} (names and values, display name and description included)."
            )));
        }
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn metadata_round_trips_through_s3_names() {
        let metadata = FileMetadata {
            display_name: Some("Grüße: Bericht 100%".to_owned()),
            description: "line one\nline two".to_owned(),
            icon: None,
            disabled: true,
            created_by: Some("users/alice".to_owned()),
            updated_by: None,
            user: BTreeMap::from([("origin".to_owned(), "lab 3".to_owned())]),
        };
        let stored = metadata.to_s3().expect("fits");
        assert!(
            stored
                .values()
                .all(|v| v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))
        );
        assert_eq!(stored["origin"], "lab 3");
        assert_eq!(FileMetadata::from_s3(&stored), metadata);
    }

    #[test]
    fn names_and_values_are_checked() {
        assert_eq!(check_name("Run-ID_2.x").expect("valid"), "run-id_2.x");
        for bad in ["", "a b", "ä", "contaxy-md5", "CONTAXY-x", &"a".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_value("n", "plain text 1+1=2").is_ok());
        assert!(check_value("n", "tab\there").is_err());
        assert!(check_value("n", "é").is_err());
    }

    #[test]
    fn headers_become_metadata_and_reserved_names_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-meta-origin", HeaderValue::from_static("lab"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let user = from_headers(&headers).expect("valid");
        assert_eq!(
            user,
            BTreeMap::from([("origin".to_owned(), "lab".to_owned())])
        );
        headers.insert(
            "x-amz-meta-contaxy-display-name",
            HeaderValue::from_static("x"),
        );
        assert!(from_headers(&headers).is_err());
    }

    #[test]
    fn too_much_metadata_is_refused() {
        let metadata = FileMetadata {
            user: BTreeMap::from([("big".to_owned(), "x".repeat(MAX_METADATA_BYTES))]),
            ..FileMetadata::default()
        };
        assert!(metadata.to_s3().is_err());
    }
}
