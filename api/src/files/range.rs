//! HTTP `Range` for downloads (RFC 9110 §14): one byte range, so that a
//! client can resume. A header this server does not serve (another unit,
//! several ranges, bad syntax) is ignored and the whole file is sent, as
//! the RFC allows; a range that starts past the end is a 416.

/// What a download sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selected {
    /// The whole file (200).
    Whole,
    /// Bytes `start..=end` (206).
    Part {
        /// First byte.
        start: u64,
        /// Last byte, included.
        end: u64,
    },
    /// Nothing of the file (416).
    Unsatisfiable,
}

impl Selected {
    /// The same range in the form S3 takes.
    pub fn to_header(self) -> Option<String> {
        match self {
            Self::Part { start, end } => Some(format!("bytes={start}-{end}")),
            Self::Whole | Self::Unsatisfiable => None,
        }
    }
}

/// What `header` selects of a file of `size` bytes.
pub fn select(header: Option<&str>, size: u64) -> Selected {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Selected::Whole;
    };
    if spec.contains(',') {
        return Selected::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Selected::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-n`: the last n bytes.
        return match number(last) {
            None => Selected::Whole,
            Some(0) => Selected::Unsatisfiable,
            Some(_) if size == 0 => Selected::Unsatisfiable,
            Some(suffix) => Selected::Part {
                start: size - suffix.min(size),
                end: size - 1,
            },
        };
    }
    let Some(start) = number(first) else {
        return Selected::Whole;
    };
    let end = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(end) if end >= start => Some(end),
            _ => return Selected::Whole,
        }
    };
    if start >= size {
        return Selected::Unsatisfiable;
    }
    Selected::Part {
        start,
        end: end.map_or(size - 1, |end| end.min(size - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Selected::{Part, Unsatisfiable, Whole};

    #[test]
    fn ranges_are_selected_as_the_rfc_says() {
        let cases = [
            (None, Whole),
            (Some("bytes=0-9"), Part { start: 0, end: 9 }),
            (Some("bytes=10-"), Part { start: 10, end: 99 }),
            (Some("bytes=90-200"), Part { start: 90, end: 99 }),
            (Some("bytes=-10"), Part { start: 90, end: 99 }),
            (Some("bytes=-500"), Part { start: 0, end: 99 }),
            (Some("bytes=99-99"), Part { start: 99, end: 99 }),
            (Some("bytes=100-"), Unsatisfiable),
            (Some("bytes=150-160"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            // Ignored: the whole file is sent.
            (Some("bytes=9-1"), Whole),
            (Some("bytes=0-1,5-6"), Whole),
            (Some("items=0-1"), Whole),
            (Some("bytes=a-b"), Whole),
            (Some("bytes=-"), Whole),
            (Some("bytes=5"), Whole),
            (Some("bytes=+1-2"), Whole),
        ];
        for (header, want) in cases {
            assert_eq!(select(header, 100), want, "{header:?}");
        }
        assert_eq!(select(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(select(Some("bytes=-1"), 0), Unsatisfiable);
    }

    #[test]
    fn a_part_becomes_an_s3_range() {
        assert_eq!(
            Part { start: 3, end: 7 }.to_header().as_deref(),
            Some("bytes=3-7")
        );
        assert_eq!(Whole.to_header(), None);
    }
}
