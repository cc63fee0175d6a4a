//! `contaxy wait`, and the waiting `run` and `deploy --wait` do: polling
//! the action or deployment every half second until it settles, with a
//! spinner when standard error is a terminal and a plain line per change
//! otherwise (scripts and CI logs get no control characters).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::Context;
use crate::args::WaitArgs;
use crate::client::{Api, segment};
use crate::error::{CliError, CliResult, code};
use crate::output;
use crate::target::{Kind, Target};

const POLL: Duration = Duration::from_millis(500);

/// Where a polled thing stands.
#[derive(Debug)]
pub enum Step {
    /// Not settled yet; the text says how it stands.
    Pending(String),
    /// Settled, as it is now.
    Done(Value),
}

/// Shows how a wait goes: a spinner on a terminal, else a line per change.
struct Progress {
    what: String,
    spinner: Option<ProgressBar>,
    last: String,
}

impl Progress {
    /// The last status shown, without any retry note.
    fn last_state(&self) -> &str {
        self.last.split(" (retrying: ").next().unwrap_or(&self.last)
    }

    fn new(what: &str) -> Self {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let spinner = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                spinner.set_style(style);
            }
            spinner.enable_steady_tick(Duration::from_millis(100));
            spinner
        });
        Self {
            what: what.to_owned(),
            spinner,
            last: String::new(),
        }
    }

    fn show(&mut self, state: &str) {
        if state == self.last {
            return;
        }
        state.clone_into(&mut self.last);
        match &self.spinner {
            Some(spinner) => spinner.set_message(format!("{}: {state}", self.what)),
            None => eprintln!("{}: {state}", self.what),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

/// Calls `step` every half second until it is done or `timeout` passed.
/// An outage (a 5xx, 429, no answer) does not end a wait: the job goes on
/// without us, so polling goes on too, for up to [`OUTAGE`] in a row.
pub fn poll(
    what: &str,
    timeout: Option<Duration>,
    mut step: impl FnMut() -> CliResult<Step>,
) -> CliResult<Value> {
    let started = Instant::now();
    let mut progress = Progress::new(what);
    let mut failing_since: Option<Instant> = None;
    loop {
        match step() {
            Ok(Step::Done(value)) => return Ok(value),
            Ok(Step::Pending(state)) => {
                failing_since = None;
                progress.show(&state);
            }
            Err(error) if passing(&error) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= OUTAGE {
                    return Err(error);
                }
                progress.show(&format!("{} (retrying: {error})", progress.last_state()));
            }
            Err(error) => return Err(error),
        }
        if timeout.is_some_and(|timeout| started.elapsed() >= timeout) {
            return Err(CliError::TimedOut(format!(
                "{what} is still {} after {}s",
                progress.last_state(),
                started.elapsed().as_secs()
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// How long a wait rides out an outage before it gives up (exit code 3).
const OUTAGE: Duration = Duration::from_secs(60);

/// Whether `error` may pass by itself ([`crate::client::is_outage`]).
pub fn passing(error: &CliError) -> bool {
    crate::client::is_outage(error)
}

/// An action's path in its project.
pub fn action_path(project: &str, action_id: &str) -> String {
    format!(
        "/projects/{}/actions/{}",
        segment(project),
        segment(action_id)
    )
}

/// Waits until the action has ended; returns it (succeeded, failed or
/// cancelled).
pub fn action(
    api: &Api,
    project: &str,
    action_id: &str,
    timeout: Option<Duration>,
) -> CliResult<Value> {
    let path = action_path(project, action_id);
    poll(&format!("action {action_id}"), timeout, || {
        let action = api.get(&path)?;
        let status = output::cell(action.get("status"));
        Ok(match status.as_str() {
            "succeeded" | "failed" | "cancelled" => Step::Done(action),
            _ => Step::Pending(status),
        })
    })
}

/// Whether a deployment has settled: a job once it will not change on its
/// own (`is_stopped`), a service once it runs or has stopped or failed.
pub fn settled(kind: Kind, deployment: &Value) -> bool {
    let status = deployment.get("status").and_then(Value::as_str);
    let stopped = deployment.get("is_stopped").and_then(Value::as_bool) == Some(true);
    match kind {
        Kind::Job => stopped || matches!(status, Some("succeeded" | "failed" | "cancelled")),
        Kind::Service => stopped || matches!(status, Some("running" | "stopped" | "failed")),
    }
}

/// Waits until the deployment is settled ([`settled`]); returns it.
pub fn deployment(api: &Api, target: &Target, timeout: Option<Duration>) -> CliResult<Value> {
    let path = target.path();
    poll(
        &format!("{} {}", target.kind.singular(), target.id),
        timeout,
        || {
            let deployment = api.get(&path)?;
            Ok(if settled(target.kind, &deployment) {
                Step::Done(deployment)
            } else {
                Step::Pending(output::cell(deployment.get("status")))
            })
        },
    )
}

/// `contaxy wait ACTION_ID | DEPLOYMENT`: 0 when it ended well, 5 when it
/// failed or was cancelled, 6 past `--timeout`.
pub fn run(context: &Context, args: &WaitArgs) -> CliResult<i32> {
    let timeout = Some(Duration::from_secs(args.timeout));
    if uuid::Uuid::parse_str(&args.what).is_ok() {
        let action = action(&context.api, context.project()?, &args.what, timeout)?;
        report(context, &action, "action", &args.what)?;
        return match action.get("status").and_then(Value::as_str) {
            Some("succeeded") => Ok(code::OK),
            _ => Err(CliError::Failed(format!(
                "action {} ended {}: {}",
                args.what,
                output::cell(action.get("status")),
                output::cell(action.get("last_error"))
            ))),
        };
    }
    let target = context.target(&args.what)?;
    let deployment = deployment(&context.api, &target, timeout)?;
    report(context, &deployment, target.kind.singular(), &target.id)?;
    match deployment.get("status").and_then(Value::as_str) {
        Some("failed" | "cancelled") => Err(CliError::Failed(format!(
            "{} {} is {}: {}",
            target.kind.singular(),
            target.id,
            output::cell(deployment.get("status")),
            output::cell(deployment.get("status_detail"))
        ))),
        _ => Ok(code::OK),
    }
}

fn report(context: &Context, value: &Value, kind: &str, id: &str) -> CliResult<()> {
    if context.json {
        output::json(value);
    } else {
        println!("{kind} {id}: {}", output::cell(value.get("status")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outages_are_ridden_out_and_refusals_are_not() {
        let mut calls = 0;
        let value = poll("x", None, || {
            calls += 1;
            match calls {
                1 => Err(CliError::Unreachable("refused".into())),
                2 => Err(CliError::Server {
                    status: 503,
                    message: "database".into(),
                }),
                3 => Ok(Step::Pending("running".into())),
                _ => Ok(Step::Done(json!("done"))),
            }
        })
        .expect("it ends");
        assert_eq!((value, calls), (json!("done"), 4));
        let refused = poll("x", None, || {
            Err(CliError::Refused {
                status: 403,
                message: "no".into(),
            })
        });
        assert_eq!(refused.expect_err("refused").exit_code(), 2);
    }

    #[test]
    fn a_job_settles_when_it_finished_a_service_when_it_runs_or_stopped() {
        let cases = [
            (Kind::Job, json!({"status": "pending"}), false),
            (Kind::Job, json!({"status": "running"}), false),
            (Kind::Job, json!({"status": "succeeded"}), true),
            (Kind::Job, json!({"status": "failed"}), true),
            (Kind::Job, json!({"status": "cancelled"}), true),
            (
                Kind::Job,
                json!({"status": "unknown", "is_stopped": true}),
                true,
            ),
            (Kind::Service, json!({"status": "pending"}), false),
            (Kind::Service, json!({"status": "terminating"}), false),
            (Kind::Service, json!({"status": "running"}), true),
            (Kind::Service, json!({"status": "stopped"}), true),
            (Kind::Service, json!({"status": "failed"}), true),
        ];
        for (kind, deployment, expected) in cases {
            assert_eq!(
                settled(kind, &deployment),
                expected,
                "{kind:?} {deployment}"
            );
        }
    }
}
