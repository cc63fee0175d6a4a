//! The API over HTTP: one blocking client with the token, and the one place
//! an answer becomes a [`CliError`] ([`Api::check`]). The server's errors
//! are `application/problem+json` with a `message` (docs/api.md, Errors);
//! that message is what the user sees.

use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::error::{CliError, CliResult};

/// How long an ordinary request may take (a `wait=true` deploy, a listing).
/// Streams (logs) and uploads have no limit of their own.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What is escaped in one path segment: everything that would end it or
/// change its meaning (`/`, `?`, `#`, `%`, and `:`, which the API reads as
/// the start of a verb).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// `text` as one path segment.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// A file key as path segments: each part escaped, the `/` between kept.
pub fn key_path(key: &str) -> String {
    key.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// The API at one URL, as one token.
#[derive(Debug)]
pub struct Api {
    base: String,
    token: String,
    http: Client,
}

impl Api {
    /// A client for `url` (`http://host:port`, a trailing `/` allowed).
    pub fn new(url: &str, token: &str) -> CliResult<Self> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|error| CliError::usage(format!("{url:?} is not a URL: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::usage(format!(
                "{url:?} is not an http or https URL"
            )));
        }
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(None)
            .user_agent(concat!("contaxy-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| CliError::Unreachable(chain(&error)))?;
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    /// A request to `path` (which starts with `/`) with the token, not yet
    /// sent.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends `request`; a success answer as it is, any other as its error.
    pub fn send(&self, request: RequestBuilder) -> CliResult<Response> {
        let response = request
            .send()
            .map_err(|error| CliError::Unreachable(chain(&error)))?;
        Self::check(response)
    }

    /// `method path` with an optional JSON body; the answer's JSON (`Null`
    /// for an empty one, a 204).
    pub fn json(&self, method: Method, path: &str, body: Option<&Value>) -> CliResult<Value> {
        let mut request = self.request(method, path).timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        read_json(self.send(request)?)
    }

    /// `POST path` with `body`, as a submission that must happen once: it
    /// carries an `Idempotency-Key` made for this call, so when the API
    /// fails or cannot be reached (the request may or may not have been
    /// taken) it is sent again with the same key, up to [`SUBMIT_TRIES`]
    /// times, and the API answers a repeat with the first action instead
    /// of acting twice (docs/api.md).
    pub fn submit(&self, path: &str, body: &Value) -> CliResult<Value> {
        let key = uuid::Uuid::new_v4().to_string();
        let mut pause = Duration::from_secs(1);
        let mut tries = 1;
        loop {
            let request = self
                .request(Method::POST, path)
                .timeout(REQUEST_TIMEOUT)
                .header("Idempotency-Key", &key)
                .json(body);
            match self.send(request).and_then(read_json) {
                Err(error) if tries < SUBMIT_TRIES && is_outage(&error) => {
                    eprintln!("contaxy: {error}; sending again in {}s", pause.as_secs());
                    std::thread::sleep(pause);
                    pause *= 2;
                    tries += 1;
                }
                answer => return answer,
            }
        }
    }

    /// `GET path` as JSON.
    pub fn get(&self, path: &str) -> CliResult<Value> {
        self.json(Method::GET, path, None)
    }

    /// An answer that is not a success as the error it is: the server's
    /// `message` (and the fields it names) when its body has one.
    pub fn check(response: Response) -> CliResult<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let code = status.as_u16();
        let text = response.text().unwrap_or_default();
        let message = problem_message(&text).unwrap_or_else(|| {
            let text = text.trim();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_owned()
            } else {
                text.chars().take(500).collect()
            }
        });
        Err(match code {
            404 => CliError::NotFound(message),
            400..=499 => CliError::Refused {
                status: code,
                message,
            },
            _ => CliError::Server {
                status: code,
                message,
            },
        })
    }
}

/// How often a submission is sent at most (waiting 1, 2, 4, 8 s between).
pub const SUBMIT_TRIES: u32 = 5;

/// Whether `error` may pass by itself: the server failed, is away, or asks
/// us to slow down.
pub fn is_outage(error: &CliError) -> bool {
    matches!(
        error,
        CliError::Server { .. } | CliError::Unreachable(_) | CliError::Refused { status: 429, .. }
    )
}

/// A response body as JSON; `Null` when empty.
pub fn read_json(response: Response) -> CliResult<Value> {
    let bytes = response
        .bytes()
        .map_err(|error| CliError::Unreachable(chain(&error)))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|error| CliError::Server {
        status: 200,
        message: format!("the answer is not JSON: {error}"),
    })
}

/// The `message` of a problem body, with `details.fields` appended.
fn problem_message(text: &str) -> Option<String> {
    let body: Value = serde_json::from_str(text).ok()?;
    let mut message = body.get("message")?.as_str()?.to_owned();
    if let Some(fields) = body.pointer("/details/fields").and_then(Value::as_array) {
        for field in fields {
            let name = field.get("field").and_then(Value::as_str).unwrap_or("?");
            let says = field.get("message").and_then(Value::as_str).unwrap_or("");
            let line = format!("{name}: {says}");
            // A message about one field often names it already.
            if !message.contains(&line) {
                message.push_str(&format!("\n  {line}"));
            }
        }
    }
    Some(message)
}

/// An error with its causes, which reqwest keeps in `source()` (the
/// connection refused behind "error sending request").
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_escape_what_would_change_the_path() {
        assert_eq!(segment("a b/c:d?e#f%"), "a%20b%2Fc%3Ad%3Fe%23f%25");
        assert_eq!(key_path("dir/a:b.txt"), "dir/a%3Ab.txt");
    }

    #[test]
    fn a_field_the_message_names_already_is_not_repeated() {
        let text = r#"{"message":"invalid input: name: too short","details":{"fields":[{"field":"name","message":"too short"}]}}"#;
        assert_eq!(
            problem_message(text).as_deref(),
            Some("invalid input: name: too short")
        );
    }

    #[test]
    fn a_problem_body_gives_its_message_and_fields() {
        let text = r#"{"code":400,"message":"Invalid body.","details":{"fields":[{"field":"cron","message":"bad"}]}}"#;
        assert_eq!(
            problem_message(text).as_deref(),
            Some("Invalid body.\n  cron: bad")
        );
        assert_eq!(problem_message("<html>"), None);
    }
}
