//! The command line, as clap reads it. Every flag's help is its reference;
//! docs/cli.md shows them in use.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// The contaxy command-line client: run jobs and services, follow their
/// logs, manage files, schedules and dead letters over the REST API.
#[derive(Debug, Parser)]
#[command(name = "contaxy", version, propagate_version = true)]
pub struct Cli {
    /// The config file (default: <config dir>/contaxy/config.json).
    #[arg(long, global = true, help_heading = GLOBAL, env = "CONTAXY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The API's URL, over the config file's.
    #[arg(long, global = true, help_heading = GLOBAL, env = "CONTAXY_URL")]
    pub url: Option<String>,
    /// The API token, over the config file's.
    #[arg(long, global = true, help_heading = GLOBAL, env = "CONTAXY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The project, over the config file's.
    #[arg(short, long, global = true, help_heading = GLOBAL, env = "CONTAXY_PROJECT")]
    pub project: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a URL and token against the API and store them (mode 600).
    Login,
    /// Projects the token may read; create and delete them.
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// Run a job; follow its logs and exit with its exit code.
    Run(RunArgs),
    /// Deploy a service.
    Deploy(DeployArgs),
    /// The project's services and jobs with their status.
    Ps,
    /// A service's or job's output.
    Logs(LogsArgs),
    /// The project's status changes as they happen, until interrupted.
    Events {
        /// Begin after this event id (default: from now).
        #[arg(long, value_name = "ID")]
        after: Option<i64>,
    },
    /// Stop a service, or cancel a job.
    Stop(LifecycleArgs),
    /// Start a stopped service.
    Start(LifecycleArgs),
    /// Restart a service.
    Restart(LifecycleArgs),
    /// Remove a service or job.
    Rm(RmArgs),
    /// Wait until an action or a deployment settles.
    Wait(WaitArgs),
    /// The project's files.
    #[command(subcommand)]
    Files(FilesCommand),
    /// Cron schedules that launch jobs.
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Actions: what the workers did with a request.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// The dead-letter queue (system administrators).
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// The projects the token may read.
    #[command(alias = "ls")]
    List,
    /// Create a project.
    Create {
        /// Its id: 4–25 lower-case letters, digits and single hyphens.
        id: String,
        /// Its display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// A description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a project and everything in it.
    #[command(alias = "rm")]
    Delete {
        /// The project's id.
        id: String,
    },
}

/// A deployment from flags, a file, or a file with flags over it.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// A JSON or YAML file with the body the API takes (JobInput or
    /// ServiceInput); `-` reads standard input. Flags given override its
    /// fields.
    #[arg(short, long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The container image.
    #[arg(long)]
    pub image: Option<String>,
    /// The display name (4–128 characters; default: from the image).
    #[arg(long)]
    pub name: Option<String>,
    /// Overrides the image's ENTRYPOINT (repeat for more words).
    #[arg(long, value_name = "WORD")]
    pub entrypoint: Vec<String>,
    /// An environment variable for the container (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A description.
    #[arg(long)]
    pub description: Option<String>,
    /// Memory limit in MB.
    #[arg(long, value_name = "MB")]
    pub memory: Option<u64>,
    /// CPU limit in cores.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// The command and its arguments (the image's CMD), after the flags.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Print the job's id and action id and return at once.
    #[arg(short, long)]
    pub detach: bool,
    /// Stop the job after it ran this long (seconds).
    #[arg(long, value_name = "SECONDS")]
    pub deadline: Option<u64>,
    /// Remove the finished job after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// A port it serves, optionally with a path (repeatable).
    #[arg(long = "endpoint", value_name = "PORT[/PATH]")]
    pub endpoints: Vec<String>,
    /// Where its persistent volume is mounted.
    #[arg(long, value_name = "PATH")]
    pub volume: Option<String>,
    /// Wait until the deploy action settles.
    #[arg(short, long)]
    pub wait: bool,
}

/// A service or job: `service/ID`, `job/ID`, or an id the API made (its
/// kind and project are read from it).
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// `service/ID`, `job/ID` or `ID`.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct LifecycleArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Wait until the action has ended (exit code 5 if it failed).
    #[arg(short, long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Wait until the removal has ended (exit code 5 if it failed).
    #[arg(short, long)]
    pub wait: bool,
    /// Remove its volume too.
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep streaming new output.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<u32>,
    /// Only output since this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// An action id, or a deployment (`service/ID`, `job/ID`, `ID`).
    pub what: String,
    /// Give up after this many seconds (exit code 6).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// List files.
    Ls {
        /// Only keys starting with this.
        prefix: Option<String>,
    },
    /// Upload a local file.
    Put {
        /// The local file.
        local: PathBuf,
        /// The key (default: the file's name).
        key: Option<String>,
    },
    /// Download a file.
    Get {
        /// The key.
        key: String,
        /// Where to write it (default: the key's last part; `-` for
        /// standard output).
        local: Option<PathBuf>,
    },
    /// Delete a file (every version).
    Rm {
        /// The key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// The project's schedules.
    #[command(alias = "list")]
    Ls,
    /// Create a schedule that runs a job on a cron expression.
    Create(Box<ScheduleCreateArgs>),
    /// Delete a schedule (the jobs it made stay).
    #[command(alias = "delete")]
    Rm {
        /// The schedule's id.
        id: String,
    },
    /// Suspend a schedule.
    #[command(alias = "suspend")]
    Pause {
        /// The schedule's id.
        id: String,
    },
    /// Resume a suspended schedule from the next slot.
    Resume {
        /// The schedule's id.
        id: String,
    },
    /// Run the schedule's job now.
    Trigger {
        /// The schedule's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct ScheduleCreateArgs {
    /// The cron expression (5 fields, or 6/7 with seconds and years).
    #[arg(long)]
    pub cron: String,
    /// The IANA time zone of the expression.
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// `allow`, `forbid` or `replace`.
    #[arg(long, value_name = "POLICY")]
    pub concurrency: Option<String>,
    /// The job to run, as `run` takes it.
    #[command(flatten)]
    pub spec: SpecArgs,
}

#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// One action: its kind, status, attempts, error.
    Get {
        /// The action's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// What the dead-letter queue holds (it stays there).
    Ls {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Send a failed action through the pipeline again.
    Replay {
        /// The action's id.
        action_id: String,
    },
}
