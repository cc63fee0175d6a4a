//! `contaxy login`: checks the URL and token against the API
//! (`POST /auth/tokens/verify` with no body verifies the caller's own
//! token) and stores them only when the API accepts them.

use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::client::Api;
use crate::config::{self, Config};
use crate::error::{CliError, CliResult, code};

/// Logs in with what the flags or environment give, over what is stored.
pub fn run(
    path: &Path,
    url: Option<String>,
    token: Option<String>,
    project: Option<String>,
) -> CliResult<i32> {
    let stored = config::load(path)?;
    let url = url
        .or(stored.url)
        .ok_or_else(|| CliError::usage("login needs --url (or CONTAXY_URL)"))?;
    let token = token
        .or(stored.token)
        .ok_or_else(|| CliError::usage("login needs --token (or CONTAXY_TOKEN)"))?;
    let api = Api::new(&url, &token)?;
    let verified = api
        .json(Method::POST, "/auth/tokens/verify", None)
        .map_err(|error| match error {
            CliError::Refused {
                status: 401,
                message,
            } => CliError::Refused {
                status: 401,
                message: format!("the API does not accept this token: {message}"),
            },
            other => other,
        })?;
    if let Some(project) = &project {
        // A project that does not exist (or this token cannot see) is
        // better learnt now than at the first command.
        api.get(&format!("/projects/{}", crate::client::segment(project)))?;
    }
    config::save(
        path,
        &Config {
            url: Some(url.clone()),
            token: Some(token),
            project: project.or(stored.project),
        },
    )?;
    let subject = verified
        .get("authorized_subject")
        .and_then(Value::as_str)
        .unwrap_or("?");
    println!(
        "Logged in to {url} as {subject}; saved to {}",
        path.display()
    );
    Ok(code::OK)
}
