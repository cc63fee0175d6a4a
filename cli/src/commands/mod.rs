//! One module per group of commands; [`dispatch`] sends each to its own.

pub mod admin;
pub mod deployments;
pub mod events;
pub mod files;
pub mod login;
pub mod logs;
pub mod projects;
pub mod schedules;
pub mod wait;

use crate::Context;
use crate::args::Command;
use crate::error::{CliResult, code};

/// Runs `command` (any but `login`).
pub fn dispatch(context: &Context, command: Command) -> CliResult<i32> {
    match command {
        Command::Login => unreachable_login(),
        Command::Projects(command) => projects::run(context, command),
        Command::Run(args) => deployments::run_job(context, args),
        Command::Deploy(args) => deployments::deploy_service(context, args),
        Command::Ps => deployments::ps(context),
        Command::Events { after } => events::run(context, after),
        Command::Logs(args) => logs::run(context, &args),
        Command::Stop(args) => deployments::lifecycle(context, &args, "stop"),
        Command::Start(args) => deployments::lifecycle(context, &args, "start"),
        Command::Restart(args) => deployments::lifecycle(context, &args, "restart"),
        Command::Rm(args) => deployments::remove(context, &args),
        Command::Wait(args) => wait::run(context, &args),
        Command::Files(command) => files::run(context, command),
        Command::Schedules(command) => schedules::run(context, command),
        Command::Actions(command) => admin::actions(context, command),
        Command::DeadLetters(command) => admin::dead_letters(context, command),
    }
}

/// `login` is run before a context exists ([`crate::run`]); reaching it
/// here would be a bug, answered as a usage error rather than a panic.
fn unreachable_login() -> CliResult<i32> {
    Err(crate::error::CliError::usage("login takes no context"))
}

/// A command that printed what it had to.
pub(crate) fn ok() -> CliResult<i32> {
    Ok(code::OK)
}
