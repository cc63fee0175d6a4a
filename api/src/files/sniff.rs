//! The content type of an upload whose part named none (or only
//! `application/octet-stream`, which clients send when they do not know):
//! read from the first bytes. A few magic numbers of common formats, then
//! UTF-8 text; anything else stays `application/octet-stream`.

/// The type of bytes nothing more is known of.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Formats known by their first bytes: (offset, magic, type).
const MAGIC: &[(usize, &[u8], &str)] = &[
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"(\xb5/\xfd", "application/zstd"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (257, b"ustar", "application/x-tar"),
    (0, b"PAR1", "application/vnd.apache.parquet"),
    (0, b"\x89HDF\r\n\x1a\n", "application/x-hdf5"),
    (0, b"\x93NUMPY", "application/x-npy"),
    (0, b"\x7fELF", "application/x-executable"),
];

/// How many leading bytes are looked at for text.
const TEXT_WINDOW: usize = 1024;

/// The content type to store: the one the client declared, unless it is
/// missing or only `application/octet-stream`; then the one the first
/// bytes show.
pub fn content_type(declared: Option<&str>, first_bytes: &[u8]) -> String {
    match declared.map(str::trim) {
        Some(declared) if !declared.is_empty() && !declared.eq_ignore_ascii_case(OCTET_STREAM) => {
            declared.to_owned()
        }
        _ => sniff(first_bytes).to_owned(),
    }
}

/// The type the first bytes of a file show.
pub fn sniff(bytes: &[u8]) -> &'static str {
    for (offset, magic, kind) in MAGIC {
        if bytes.get(*offset..offset + magic.len()) == Some(magic) {
            return kind;
        }
    }
    if looks_like_text(bytes) {
        "text/plain; charset=utf-8"
    } else {
        OCTET_STREAM
    }
}

/// UTF-8 without control characters other than whitespace (a window may
/// end inside a character, which does not count against it).
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let window = &bytes[..bytes.len().min(TEXT_WINDOW)];
    let text = match std::str::from_utf8(window) {
        Ok(text) => text,
        Err(error) if error.error_len().is_none() => {
            // Cut inside a character at the window's end.
            std::str::from_utf8(&window[..error.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_type_wins_unless_it_says_nothing() {
        assert_eq!(
            content_type(Some("text/csv"), b"\x89PNG\r\n\x1a\n"),
            "text/csv"
        );
        assert_eq!(
            content_type(Some("application/octet-stream"), b"\x89PNG\r\n\x1a\n...."),
            "image/png"
        );
        assert_eq!(content_type(None, b"%PDF-1.7"), "application/pdf");
        assert_eq!(
            content_type(Some(" "), b"hello\nworld"),
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn bytes_are_sniffed() {
        let mut tar = vec![0_u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), "application/x-tar");
        assert_eq!(sniff(b"\x1f\x8b\x08"), "application/gzip");
        assert_eq!(sniff("grüße\n".as_bytes()), "text/plain; charset=utf-8");
        // A character cut at the window's end is still text.
        let mut long = "a".repeat(TEXT_WINDOW - 1).into_bytes();
        long.extend_from_slice("é".as_bytes());
        assert_eq!(sniff(&long), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\x00\x01\x02"), OCTET_STREAM);
        assert_eq!(sniff(b""), OCTET_STREAM);
    }
}
