//! Reading a deployment's output.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

/// Which part of a deployment's output to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Only the last this many lines (all when absent).
    pub lines: Option<u32>,
    /// Only output written at or after this time. Docker counts in whole
    /// seconds, so output from earlier in that second is included.
    pub since: Option<DateTime<Utc>>,
    /// Keep the stream open and yield output as it is written.
    pub follow: bool,
    /// Prefix each line with the time it was written (RFC 3339).
    pub timestamps: bool,
}

/// Where a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of output as the runtime delivered it (often one line, not
/// always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// Standard output or standard error.
    pub source: LogSource,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

impl LogChunk {
    /// The bytes as text; invalid UTF-8 becomes U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}
