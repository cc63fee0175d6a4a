//! `contaxy projects list|create|delete`.

use reqwest::Method;
use serde_json::{Map, Value};

use super::ok;
use crate::Context;
use crate::args::ProjectsCommand;
use crate::client::segment;
use crate::error::CliResult;
use crate::output::{self, Column};

const COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("NAME", "/display_name"),
    ("CREATED", "/created_at"),
    ("DELETING SINCE", "/deleting_since"),
];

pub fn run(context: &Context, command: ProjectsCommand) -> CliResult<i32> {
    let api = &context.api;
    match command {
        ProjectsCommand::List => {
            output::list(&api.get("/projects")?, COLUMNS, context.json);
        }
        ProjectsCommand::Create {
            id,
            name,
            description,
        } => {
            let mut body = Map::new();
            body.insert(
                "display_name".into(),
                name.unwrap_or_else(|| id.clone()).into(),
            );
            body.insert("id".into(), id.into());
            crate::spec::set(&mut body, "description", description);
            let project = api.json(Method::POST, "/projects", Some(&Value::Object(body)))?;
            output::list(&project, COLUMNS, context.json);
        }
        ProjectsCommand::Delete { id } => {
            let answer = api.json(Method::DELETE, &format!("/projects/{}", segment(&id)), None)?;
            if context.json {
                output::json(&answer);
            } else {
                println!(
                    "Deleting project {id}: action {}",
                    output::cell(answer.get("action_id"))
                );
            }
        }
    }
    ok()
}
