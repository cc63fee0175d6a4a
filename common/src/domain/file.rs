//! Files: a project's objects in S3-compatible storage, named by a
//! [`FileKey`].

use std::fmt;

/// Longest key, in characters.
pub const MAX_KEY_CHARS: usize = 1024;

/// The key of a file within its project: 1–1024 characters, `/`-separated
/// segments, none of them `..`. Parsed once at the edge (a path, a message)
/// and normalised: `.` and empty segments are dropped (`a//./b` is `a/b`), so
/// two spellings of one file are one key. A key never starts with `/` and is
/// always relative to its project's storage, so no key reaches another
/// project's files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey(String);

/// Which rule a key broke. The message names the rule, for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFileKey {
    /// Nothing left after normalising.
    #[error("a file key must not be empty")]
    Empty,
    /// Over [`MAX_KEY_CHARS`].
    #[error("a file key must be at most 1024 characters long")]
    TooLong,
    /// Starts with `/`.
    #[error("a file key must not start with '/'")]
    LeadingSlash,
    /// Holds a carriage return or a line feed.
    #[error("a file key must not contain a line break (CR or LF)")]
    LineBreak,
    /// Holds another control character (NUL, tab, …).
    #[error("a file key must not contain control characters")]
    ControlCharacter,
    /// Has a `..` segment.
    #[error("a file key must not contain a '..' segment")]
    ParentSegment,
    /// Starts with [`RESERVED_PREFIX`], where the platform keeps its own
    /// objects (archived logs).
    #[error("a file key must not start with '.contaxy/', which the platform keeps for itself")]
    Reserved,
}

/// Where the platform keeps its own objects in a project's storage
/// (archived logs): no file key starts with it.
pub const RESERVED_PREFIX: &str = ".contaxy/";

impl FileKey {
    /// Checks and normalises a key.
    pub fn parse(raw: &str) -> Result<Self, InvalidFileKey> {
        if raw.starts_with('/') {
            return Err(InvalidFileKey::LeadingSlash);
        }
        if raw.contains(['\r', '\n']) {
            return Err(InvalidFileKey::LineBreak);
        }
        if raw.chars().any(char::is_control) {
            return Err(InvalidFileKey::ControlCharacter);
        }
        let mut segments = Vec::new();
        for segment in raw.split('/') {
            match segment {
                "" | "." => {}
                ".." => return Err(InvalidFileKey::ParentSegment),
                other => segments.push(other),
            }
        }
        let mut key = segments.join("/");
        // A trailing slash names a folder marker; keep it so it stays one.
        if raw.ends_with('/') && !key.is_empty() {
            key.push('/');
        }
        if key.is_empty() {
            return Err(InvalidFileKey::Empty);
        }
        if key.chars().count() > MAX_KEY_CHARS {
            return Err(InvalidFileKey::TooLong);
        }
        if key.starts_with(RESERVED_PREFIX) || key == RESERVED_PREFIX.trim_end_matches('/') {
            return Err(InvalidFileKey::Reserved);
        }
        Ok(Self(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment (the name a download is saved as).
    pub fn file_name(&self) -> &str {
        let trimmed = self.0.trim_end_matches('/');
        trimmed.rsplit('/').next().unwrap_or(trimmed)
    }

    /// The extension of the file name, without the dot, if it has one.
    pub fn extension(&self) -> Option<&str> {
        let name = self.file_name();
        match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
            _ => None,
        }
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for FileKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// On the wire (action payloads) a key is its text, checked when read: a
// message naming a bad key is refused at the edge, naming the rule.
impl serde::Serialize for FileKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for FileKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(|rule| serde::de::Error::custom(format!("key {raw:?}: {rule}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalised() {
        let cases = [
            ("a.txt", "a.txt"),
            ("dir/a.txt", "dir/a.txt"),
            ("dir//a.txt", "dir/a.txt"),
            ("./dir/./a.txt", "dir/a.txt"),
            ("dir/sub/", "dir/sub/"),
            ("a..b/c", "a..b/c"),
            ("ünïcode/файл", "ünïcode/файл"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                FileKey::parse(raw).map(|k| k.0).as_deref(),
                Ok(want),
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_keys_name_the_rule() {
        let long = "a".repeat(MAX_KEY_CHARS + 1);
        let cases = [
            ("", InvalidFileKey::Empty),
            ("./", InvalidFileKey::Empty),
            ("/etc/passwd", InvalidFileKey::LeadingSlash),
            ("../x", InvalidFileKey::ParentSegment),
            ("a/../../x", InvalidFileKey::ParentSegment),
            ("a/..", InvalidFileKey::ParentSegment),
            ("a\nb", InvalidFileKey::LineBreak),
            ("a\rb", InvalidFileKey::LineBreak),
            ("a\0b", InvalidFileKey::ControlCharacter),
            (long.as_str(), InvalidFileKey::TooLong),
            (".contaxy/logs/x.log", InvalidFileKey::Reserved),
            ("./.contaxy//logs/x.log", InvalidFileKey::Reserved),
        ];
        for (raw, want) in cases {
            assert_eq!(FileKey::parse(raw), Err(want), "{raw:?}");
        }
        assert!(FileKey::parse(&"a".repeat(MAX_KEY_CHARS)).is_ok());
    }

    #[test]
    fn keys_on_the_wire_are_checked_when_read() {
        let key: FileKey = serde_json::from_str("\"dir//a.txt\"").expect("valid");
        assert_eq!(key.as_str(), "dir/a.txt");
        assert_eq!(serde_json::to_string(&key).expect("json"), "\"dir/a.txt\"");
        let refused = serde_json::from_str::<FileKey>("\"../x\"").expect_err("refused");
        assert!(refused.to_string().contains("'..' segment"), "{refused}");
    }

    #[test]
    fn names_and_extensions() {
        let key = FileKey::parse("data/run.tar.gz").expect("valid");
        assert_eq!(key.file_name(), "run.tar.gz");
        assert_eq!(key.extension(), Some("gz"));
        assert_eq!(FileKey::parse(".env").expect("valid").extension(), None);
        assert_eq!(
            FileKey::parse("dir/sub/").expect("valid").file_name(),
            "sub"
        );
    }
}
