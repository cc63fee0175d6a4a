//! `contaxy schedules ls|create|rm|pause|resume|trigger`: cron schedules
//! that launch jobs (docs/schedules.md).

use reqwest::Method;
use serde_json::Value;

use super::ok;
use crate::Context;
use crate::args::SchedulesCommand;
use crate::client::segment;
use crate::error::CliResult;
use crate::output::{self, Column};
use crate::spec;

const COLUMNS: &[Column] = &[
    ("ID", "/id"),
    ("NAME", "/display_name"),
    ("CRON", "/cron"),
    ("ZONE", "/time_zone"),
    ("SUSPENDED", "/suspended"),
    ("NEXT", "/next_slot"),
    ("LAST", "/last_slot"),
];

pub fn run(context: &Context, command: SchedulesCommand) -> CliResult<i32> {
    let schedules = format!("{}/schedules", context.project_path()?);
    let one = |id: &str| format!("{schedules}/{}", segment(id));
    let api = &context.api;
    match command {
        SchedulesCommand::Ls => output::list(&api.get(&schedules)?, COLUMNS, context.json),
        SchedulesCommand::Create(args) => {
            let args = *args;
            let template = spec::body(&args.spec, "job")?;
            let mut body = serde_json::Map::new();
            body.insert("cron".into(), args.cron.into());
            spec::set(&mut body, "time_zone", args.time_zone);
            spec::set(&mut body, "concurrency_policy", args.concurrency);
            body.insert("job_template".into(), Value::Object(template));
            let schedule = api.json(Method::POST, &schedules, Some(&Value::Object(body)))?;
            output::list(&schedule, COLUMNS, context.json);
        }
        SchedulesCommand::Rm { id } => {
            api.json(Method::DELETE, &one(&id), None)?;
            if !context.json {
                println!("deleted schedule {id}");
            }
        }
        SchedulesCommand::Pause { id } => {
            let schedule = api.json(Method::POST, &format!("{}:suspend", one(&id)), None)?;
            output::list(&schedule, COLUMNS, context.json);
        }
        SchedulesCommand::Resume { id } => {
            let schedule = api.json(Method::POST, &format!("{}:resume", one(&id)), None)?;
            output::list(&schedule, COLUMNS, context.json);
        }
        SchedulesCommand::Trigger { id } => {
            let run = api.json(Method::POST, &format!("{}:trigger", one(&id)), None)?;
            output::list(
                &run,
                &[
                    ("OUTCOME", "/outcome"),
                    ("JOB", "/job_id"),
                    ("ACTION", "/action_id"),
                ],
                context.json,
            );
        }
    }
    ok()
}
