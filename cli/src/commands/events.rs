//! `contaxy events`: the project's deployment status changes as they
//! happen, from the API's Server-Sent Events stream
//! (`GET /projects/{p}/events`; docs/api.md, Event stream). The API ends
//! each stream after a while (`CONTAXY_API_EVENT_STREAM_MAX_SECS`); this
//! reconnects with the last id it saw (`Last-Event-ID`), so no change is
//! missed or shown twice, until interrupted.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::ACCEPT;
use serde_json::Value;

use super::wait;
use crate::Context;
use crate::client::chain;
use crate::error::{CliError, CliResult};
use crate::output::cell;

/// How long to wait before reconnecting after a stream broke.
const RECONNECT: Duration = Duration::from_secs(2);

/// One event as the stream sends it.
#[derive(Debug, Default, PartialEq)]
struct Event {
    name: String,
    id: Option<String>,
    data: String,
}

/// Follows the stream from `after` (or from now); prints a line per status
/// change (`--json`: its data, one JSON object a line).
pub fn run(context: &Context, after: Option<i64>) -> CliResult<i32> {
    let path = format!("{}/events", context.project_path()?);
    let mut last_id = after.map(|after| after.to_string());
    let mut outage_since: Option<std::time::Instant> = None;
    loop {
        let mut request = context
            .api
            .request(Method::GET, &path)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        let result = context
            .api
            .send(request)
            .and_then(|response| read(response, context.json, &mut last_id));
        match result {
            Ok(()) => outage_since = None,
            Err(error) if wait::passing(&error) => {
                let since = *outage_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= Duration::from_secs(60) {
                    return Err(error);
                }
                eprintln!("contaxy: the event stream ended ({error}); reconnecting");
                std::thread::sleep(RECONNECT);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Reads one stream to its end, printing its events; `last_id` follows the
/// ids seen.
fn read(
    response: reqwest::blocking::Response,
    as_json: bool,
    last_id: &mut Option<String>,
) -> CliResult<()> {
    let mut event = Event::default();
    for line in BufReader::new(response).lines() {
        let line = line.map_err(|error| {
            CliError::Unreachable(format!("the event stream broke: {}", chain(&error)))
        })?;
        if line.is_empty() {
            let done = std::mem::take(&mut event);
            if let Some(id) = &done.id {
                *last_id = Some(id.clone());
            }
            if !show(&done, as_json) {
                return Ok(());
            }
            continue;
        }
        parse_line(&line, &mut event);
    }
    Ok(())
}

/// Adds one line of the stream to `event` (comments and unknown fields are
/// ignored, as the SSE specification says).
fn parse_line(line: &str, event: &mut Event) {
    let (field, value) = line.split_once(':').unwrap_or((line, ""));
    let value = value.strip_prefix(' ').unwrap_or(value);
    match field {
        "event" => value.clone_into(&mut event.name),
        "id" => event.id = Some(value.to_owned()),
        "data" => {
            if !event.data.is_empty() {
                event.data.push('\n');
            }
            event.data.push_str(value);
        }
        _ => {}
    }
}

/// Prints one event; false when standard output is closed.
fn show(event: &Event, as_json: bool) -> bool {
    let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    let text = match event.name.as_str() {
        "status" if as_json => data.to_string(),
        "status" => format!(
            "{}  {}  {}{}",
            cell(data.get("at")),
            cell(data.get("deployment_id")),
            cell(data.get("status")),
            match data.get("exit_code").and_then(Value::as_i64) {
                Some(code) => format!("  exit {code}"),
                None => String::new(),
            }
        ),
        "gap" => {
            eprintln!(
                "contaxy: changes after {} up to {} were pruned; `contaxy ps` shows where things stand",
                cell(data.get("after")),
                cell(data.get("first"))
            );
            return true;
        }
        _ => return true,
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_make_events() {
        let mut event = Event::default();
        for line in [
            "event: status",
            "id: 42",
            ": a comment",
            "data: {\"a\":",
            "data: 1}",
            "retry: 2000",
        ] {
            parse_line(line, &mut event);
        }
        assert_eq!(
            event,
            Event {
                name: "status".into(),
                id: Some("42".into()),
                data: "{\"a\":\n1}".into(),
            }
        );
    }
}
