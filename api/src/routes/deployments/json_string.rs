//! A byte stream sent as one JSON string, piece by piece, so a deployment's
//! whole output is never held at once: contaxy's clients read logs as one
//! JSON string, and a long output must not cost the API its size in memory.
//!
//! The output is not always UTF-8: like `String::from_utf8_lossy` over the
//! whole of it, each invalid sequence becomes U+FFFD. A character cut
//! between two pieces is carried over to the next piece, not replaced.

/// Turns pieces of output into the escaped inside of one JSON string.
#[derive(Debug, Default)]
pub struct JsonStringEncoder {
    /// The start of a character cut at the end of the last piece.
    carried: Vec<u8>,
}

impl JsonStringEncoder {
    /// The string's opening quote.
    pub const OPEN: &'static [u8] = b"\"";

    /// The escaped text of `piece` (and what was carried), without an
    /// incomplete character at its end, which waits for the next piece.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        self.carried.extend_from_slice(piece);
        let mut text = String::new();
        let mut rest: &[u8] = &self.carried;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        Some(len) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[len..];
                        }
                        // Cut short: perhaps completed by the next piece.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.carried = rest.to_vec();
        escaped(&text)
    }

    /// What was carried (replaced, as the output ended inside a
    /// character) and the closing quote.
    pub fn finish(self) -> Vec<u8> {
        let mut out = escaped(&String::from_utf8_lossy(&self.carried));
        out.push(b'"');
        out
    }
}

/// `text` escaped for the inside of a JSON string.
fn escaped(text: &str) -> Vec<u8> {
    let quoted = serde_json::to_vec(text).unwrap_or_default();
    match quoted.as_slice() {
        [b'"', inner @ .., b'"'] => inner.to_vec(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON string `pieces` make, split as given.
    fn encoded(pieces: &[&[u8]]) -> String {
        let mut encoder = JsonStringEncoder::default();
        let mut out = JsonStringEncoder::OPEN.to_vec();
        for piece in pieces {
            out.extend(encoder.push(piece));
        }
        out.extend(encoder.finish());
        let value: String = serde_json::from_slice(&out).expect("one JSON string");
        value
    }

    #[test]
    fn the_same_string_as_the_whole_output_read_lossily() {
        let outputs: [&[u8]; 5] = [
            b"plain\nlines \"quoted\" \\ and \t tabs\n",
            "é ü 日本 🦀\n".as_bytes(),
            b"bad \xff byte and \xe6\x97 cut char\n",
            b"ends inside a char \xf0\x9f",
            b"",
        ];
        for output in outputs {
            let whole = String::from_utf8_lossy(output).into_owned();
            assert_eq!(encoded(&[output]), whole);
            // Every split point, and one byte at a time.
            for at in 0..=output.len() {
                let (a, b) = output.split_at(at);
                assert_eq!(encoded(&[a, b]), whole, "split at {at} of {output:?}");
            }
            let bytes: Vec<&[u8]> = output.chunks(1).collect();
            assert_eq!(encoded(&bytes), whole);
        }
    }
}
