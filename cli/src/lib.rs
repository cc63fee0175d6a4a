//! The `contaxy` command-line client (docs/cli.md): a thin layer over the
//! REST API (docs/api.md).
//!
//! - [`args`]: the command line (clap).
//! - [`config`]: the stored login, mode 600.
//! - [`client`]: the HTTP client, and where an answer becomes an error.
//! - [`error`]: failures and their exit codes.
//! - [`output`]: tables, or JSON with `--json`.
//! - [`spec`]: a deploy's body from a file and flags.
//! - [`target`]: `service/ID`, `job/ID` or an id the API made.
//! - [`commands`]: one module per group of commands.

pub mod args;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod output;
pub mod spec;
pub mod target;

use args::{Cli, Command};
use client::Api;
use error::{CliError, CliResult};

/// What every command but `login` works with: the API as the user's
/// token, the project asked for, and whether to print JSON.
#[derive(Debug)]
pub struct Context {
    pub api: Api,
    pub project: Option<String>,
    pub json: bool,
}

impl Context {
    /// The project asked for (flag, `CONTAXY_PROJECT` or the config file).
    pub fn project(&self) -> CliResult<&str> {
        self.project.as_deref().ok_or_else(|| {
            CliError::usage(
                "no project: pass --project, set CONTAXY_PROJECT or `contaxy login --project`",
            )
        })
    }

    /// `/projects/{project}`.
    pub fn project_path(&self) -> CliResult<String> {
        Ok(format!("/projects/{}", client::segment(self.project()?)))
    }

    /// A service or job named on the command line.
    pub fn target(&self, text: &str) -> CliResult<target::Target> {
        target::parse(text, self.project.as_deref())
    }
}

/// Runs the command `cli` names; the exit code on success.
pub fn run(cli: Cli) -> CliResult<i32> {
    let config_path = config::path(cli.config.as_deref())?;
    if let Command::Login = cli.command {
        return commands::login::run(&config_path, cli.url, cli.token, cli.project);
    }
    let stored = config::load(&config_path)?;
    let url = cli.url.or(stored.url).ok_or_else(not_logged_in)?;
    let token = cli.token.or(stored.token).ok_or_else(not_logged_in)?;
    let context = Context {
        api: Api::new(&url, &token)?,
        project: cli.project.or(stored.project),
        json: cli.json,
    };
    commands::dispatch(&context, cli.command)
}

fn not_logged_in() -> CliError {
    CliError::usage(
        "not logged in: run `contaxy login --url URL --token TOKEN` (or set CONTAXY_URL and CONTAXY_TOKEN)",
    )
}
