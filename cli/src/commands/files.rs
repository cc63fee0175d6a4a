//! `contaxy files ls|put|get|rm`: the project's files (docs/files.md).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use reqwest::Method;
use reqwest::blocking::multipart::{Form, Part};

use super::ok;
use crate::Context;
use crate::args::FilesCommand;
use crate::client::{chain, key_path};
use crate::error::{CliError, CliResult};
use crate::output::{self, Column};

const COLUMNS: &[Column] = &[
    ("KEY", "/key"),
    ("SIZE", "/file_size"),
    ("TYPE", "/content_type"),
    ("MODIFIED", "/updated_at"),
    ("VERSION", "/version"),
];

pub fn run(context: &Context, command: FilesCommand) -> CliResult<i32> {
    let files = format!("{}/files", context.project_path()?);
    let api = &context.api;
    match command {
        FilesCommand::Ls { prefix } => {
            let mut query = vec![("recursive", "true".to_owned())];
            if let Some(prefix) = prefix {
                query.push(("prefix", prefix));
            }
            let request = api.request(Method::GET, &files).query(&query);
            let listing = crate::client::read_json(api.send(request)?)?;
            output::list(&listing, COLUMNS, context.json);
        }
        FilesCommand::Put { local, key } => {
            let key = match key {
                Some(key) => key,
                None => file_name(&local)?,
            };
            let opened = File::open(&local).map_err(|error| {
                CliError::usage(format!("cannot read {}: {error}", local.display()))
            })?;
            let length = opened.metadata().map(|meta| meta.len()).unwrap_or(0);
            // Streamed from the file, not read into memory first.
            let part = Part::reader_with_length(opened, length).file_name(file_name(&local)?);
            let request = api
                .request(Method::POST, &format!("{files}/{}", key_path(&key)))
                .multipart(Form::new().part("file", part));
            let file = crate::client::read_json(api.send(request)?)?;
            output::list(&file, COLUMNS, context.json);
        }
        FilesCommand::Get { key, local } => {
            let request = api.request(Method::GET, &format!("{files}/{}:download", key_path(&key)));
            let mut response = api.send(request)?;
            let local = match local {
                Some(local) => local,
                None => PathBuf::from(key.rsplit('/').next().unwrap_or(&key)),
            };
            let written = if local == Path::new("-") {
                copy(
                    &mut response,
                    &mut std::io::stdout().lock(),
                    "standard output",
                )?
            } else {
                let mut out = File::create(&local).map_err(|error| {
                    CliError::usage(format!("cannot write {}: {error}", local.display()))
                })?;
                copy(&mut response, &mut out, &local.display().to_string())?
            };
            if local != Path::new("-") {
                eprintln!("{key}: {written} bytes to {}", local.display());
            }
        }
        FilesCommand::Rm { key } => {
            api.json(Method::DELETE, &format!("{files}/{}", key_path(&key)), None)?;
            if !context.json {
                println!("deleted {key}");
            }
        }
    }
    ok()
}

fn file_name(path: &Path) -> CliResult<String> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| CliError::usage(format!("{} names no file", path.display())))
}

/// Copies a download to `out`; the bytes written.
fn copy(from: &mut impl Read, out: &mut impl Write, name: &str) -> CliResult<u64> {
    let mut buffer = [0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let read = from.read(&mut buffer).map_err(|error| {
            CliError::Unreachable(format!("the download broke: {}", chain(&error)))
        })?;
        if read == 0 {
            out.flush()
                .map_err(|error| CliError::usage(format!("cannot write {name}: {error}")))?;
            return Ok(total);
        }
        out.write_all(&buffer[..read])
            .map_err(|error| CliError::usage(format!("cannot write {name}: {error}")))?;
        total += read as u64;
    }
}
