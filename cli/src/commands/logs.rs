//! `contaxy logs [-f]`: a deployment's output as the API streams it
//! (`GET …/{id}/logs` as `text/plain`), copied to standard output as it
//! comes.

use std::io::{Read, Write};

use reqwest::Method;
use reqwest::header::ACCEPT;

use super::ok;
use crate::Context;
use crate::args::LogsArgs;
use crate::client::{Api, chain};
use crate::error::{CliError, CliResult};
use crate::target::Target;

/// What part of the output to ask for.
#[derive(Debug, Default)]
pub struct LogsQuery<'a> {
    pub follow: bool,
    pub lines: Option<u32>,
    pub since: Option<&'a str>,
}

pub fn run(context: &Context, args: &LogsArgs) -> CliResult<i32> {
    let target = context.target(&args.target.target)?;
    copy(
        &context.api,
        &target,
        &LogsQuery {
            follow: args.follow,
            lines: args.lines,
            since: args.since.as_deref(),
        },
        &mut 0,
    )?;
    ok()
}

/// Copies the output of `target` to standard output until the API ends the
/// stream (at once without `follow`; with it, when the container stops or
/// the API's stream cap is reached). The first `shown` bytes are skipped
/// (printed by an earlier stream of the same output), and `shown` counts on
/// as bytes are printed, also when the stream breaks. A closed standard
/// output (`| head`) ends the copy quietly.
pub fn copy(api: &Api, target: &Target, query: &LogsQuery<'_>, shown: &mut u64) -> CliResult<()> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if query.follow {
        pairs.push(("follow", "true".into()));
    }
    if let Some(lines) = query.lines {
        pairs.push(("lines", lines.to_string()));
    }
    if let Some(since) = query.since {
        pairs.push(("since", since.to_owned()));
    }
    let request = api
        .request(Method::GET, &format!("{}/logs", target.path()))
        .header(ACCEPT, "text/plain")
        .query(&pairs);
    let mut response = api.send(request)?;
    let mut stdout = std::io::stdout().lock();
    let mut buffer = [0u8; 8192];
    let mut seen = 0u64;
    loop {
        let read = response.read(&mut buffer).map_err(|error| {
            CliError::Unreachable(format!("the log stream broke: {}", chain(&error)))
        })?;
        if read == 0 {
            return Ok(());
        }
        let start = seen;
        seen += read as u64;
        if seen <= *shown {
            continue;
        }
        let fresh = &buffer[usize::try_from(shown.saturating_sub(start)).unwrap_or(0)..read];
        if stdout
            .write_all(fresh)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
        *shown = seen;
    }
}
