//! Services and jobs: `run`, `deploy`, `ps`, `stop|start|restart`, `rm`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::logs::{self, LogsQuery};
use super::{ok, wait};
use crate::Context;
use crate::args::{DeployArgs, LifecycleArgs, RmArgs, RunArgs};
use crate::error::{CliError, CliResult, code};
use crate::output::{self, Column, cell};
use crate::spec;
use crate::target::{Kind, Target};

/// How long a job that stopped logging has to show a final status before
/// its logs are followed again (the stream also ends at the API's cap).
const SETTLE_AFTER_LOGS: Duration = Duration::from_secs(15);

const PS_COLUMNS: &[Column] = &[
    ("KIND", "/deployment_type"),
    ("ID", "/id"),
    ("NAME", "/display_name"),
    ("STATUS", "/status"),
    ("EXIT", "/exit_code"),
    ("IMAGE", "/container_image"),
    ("CREATED", "/created_at"),
];

/// `contaxy run`: submits the job; unless `--detach`, follows its output
/// and exits with its exit code.
pub fn run_job(context: &Context, args: RunArgs) -> CliResult<i32> {
    let mut body = spec::body(&args.spec, "job")?;
    spec::set(&mut body, "deadline_seconds", args.deadline);
    spec::set(&mut body, "ttl_seconds_after_finished", args.ttl);
    let project = context.project()?.to_owned();
    let job = context.api.submit(
        &format!("{}/jobs", context.project_path()?),
        &Value::Object(body),
    )?;
    let target = Target {
        kind: Kind::Job,
        project,
        id: text(&job, "id")?,
    };
    let action_id = cell(job.get("action_id"));
    if args.detach {
        if context.json {
            output::json(&job);
        } else {
            println!("{}", target.id);
            eprintln!("action {action_id}");
        }
        return ok();
    }
    eprintln!("job {} (action {action_id})", target.id);
    wait_until_started(context, &target, &action_id)?;
    // A job that never had a container (refused by the worker, cancelled
    // first) answers its logs with a 404, taken as no output.
    let finished = follow_until_settled(context, &target)?;
    if context.json {
        output::json(&finished);
    }
    job_exit_code(&target, &finished)
}

/// Polls until the job has left `pending`, or its deploy action failed.
fn wait_until_started(context: &Context, target: &Target, action_id: &str) -> CliResult<()> {
    let action_path = wait::action_path(&target.project, action_id);
    let job = wait::poll(&format!("job {}", target.id), None, || {
        let job = context.api.get(&target.path())?;
        let status = cell(job.get("status"));
        if status != "pending" {
            return Ok(wait::Step::Done(job));
        }
        let action = context.api.get(&action_path)?;
        Ok(match action.get("status").and_then(Value::as_str) {
            Some("failed" | "cancelled") => wait::Step::Done(json!({"action": action})),
            _ => wait::Step::Pending(status),
        })
    })?;
    if let Some(action) = job.get("action") {
        return Err(CliError::Failed(format!(
            "the job's deploy action {action_id} ended {}: {}",
            cell(action.get("status")),
            cell(action.get("last_error"))
        )));
    }
    Ok(())
}

/// Follows the job's output until it has finished; returns the job then.
/// A stream that ended early (the API's cap, an outage) is followed again,
/// skipping what was printed, and once the job has finished whatever it
/// wrote meanwhile is fetched, so each byte is shown once.
fn follow_until_settled(context: &Context, target: &Target) -> CliResult<Value> {
    let mut shown = 0u64;
    let mut interrupted = false;
    let follow = LogsQuery {
        follow: true,
        ..LogsQuery::default()
    };
    loop {
        match logs::copy(&context.api, target, &follow, &mut shown) {
            // A job whose container is gone (removed by its TTL, or never
            // made) has nothing more to say.
            Ok(()) | Err(CliError::NotFound(_)) => {}
            // The API restarting, or no worker free to stream (503): the
            // job goes on; see how it stands, then follow again.
            Err(error) if wait::passing(&error) => {
                eprintln!("contaxy: the log stream ended ({error}); following again");
                interrupted = true;
            }
            Err(error) => return Err(error),
        }
        match wait::deployment(&context.api, target, Some(SETTLE_AFTER_LOGS)) {
            Ok(job) => {
                if interrupted {
                    let rest = logs::copy(&context.api, target, &LogsQuery::default(), &mut shown);
                    if let Err(error) = rest {
                        eprintln!("contaxy: the job's last output could not be read: {error}");
                    }
                }
                return Ok(job);
            }
            // Still running: the stream ended at the API's cap; follow on.
            Err(CliError::TimedOut(_)) => interrupted = true,
            Err(error) => return Err(error),
        }
    }
}

/// The job's exit code; a job that ended without one is a failure (5).
fn job_exit_code(target: &Target, job: &Value) -> CliResult<i32> {
    if let Some(exit) = job.get("exit_code").and_then(Value::as_i64) {
        return Ok(i32::try_from(exit).unwrap_or(code::FAILED));
    }
    match job.get("status").and_then(Value::as_str) {
        Some("succeeded") => Ok(code::OK),
        _ => Err(CliError::Failed(format!(
            "job {} is {}: {}",
            target.id,
            cell(job.get("status")),
            cell(job.get("status_detail"))
        ))),
    }
}

/// `contaxy deploy`: submits the service; prints its id and action (and,
/// with `--wait`, waits for the action).
pub fn deploy_service(context: &Context, args: DeployArgs) -> CliResult<i32> {
    let mut body = spec::body(&args.spec, "service")?;
    if !args.endpoints.is_empty() {
        body.insert("endpoints".into(), json!(args.endpoints));
    }
    if let Some(volume) = args.volume {
        spec::object_at(&mut body, "compute")?.insert("volume_path".into(), volume.into());
    }
    let service = context.api.submit(
        &format!("{}/services", context.project_path()?),
        &Value::Object(body),
    )?;
    let id = text(&service, "id")?;
    let action_id = text(&service, "action_id")?;
    if !args.wait {
        if context.json {
            output::json(&service);
        } else {
            println!("service {id}: action {action_id}");
        }
        return ok();
    }
    let action = wait::action(&context.api, context.project()?, &action_id, None)?;
    if context.json {
        output::json(&action);
    } else {
        println!(
            "service {id}: action {action_id} {}",
            cell(action.get("status"))
        );
    }
    action_outcome(&action, &action_id)
}

/// 0 for a succeeded action, else the failure with its error.
fn action_outcome(action: &Value, action_id: &str) -> CliResult<i32> {
    match action.get("status").and_then(Value::as_str) {
        Some("succeeded") => ok(),
        _ => Err(CliError::Failed(format!(
            "action {action_id} ended {}: {}",
            cell(action.get("status")),
            cell(action.get("last_error"))
        ))),
    }
}

/// `contaxy ps`: the project's services, then its jobs.
pub fn ps(context: &Context) -> CliResult<i32> {
    let project = context.project_path()?;
    let mut all = Vec::new();
    for kind in [Kind::Service, Kind::Job] {
        match context.api.get(&format!("{project}/{}", kind.plural()))? {
            Value::Array(items) => all.extend(items),
            other => all.push(other),
        }
    }
    output::list(&Value::Array(all), PS_COLUMNS, context.json);
    ok()
}

/// `contaxy stop|start|restart`: a service's action; `stop` of a job
/// cancels it.
pub fn lifecycle(context: &Context, args: &LifecycleArgs, verb: &str) -> CliResult<i32> {
    let target = context.target(&args.target.target)?;
    let path = match (target.kind, verb) {
        (Kind::Service, _) => format!("{}/actions/{verb}", target.path()),
        (Kind::Job, "stop") => format!("{}:cancel", target.path()),
        (Kind::Job, _) => {
            return Err(CliError::usage(format!(
                "a job cannot {verb}: run a new one with `contaxy run`"
            )));
        }
    };
    let answer = context.api.json(Method::POST, &path, None)?;
    finish_action(context, &target, verb, &answer, args.wait)
}

/// `contaxy rm`: removes a service or job (its volume with `--volumes`).
pub fn remove(context: &Context, args: &RmArgs) -> CliResult<i32> {
    let target = context.target(&args.target.target)?;
    let request = context
        .api
        .request(Method::DELETE, &target.path())
        .query(&[("delete_volumes", args.volumes)]);
    let answer = crate::client::read_json(context.api.send(request)?)?;
    finish_action(context, &target, "rm", &answer, args.wait)
}

/// Prints the action a change was given; with `wait`, waits until it ended
/// and prints how.
fn finish_action(
    context: &Context,
    target: &Target,
    verb: &str,
    answer: &Value,
    wait: bool,
) -> CliResult<i32> {
    let action_id = text(answer, "action_id")?;
    if !wait {
        if context.json {
            output::json(answer);
        } else {
            println!(
                "{verb} {} {}: action {action_id}",
                target.kind.singular(),
                target.id
            );
        }
        return ok();
    }
    let action = wait::action(&context.api, &target.project, &action_id, None)?;
    if context.json {
        output::json(&action);
    } else {
        println!(
            "{verb} {} {}: action {action_id} {}",
            target.kind.singular(),
            target.id,
            cell(action.get("status"))
        );
    }
    action_outcome(&action, &action_id)
}

/// A string field of an answer the CLI needs.
fn text(value: &Value, field: &str) -> CliResult<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| CliError::Server {
            status: 200,
            message: format!("the answer has no {field}: {value}"),
        })
}
