//! `contaxy actions get` and `contaxy dead-letters ls|replay`.

use reqwest::Method;

use super::{ok, wait};
use crate::Context;
use crate::args::{ActionsCommand, DeadLettersCommand};
use crate::client::segment;
use crate::error::CliResult;
use crate::output::{self, Column};

const DEAD_LETTER_COLUMNS: &[Column] = &[
    ("ACTION", "/action_id"),
    ("PROJECT", "/project_id"),
    ("KIND", "/kind"),
    ("CLASS", "/class"),
    ("ATTEMPT", "/attempt"),
    ("DEAD AT", "/dead_at"),
    ("REASON", "/reason"),
];

pub fn actions(context: &Context, command: ActionsCommand) -> CliResult<i32> {
    match command {
        ActionsCommand::Get { id } => {
            let action = context
                .api
                .get(&wait::action_path(context.project()?, &id))?;
            output::object(&action, context.json);
        }
    }
    ok()
}

pub fn dead_letters(context: &Context, command: DeadLettersCommand) -> CliResult<i32> {
    let api = &context.api;
    match command {
        DeadLettersCommand::Ls { limit } => {
            let request = api
                .request(Method::GET, "/admin/dead-letters")
                .query(&[("limit", limit)]);
            let letters = crate::client::read_json(api.send(request)?)?;
            output::list(&letters, DEAD_LETTER_COLUMNS, context.json);
        }
        DeadLettersCommand::Replay { action_id } => {
            let answer = api.json(
                Method::POST,
                &format!("/admin/dead-letters/{}:replay", segment(&action_id)),
                None,
            )?;
            if context.json {
                output::json(&answer);
            } else {
                println!(
                    "replaying action {action_id} in project {}",
                    output::cell(answer.get("project_id"))
                );
            }
        }
    }
    ok()
}
